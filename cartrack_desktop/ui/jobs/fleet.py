"""The fleet registry in the window: FleetState (which the search box reads), the replay list, the Fleet panel."""

from __future__ import annotations

from PySide6.QtCore import QObject

from ...domain.models import Car
from .context import DeskContext
from .ticker import Ticker


class FleetLink(QObject):
    def __init__(self, ctx: DeskContext, ticker: Ticker) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._ticker = ticker
        fleet, rt = ctx.fleet, ctx.runtime
        ctx.window.fleet.set_fix_of(lambda u: fleet.state_of(u.car_id))
        rt.fleet.changed.subscribe(self._on_registry)
        rt.fleet.removed.subscribe(self._on_unit_removed)
        ticker.ticked.connect(self._refresh_panel)

    def _on_registry(self, cars: list[Car]) -> None:
        ctx = self._ctx
        ctx.fleet.set_registry(cars)
        ctx.window.replay.set_units(sorted({c.call_sign for c in cars}))
        if ctx.runtime.dispatch is not None:
            for a in ctx.runtime.dispatch.statuses.values():
                ctx.fleet.set_status(a.car_id, a.status)

    def _on_unit_removed(self, car_id: str) -> None:
        if self._ctx.session.tracked == car_id:
            self._ctx.session.stop_tracking()
        self._ctx.fleet.forget(car_id)

    def _refresh_panel(self) -> None:
        fleet = self._ctx.fleet
        self._ctx.window.fleet.refresh(fleet.units, fleet.units_version, self._ticker.counts)
