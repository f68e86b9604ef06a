"""The map's frame pump: what changed in FleetState goes to the page as one batch per frame."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ...view.fleet_view import MapWire
from .context import DeskContext

FRAME_MIN_INTERVAL_MS = 50      # at most 20 map updates per second, each carrying all changes
HUGE_FLEET = 5000               # above this many units, at most 10 map updates per second:
HUGE_FLEET_INTERVAL_MS = 100    # fewer, bigger batches: each costs the page ~10 ms at 10,000 units (map_apply_ms_10k)


class FramePump(QObject):
    firstUnitsDrawn = Signal()
    framePushed = Signal(object)         # the Frame just sent (its positions: who moved)

    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._wire = MapWire()   # the map page's batch encoding (unit ids travel once per page)
        self.units_drawn = False
        self.last_seq = 0          # the last batch sent to the page (it reports the last it applied)
        self._last_flush = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)
        ctx.fleet.changed.subscribe(lambda _: self._schedule())

    def _schedule(self) -> None:
        if self._timer.isActive():
            return
        since = (time.monotonic() - self._last_flush) * 1000
        interval = HUGE_FLEET_INTERVAL_MS if len(self._ctx.fleet.units) > HUGE_FLEET else FRAME_MIN_INTERVAL_MS
        self._timer.start(int(max(0.0, interval - since)))

    def flush(self) -> None:
        """Push everything that changed since the last frame, as one message."""
        channel, fleet = self._ctx.channel, self._ctx.fleet
        if not channel.is_ready:
            return  # state stays coalesced in FleetState; pushed in full once the page is ready
        self._last_flush = time.monotonic()
        if fleet.meta_dirty:
            channel.send_meta(fleet.meta())
        frame = fleet.take_frame()
        if frame is not None:
            channel.send_batch(self._wire.payload(frame, flushed_at=time.time()))
            self.last_seq = frame.seq
            self.framePushed.emit(frame)

    def push_all(self) -> None:
        """A (re)loaded page: every unit again, with a new code table."""
        self._ctx.fleet.request_full()
        self._ctx.fleet.meta_dirty = True
        self.flush()

    def on_batches_applied(self, reports: list[dict[str, Any]]) -> None:
        if not self.units_drawn and any(isinstance(r.get("units"), int) and r["units"] > 0 for r in reports):
            self.units_drawn = True
            self.firstUnitsDrawn.emit()

    def stop(self) -> None:
        self._timer.stop()
