"""Dispatch events from the runtime (any dispatcher's): statuses into FleetState, then signals for the views."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ...domain.messages import IncidentEvent, StatusEvent
from ...domain.models import UnitStatus
from .context import DeskContext


class DispatchLink(QObject):
    arrived = Signal(object)             # UnitAssignment: a unit came on scene
    statusChanged = Signal(object)       # UnitAssignment (already in FleetState)
    incidentChanged = Signal(object)     # Incident
    changed = Signal()                   # any dispatch event (after the two above)

    def __init__(self, ctx: DeskContext) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._statuses: dict[str, UnitStatus] = {}

    def attach(self) -> None:
        """Follow the dispatch service (running once the runtime has started)."""
        d = self._ctx.runtime.dispatch
        assert d is not None
        d.changes.subscribe(self._on_dispatch)
        for a in d.statuses.values():
            self._on_dispatch(StatusEvent(a))

    def _on_dispatch(self, change: StatusEvent | IncidentEvent) -> None:
        if isinstance(change, StatusEvent):
            value = change.assignment
            old = self._statuses.get(value.car_id)
            self._statuses[value.car_id] = value.status
            self._ctx.fleet.set_status(value.car_id, value.status)
            if value.status is UnitStatus.ON_SCENE and old is not UnitStatus.ON_SCENE and old is not None:
                self.arrived.emit(value)
            self.statusChanged.emit(value)
        elif isinstance(change, IncidentEvent):
            self.incidentChanged.emit(change.incident)
        self.changed.emit()
