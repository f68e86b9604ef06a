"""History replay: a unit's synced track loaded from MongoDB, drawn on the map with a moving marker."""

from __future__ import annotations

from pymongo.errors import PyMongoError
from PySide6.QtCore import QObject, Signal

from ...services.infra.timeouts import within
from ..page_channel import ReplayTrack
from .context import DeskContext

REPLAY_MAX_POINTS = 5000
HISTORY_TIMEOUT_S = 10.0


class ReplayJob(QObject):
    replayLoaded = Signal(int)           # points loaded

    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        w = ctx.window
        w.unit.replayRequested.connect(self.replay_unit)
        w.replay.loadRequested.connect(lambda unit, a, b: ctx.spawn(self._load(unit, a, b), "replay"))
        w.replay.cursorMoved.connect(lambda lat, lng, heading, _t, _speed: ctx.channel.replay_cursor(lat, lng, heading))
        w.replay.cleared.connect(lambda: ctx.channel.replay(None))

    def replay_unit(self, car_id: str) -> None:
        """The Replay tab for this unit over the default window, loaded at once."""
        ctx = self._ctx
        w = ctx.window
        w.docks["replay"].raise_()
        w.docks["replay"].show()
        w.replay.reset_window()
        w.replay.unit.setCurrentText(ctx.call_sign(car_id))
        since = float(w.replay.since.dateTime().toSecsSinceEpoch())
        until = float(w.replay.until.dateTime().toSecsSinceEpoch())
        ctx.spawn(self._load(car_id, since, until), "replay")

    async def _load(self, unit: str, since: float, until: float) -> None:
        ctx = self._ctx
        panel = ctx.window.replay
        found = ctx.fleet.find_by_call_sign(unit)
        if found is None:
            panel.info.setText(f"No unit matches {unit[:40]!r}")
            return
        history = ctx.runtime.history
        assert history is not None
        if until <= since:
            panel.info.setText("The window's end must be after its start")
            return
        try:
            points = await within(history.track(found.car_id, since, until), HISTORY_TIMEOUT_S)
        except (PyMongoError, OSError, TimeoutError) as exc:
            panel.info.setText(f"History unavailable (MongoDB: {str(exc)[:80]})")
            return
        points = points[-REPLAY_MAX_POINTS:]
        ctx.channel.replay(ReplayTrack([(p.lat, p.lng) for p in points], found.call_sign) if points else None)
        panel.set_track(found.call_sign, points)
        self.replayLoaded.emit(len(points))
