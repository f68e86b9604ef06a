"""The one way the window talks to the map page: a typed method per message.

Each method builds the message's JSON from typed values and emits the matching MapBridge
signal (the bridge's signal names are the contract with the page script). Until the page says
it is ready nothing is sent: the jobs keep their state and send it again on `pageReady`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from .bridge import MapBridge, to_json
from .map_view import MapView


@dataclass(frozen=True, slots=True)
class PinMarker:
    lat: float
    lng: float
    radius_km: float
    label: str          # "" when an incident's own marker already labels the point


@dataclass(frozen=True, slots=True)
class IncidentMarker:
    incident_id: str
    lat: float
    lng: float
    priority: int
    label: str
    active: bool


@dataclass(frozen=True, slots=True)
class AlarmMarker:
    car_id: str
    lat: float | None   # the alarm's position, used while the unit has none on the map
    lng: float | None
    label: str


@dataclass(frozen=True, slots=True)
class ReplayTrack:
    points: Sequence[tuple[float, float]]
    label: str
    fit: bool = True    # zoom the map to the whole track


@dataclass(frozen=True, slots=True)
class RouteLine:
    car_id: str
    points: Sequence[tuple[float, float]]
    status: str         # the unit's status name: the line takes its colour


class PageChannel(QObject):
    pageReady = Signal()      # a (re)loaded page is wired: send everything again

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view: MapView | None = None

    def attach(self, view: MapView) -> None:
        self._view = view
        view.ready.connect(lambda _info: self.pageReady.emit())

    @property
    def view(self) -> MapView | None:
        return self._view

    @property
    def is_ready(self) -> bool:
        return self._view is not None and self._view.is_ready

    def _bridge(self) -> MapBridge | None:
        return self._view.bridge if self._view is not None and self._view.is_ready else None

    # ---- the fleet ------------------------------------------------------------------------------
    def send_batch(self, payload: dict[str, Any]) -> None:
        """One frame in MapWire's columns (services/fleet_view.py)."""
        if (b := self._bridge()) is not None:
            b.fleetBatch.emit(to_json(payload))

    def send_meta(self, meta: dict[str, dict[str, str]]) -> None:
        """Call signs and statuses by unit id."""
        if (b := self._bridge()) is not None:
            b.unitMeta.emit(to_json(meta))

    def set_filter(self, hidden: Sequence[str], always: Sequence[str]) -> None:
        """What the map shows: statuses hidden by the dispatcher's filter (names) and units always shown
        (never filtered, never aggregated into a cluster)."""
        if (b := self._bridge()) is not None:
            b.filterChanged.emit(to_json({"hidden": list(hidden), "always": list(always)}))

    def live_state(self, live: bool, reason: str) -> None:
        if (b := self._bridge()) is not None:
            b.liveChanged.emit(to_json({"live": live, "reason": reason}))

    # ---- overlays ---------------------------------------------------------------------------------
    def set_pin(self, pin: PinMarker | None) -> None:
        if (b := self._bridge()) is not None:
            b.pinChanged.emit(to_json(None if pin is None else {
                "lat": pin.lat, "lng": pin.lng, "radius_km": pin.radius_km, "label": pin.label}))

    def track(self, car_id: str | None, *, follow: bool = True) -> None:
        """Track a unit (following it re-centres the map on it), or None to stop."""
        if (b := self._bridge()) is not None:
            b.trackChanged.emit(to_json(None if car_id is None else {"id": car_id, "follow": follow}))

    def highlight(self, car_id: str) -> None:
        """Ring one unit; "" for none."""
        if (b := self._bridge()) is not None:
            b.highlightChanged.emit(car_id)

    def incidents(self, markers: Sequence[IncidentMarker]) -> None:
        if (b := self._bridge()) is not None:
            b.incidentsChanged.emit(to_json([
                {"id": m.incident_id, "lat": m.lat, "lng": m.lng, "priority": m.priority, "label": m.label,
                 "active": m.active} for m in markers]))

    def alarms(self, markers: Sequence[AlarmMarker]) -> None:
        """Units in alarm, ringed in red until acknowledged."""
        if (b := self._bridge()) is not None:
            b.alarmsChanged.emit(to_json([{"id": m.car_id, "lat": m.lat, "lng": m.lng, "label": m.label}
                                          for m in markers]))

    def replay(self, track: ReplayTrack | None) -> None:
        if (b := self._bridge()) is not None:
            b.replayChanged.emit(to_json(None if track is None else {
                "points": [[lat, lng] for lat, lng in track.points], "label": track.label, "fit": track.fit}))

    def routes(self, lines: Sequence[RouteLine]) -> None:
        """Every dispatched unit's route to its scene (an empty list clears them)."""
        if (b := self._bridge()) is not None:
            b.routesChanged.emit(to_json([
                {"id": r.car_id, "points": [[round(lat, 6), round(lng, 6)] for lat, lng in r.points],
                 "status": r.status} for r in lines]))

    def replay_cursor(self, lat: float, lng: float, heading: float) -> None:
        if (b := self._bridge()) is not None:
            b.replayMoved.emit(to_json({"lat": lat, "lng": lng, "heading": heading}))

    def basemap(self, message: dict[str, Any]) -> None:
        """The street map to draw ({"map": Basemap.page_message() or None, "choice": layer name or None})."""
        if (b := self._bridge()) is not None:
            b.basemapChanged.emit(to_json(message))

    # ---- the view -----------------------------------------------------------------------------------
    def centre(self, lat: float, lng: float, zoom: int | None = None) -> None:
        if (b := self._bridge()) is not None:
            payload: dict[str, Any] = {"lat": lat, "lng": lng}
            if zoom is not None:
                payload["zoom"] = zoom
            b.centerRequested.emit(to_json(payload))
