"""A unit on scene is announced: notice, banner, and the system tray where there is one."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ...domain.dispatch import UnitAssignment
from ..tray import Tray
from .context import DeskContext
from .dispatch_link import DispatchLink


class Arrivals(QObject):
    arrived = Signal(str, str)       # car id, incident id

    def __init__(self, ctx: DeskContext, dispatch: DispatchLink, tray: Tray | None = None) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._tray = tray or Tray(self)
        dispatch.arrived.connect(self._announce)

    def _announce(self, a: UnitAssignment) -> None:
        ctx = self._ctx
        text = f"{ctx.call_sign(a.car_id)} is on scene at {a.incident_id}"
        ctx.notices.say(text, "info")
        ctx.window.banner.show_notice(text, "info")
        self.arrived.emit(a.car_id, a.incident_id or "")
        self._tray.notify("Unit on scene", text)
