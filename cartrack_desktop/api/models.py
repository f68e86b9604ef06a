"""Every request and response of the API as a pydantic model: checked on the way in and on the way out.

Shapes follow the seed (`REALTIME_TRACKING_SEED.md`): a position is `car_id, lat, lng, speed,
heading, timestamp` (mph, degrees, epoch seconds), nearby answers `{"cars": [{..., "distance_km"}]}`.
Requests are strict: unknown fields, strings for numbers, NaN and infinities are refused (422).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..domain.dispatch import INCIDENT_TYPES, NOTES_MAX, TYPE_MAX, Incident, UnitAssignment
from ..domain.messages import MAX_SPEED_MPH
from ..domain.models import CAR_ID_PATTERN, Car, Position, UnitStatus

CarId = Annotated[str, Field(pattern=rf"^{CAR_ID_PATTERN}$", examples=["PC-001"])]
IncidentId = Annotated[str, Field(pattern=r"^INC-[0-9]{6}-[0-9A-Z]{4}$", examples=["INC-261128-7KQ2"])]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False, examples=[33.749])]
Lng = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False, examples=[-84.388])]
Speed = Annotated[float, Field(ge=0.0, le=MAX_SPEED_MPH, allow_inf_nan=False, description="mph")]
Heading = Annotated[float, Field(ge=0.0, lt=360.0, allow_inf_nan=False, description="degrees clockwise from north")]
Epoch = Annotated[float, Field(gt=0.0, allow_inf_nan=False, description="epoch seconds, UTC")]
Text = Annotated[str, Field(max_length=200)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# ---- live positions -------------------------------------------------------------------------------
class PositionOut(_Out):
    """The seed's position JSON (also every message of WS /ws/track/{car_id})."""

    car_id: CarId
    lat: Lat
    lng: Lng
    speed: Speed
    heading: Heading
    timestamp: Epoch

    @classmethod
    def of(cls, p: Position) -> PositionOut:
        return cls(car_id=p.car_id, lat=p.lat, lng=p.lng, speed=p.speed, heading=p.heading, timestamp=p.timestamp)


class RealtimeList(_Out):
    count: int
    cars: list[PositionOut]


class NearbyRequest(_In):
    lat: Lat
    lng: Lng
    radius_km: Annotated[float, Field(gt=0.0, le=200.0, allow_inf_nan=False, examples=[3.0])]


class NearbyCarOut(PositionOut):
    distance_km: Annotated[float, Field(ge=0.0, allow_inf_nan=False, description="straight line (great circle)")]


class NearbyResponse(_Out):
    """Nearest first."""

    cars: list[NearbyCarOut]


# ---- the fleet registry -------------------------------------------------------------------------
class CarOut(_Out):
    """A registered unit, its live dispatch status, and its last position synced to MongoDB (null if none)."""

    car_id: CarId
    call_sign: Text
    status: UnitStatus
    incident_id: IncidentId | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    speed: Speed | None = None
    heading: Heading | None = None
    timestamp: Epoch | None = None

    @classmethod
    def of(cls, car: Car, assignment: UnitAssignment | None) -> CarOut:
        status = assignment.status if assignment is not None else car.status
        incident = assignment.incident_id if assignment is not None else car.incident_id
        loc = car.location
        return cls(car_id=car.car_id, call_sign=car.call_sign, status=status, incident_id=incident,
                   lat=loc.lat if loc else None, lng=loc.lng if loc else None, speed=loc.speed if loc else None,
                   heading=loc.heading if loc else None, timestamp=loc.timestamp if loc else None)


class CarList(_Out):
    count: int
    cars: list[CarOut]


class NewCar(_In):
    car_id: CarId
    call_sign: Annotated[str, Field(min_length=1, max_length=32, examples=["Adam-12"])]
    simulated: bool = Field(True, description="moved by the simulator (false: a real device reports it)")


class ActionOut(_Out):
    ok: bool
    message: Text
    car_id: CarId | None = None


class UnitStatusRequest(_In):
    """`available` clears an assigned unit (or brings one back into service); `out_of_service` parks it."""

    status: Literal["available", "out_of_service"]
    note: Annotated[str, Field(max_length=200)] = ""


# ---- incidents and dispatch ------------------------------------------------------------------
class TimelineOut(_Out):
    id: Annotated[str, Field(max_length=64)]
    at: Epoch
    kind: str
    by: Annotated[str, Field(max_length=64)]
    car_id: CarId | None = None
    note: Annotated[str, Field(max_length=NOTES_MAX)] = ""


class IncidentOut(_Out):
    id: IncidentId
    type: Annotated[str, Field(max_length=TYPE_MAX)]
    priority: Annotated[int, Field(ge=1, le=4)]
    notes: Annotated[str, Field(max_length=NOTES_MAX)]
    lat: Lat
    lng: Lng
    status: Literal["open", "closed"]
    created_at: Epoch
    created_by: Annotated[str, Field(max_length=64)]
    closed_at: Epoch | None = None
    units: list[CarId]
    timeline: list[TimelineOut]

    @classmethod
    def of(cls, inc: Incident) -> IncidentOut:
        return cls(id=inc.incident_id, type=inc.kind, priority=inc.priority, notes=inc.notes, lat=inc.lat,
                   lng=inc.lng, status="closed" if inc.status == "closed" else "open", created_at=inc.created_at,
                   created_by=inc.created_by, closed_at=inc.closed_at, units=list(inc.units),
                   timeline=[TimelineOut(id=e.event_id, at=e.at, kind=e.kind, by=e.by, car_id=e.car_id, note=e.note)
                             for e in inc.timeline])


class IncidentList(_Out):
    count: int
    incidents: list[IncidentOut]


IncidentType = Annotated[str, Field(min_length=1, max_length=TYPE_MAX, examples=list(INCIDENT_TYPES[:3]))]
Priority = Annotated[int, Field(ge=1, le=4, description="1 emergency ... 4 routine")]
Notes = Annotated[str, Field(max_length=NOTES_MAX)]


class NewIncident(_In):
    lat: Lat
    lng: Lng
    type: IncidentType
    priority: Priority = 2
    notes: Notes = ""


class DispatchRequest(_In):
    """Dispatch one unit: to an open incident (`incident_id`), or to a new one made from `lat`, `lng`, `type`."""

    car_id: CarId
    incident_id: IncidentId | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    type: IncidentType | None = None
    priority: Priority = 2
    notes: Notes = ""

    @model_validator(mode="after")
    def _incident_or_location(self) -> DispatchRequest:
        if self.incident_id is None and (self.lat is None or self.lng is None or self.type is None):
            raise ValueError("give incident_id, or lat, lng and type to create the incident")
        if self.incident_id is not None and (self.lat is not None or self.lng is not None or self.type is not None):
            raise ValueError("give either incident_id or lat, lng and type, not both")
        return self


class DispatchOut(_Out):
    ok: Literal[True]
    message: Text
    car_id: CarId
    incident: IncidentOut


class Holder(_Out):
    incident_id: IncidentId | None
    status: UnitStatus
    by: Annotated[str, Field(max_length=64)]


class ConflictOut(_Out):
    """409: the unit was not dispatched; `held_by` says who has it when another incident does."""

    detail: Text
    car_id: CarId
    incident_id: IncidentId | None = None
    held_by: Holder | None = None


class ErrorOut(_Out):
    detail: Annotated[str, Field(max_length=2000)]
    errors: list[dict[str, Any]] | None = None


# ---- statistics ------------------------------------------------------------------------------------
class SimulatorStatsOut(_Out):
    running_here: bool
    units: int
    ticks: int
    last_tick_ms: float
    write_failures: int
    skipped_ticks: int


class SyncStatsOut(_Out):
    cycles: int
    cars_synced: int
    last_cars: int
    last_duration_s: float
    failures: int
    capture_failures: int
    last_success_at: float | None
    last_cycle_id: int | None
    last_taken_at: float | None
    last_error: Annotated[str, Field(max_length=400)]
    pending: int
    dropped: int
    duplicates_skipped: int


class LiveStatsOut(_Out):
    live_units: int | None
    redis_ok: bool
    mongo_ok: bool


class IngestStatsOut(_Out):
    """The device ingest of this instance ("off" when it runs none): what the status bar and Stats tab show."""

    state: Annotated[str, Field(max_length=32)]
    detail: Annotated[str, Field(max_length=400)] = ""
    listening: list[Annotated[str, Field(max_length=80)]] = []
    workers: int = 0
    positions_per_s: float = 0.0
    late_per_s: float = 0.0
    totals: dict[str, int] = {}
    rejections: dict[str, int] = {}
    connections: int = 0
    devices: int = 0


class ApiStatsOut(_Out):
    auth: Literal["unknown", "open", "tokens"]
    tokens: int
    ws_track_clients: int
    ws_fleet_clients: int
    ws_dropped_slow: int
    refused: int
    rate_limited: int


class StatsOut(_Out):
    simulator: SimulatorStatsOut | None
    sync: SyncStatsOut | None
    live: LiveStatsOut
    ingest: IngestStatsOut
    rejections: dict[str, dict[str, int]]
    api: ApiStatsOut


class UnknownDeviceOut(_Out):
    device_id: Annotated[str, Field(max_length=128)]
    protocol: Annotated[str, Field(max_length=32)] = ""
    lat: Lat | None = None
    lng: Lng | None = None
    fix_at: float | None = None
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None


class UnknownDevicesOut(_Out):
    devices: list[UnknownDeviceOut]


# ---- /ws/fleet frames --------------------------------------------------------------------------
FleetRow = tuple[CarId, Lat, Lng, Speed, Heading, Epoch]


class FleetFrame(_Out):
    """A frame of WS /ws/fleet: `snapshot` (every live unit, first), `batch` (what changed), `status`."""

    v: Literal[1] = 1
    type: Literal["snapshot", "batch"]
    cars: list[FleetRow]


class StatusFrame(_Out):
    v: Literal[1] = 1
    type: Literal["status"] = "status"
    car_id: CarId
    status: UnitStatus
    incident_id: IncidentId | None
    by: Annotated[str, Field(max_length=64)]
