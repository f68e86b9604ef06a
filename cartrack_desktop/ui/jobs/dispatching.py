"""Dispatching units to the active incident (creating it first when there is none at the pin)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from redis.exceptions import RedisError

from ...services.dispatch.result import ActionResult
from .context import DeskContext
from .incidents import IncidentsJob
from .nearby import NearbyJob


class DispatchJob(QObject):
    dispatched = Signal(list)        # list[ActionResult]

    def __init__(self, ctx: DeskContext, incidents: IncidentsJob, nearby: NearbyJob) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._incidents = incidents
        self._nearby = nearby
        ctx.window.nearby.dispatchRequested.connect(self.dispatch_selected)
        QShortcut(QKeySequence("Ctrl+D"), ctx.window).activated.connect(self.dispatch_shortcut)

    def dispatch_shortcut(self) -> None:
        """Ctrl+D: the selected units, or with nothing selected the recommended one (nearest available by road)."""
        nearby = self._ctx.window.nearby
        rec = nearby.recommended
        self.dispatch_selected(nearby.selected_ids() or ([rec] if rec else []))

    def dispatch_selected(self, car_ids: list[str]) -> None:
        ctx = self._ctx
        if not car_ids:
            ctx.notices.say("Select one or more units in Nearby units to dispatch.", "warning")
            return
        incident = ctx.session.active_incident
        if incident is None:
            units = list(car_ids)
            self._incidents.open_dialog(then_dispatch=lambda iid: self._dispatch(iid, units))
            return
        ctx.spawn(self._dispatch(incident, car_ids), "dispatch")

    async def _dispatch(self, incident_id: str, car_ids: list[str]) -> None:
        ctx = self._ctx
        d = ctx.runtime.dispatch
        assert d is not None
        try:
            results = await d.dispatch(incident_id, car_ids)
        except (RedisError, OSError) as exc:
            results = [ActionResult(False, f"Not dispatched: Redis is not reachable ({exc})")]
        ok = [r.message for r in results if r.ok]
        bad = [r.message for r in results if not r.ok]
        if ok:
            ctx.notices.say("; ".join(ok))
        if bad:
            ctx.notices.say("; ".join(bad), "warning")
        self.dispatched.emit(results)
        self._nearby.refresh()
