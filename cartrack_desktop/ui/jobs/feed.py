"""The live feed: its thread's results drained into FleetState; its state shown on the map and in notices."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QObject, Signal

from ...services.infra.errors import Level
from ...services.live.live_feed import FeedInbox, FeedState, FeedStats, ThreadedFeed
from .context import DeskContext
from .frames import FramePump


class FeedLink(QObject):
    stateChanged = Signal()

    def __init__(self, ctx: DeskContext, frames: FramePump) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._frames = frames
        self._feed: ThreadedFeed | None = None
        self.state = FeedState.CONNECTING
        self.detail = ""

    @property
    def stats(self) -> FeedStats | None:
        return self._feed.stats if self._feed is not None else None

    def start(self) -> None:
        """Subscribe to live positions on the feed thread; its results come back via the inbox."""
        rt, errors = self._ctx.runtime, self._ctx.errors
        loop = asyncio.get_running_loop()
        inbox = FeedInbox(lambda: loop.call_soon_threadsafe(self._drain))
        self._feed = ThreadedFeed(
            rt.redis_url, inbox, rejections=rt.redis_rejections,
            on_crash=lambda exc: loop.call_soon_threadsafe(
                errors.report, "live feed", f"restarting after {type(exc).__name__}: {exc}", Level.ERROR),
        )
        self._feed.start()

    def _drain(self) -> None:
        if self._feed is None:
            return
        snapshot, positions, sent, states = self._feed.inbox.take()
        for state, detail in states:
            self._on_state(state, detail)
        fleet = self._ctx.fleet
        if snapshot is not None:
            fleet.apply_snapshot(snapshot)
        if positions:
            fleet.apply(positions, sent)

    def _on_state(self, state: FeedState, detail: str) -> None:
        window = self._ctx.window
        was_live = self.state is FeedState.LIVE
        self.state, self.detail = state, detail
        self.send_live_state()
        if was_live and state is FeedState.DISCONNECTED:
            window.show_notice(f"Live data paused: Redis is not reachable ({detail[:80]}); showing the last "
                               "known positions", "warning")
        elif state is FeedState.LIVE and not was_live and self._frames.units_drawn:
            window.show_notice("Live data resumed", "info")
            window.banner.hide()
        self.stateChanged.emit()

    def send_live_state(self) -> None:
        live = self.state is not FeedState.DISCONNECTED
        reason = "" if live else f"Live data paused — Redis unreachable ({self.detail[:80]})"
        self._ctx.channel.live_state(live, reason)

    async def stop(self) -> None:
        if self._feed is not None:
            feed, self._feed = self._feed, None
            await asyncio.get_running_loop().run_in_executor(None, feed.stop)
