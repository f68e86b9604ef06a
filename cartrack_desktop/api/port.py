"""The API's way into the runtime: its services, on the runtime's own loop.

The API serves from a thread and loop of its own (host.py); the runtime's services (dispatch
state, outbox, fleet, statistics) belong to the runtime's loop, which in the window is the Qt
thread. Every write and every read of their in-memory state is run there, as a dispatcher's
click is, and its result handed back. Writes are shielded: a client that hangs up does not cut a
dispatch in half.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..domain.messages import IncidentEvent, StatusEvent
from ..services.infra.errors import Level
from ..services.infra.timeouts import within
from ..services.runtime import Runtime

log = logging.getLogger(__name__)

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0


class RuntimeUnavailable(RuntimeError):
    """The runtime did not answer in time (or is stopping)."""


class RuntimePort:
    def __init__(self, runtime: Runtime, loop: asyncio.AbstractEventLoop) -> None:
        self.runtime = runtime
        self._loop = loop

    async def call(self, fn: Callable[[Runtime], Awaitable[T]], timeout_s: float = CALL_TIMEOUT_S) -> T:
        """Run fn(runtime) on the runtime's loop and return its result."""
        async def run() -> T:
            return await fn(self.runtime)

        try:
            fut = asyncio.run_coroutine_threadsafe(run(), self._loop)
        except RuntimeError as exc:   # the runtime's loop is closed
            raise RuntimeUnavailable("the service is stopping") from exc
        try:
            return await within(asyncio.shield(asyncio.wrap_future(fut)), timeout_s)
        except TimeoutError:
            raise RuntimeUnavailable(f"the service did not answer within {timeout_s:g} s") from None

    async def read(self, fn: Callable[[Runtime], T]) -> T:
        """fn(runtime) on the runtime's loop, for its in-memory state (never read across threads)."""
        async def value(rt: Runtime) -> T:
            return fn(rt)

        return await self.call(value)

    def report(self, source: str, message: str, level: Level = Level.WARNING) -> None:
        """A problem for the runtime's error bus (the window's banner), from any thread."""
        try:
            self._loop.call_soon_threadsafe(self.runtime.errors.report, source, message, level)
        except RuntimeError:
            log.warning("%s: %s", source, message)

    async def follow_changes(self, listener: Callable[[StatusEvent | IncidentEvent], object],
                             loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Dispatch changes (status, incident) delivered to `listener` on `loop`; returns the unsubscribe."""
        def forward(event: StatusEvent | IncidentEvent) -> None:
            try:
                loop.call_soon_threadsafe(listener, event)
            except RuntimeError:   # the API's loop has closed
                pass

        def subscribe(rt: Runtime) -> Callable[[], None]:
            assert rt.dispatch is not None
            return rt.dispatch.changes.subscribe(forward)

        unsubscribe = await self.read(subscribe)

        def undo() -> None:
            try:
                self._loop.call_soon_threadsafe(unsubscribe)
            except RuntimeError:
                pass

        return undo
