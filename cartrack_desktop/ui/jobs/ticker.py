"""The window's one-second clock: units expire, the update rate and the counts are taken, panels refresh."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal

from ...view.fleet_view import FleetCounts
from .context import DeskContext

UI_TICK_MS = 1000


class Ticker(QObject):
    ticked = Signal()            # counts and rate are current: refresh what shows them

    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._fleet = ctx.fleet
        self.counts = FleetCounts(0, 0, 0, 0)
        self.updates_per_s = 0.0
        self._last_updates = 0
        self._last_rate_t = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(UI_TICK_MS)
        self._timer.timeout.connect(self.tick)
        self._timer.start()

    def tick(self) -> None:
        """The clock's second: the update rate over it, then refresh()."""
        fleet = self._fleet
        now = time.monotonic()
        dt = now - self._last_rate_t
        if dt > 0:
            self.updates_per_s = (fleet.updates_total - self._last_updates) / dt
        self._last_updates, self._last_rate_t = fleet.updates_total, now
        self.refresh()

    def refresh(self) -> None:
        """Units expired and counts taken as of now, and what shows them refreshed, between the clock's
        seconds (a screenshot). The update rate keeps its one-second window: measured over the few ms
        since the last tick it read 0 in every --screenshot while the fleet moved."""
        self._fleet.expire()
        self.counts = self._fleet.counts()
        self.ticked.emit()

    def stop(self) -> None:
        self._timer.stop()
