"""What every job of the window shares: the window, the Qt-free core, the session, the page channel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from redis.exceptions import RedisError

from ...services.dispatch.result import ActionResult
from ...services.infra.errors import ErrorBus
from ...services.runtime import Runtime
from ...view.fleet_view import FleetState
from ...view.map_filter import MapFilter
from ...view.session import Session
from ..main_window import MainWindow
from ..page_channel import PageChannel


class Notices(QObject):
    """Messages about the dispatcher's own actions: shown in the window, and signalled (tests wait on it)."""

    notice = Signal(str)             # every message shown to the dispatcher about an action

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def say(self, text: str, level: str = "info") -> None:
        self._window.show_notice(text, level)
        self.notice.emit(text)


@dataclass(frozen=True, eq=False)
class DeskContext:
    window: MainWindow
    runtime: Runtime
    errors: ErrorBus
    fleet: FleetState
    session: Session
    channel: PageChannel
    notices: Notices
    map_filter: MapFilter     # what the map, Nearby units and Fleet show (status filter, always-shown units)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A fire-and-forget task whose failure is reported, never silently lost."""
        return self.runtime.supervisor.spawn(coro, name)

    def call_sign(self, car_id: str) -> str:
        u = self.fleet.units.get(car_id)
        return u.call_sign if u else car_id


async def guarded(action: Awaitable[ActionResult]) -> ActionResult:
    """A dispatch action's result, or why nothing changed when Redis could not be reached."""
    try:
        return await action
    except (RedisError, OSError) as exc:
        return ActionResult(False, f"Nothing changed: Redis is not reachable ({exc})")
