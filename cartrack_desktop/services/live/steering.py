"""Simulated units obey their dispatch status: drive to the scene, hold there, patrol, park."""

from __future__ import annotations

from collections.abc import Iterable

from ...domain.dispatch import UnitAssignment
from ...domain.messages import IncidentEvent, StatusEvent
from ...domain.models import UnitStatus
from ...domain.patrol import Mode
from .simulator import Simulator


class Steering:
    def __init__(self, simulator: Simulator) -> None:
        self._sim = simulator

    def on_change(self, change: StatusEvent | IncidentEvent) -> None:
        """A dispatch change (DispatchService.changes): units follow their status changes."""
        if isinstance(change, StatusEvent):
            self.follow(change.assignment)

    def follow(self, a: UnitAssignment) -> None:
        """Steer one unit by its (new) status; units the simulator does not drive are left alone."""
        sim = self._sim
        unit = sim.units.get(a.car_id)
        if unit is None:
            return
        if a.status in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE) and a.scene is not None:
            if unit.mode not in (Mode.RESPONDING, Mode.HOLDING) or (unit.target_lat, unit.target_lng) != a.scene:
                sim.dispatch(a.car_id, *a.scene)
        elif a.status is UnitStatus.AVAILABLE and unit.mode is not Mode.PATROL:
            sim.resume_patrol(a.car_id)
        elif a.status is UnitStatus.OUT_OF_SERVICE and unit.mode is not Mode.PARKED:
            sim.set_out_of_service(a.car_id, True)

    async def lead(self, current: Iterable[UnitAssignment]) -> None:
        """While this instance runs the simulation: units first pick up their current orders, then tick."""
        for a in list(current):
            self.follow(a)
        await self._sim.run()
