"""Computer-aided dispatch rules: unit status transitions, arrival, ETA, incident input.

Pure: the caller supplies positions and times. The same rules serve simulated units and real
devices, since statuses advance from reported positions, not from the simulator.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from .geo import MPH_TO_KMH, haversine_km
from .models import Position, UnitStatus

ARRIVAL_RADIUS_M = 50.0
EN_ROUTE_MIN_MPH = 5.0          # a dispatched unit moving at least this fast is en route
ROAD_FACTOR = 1.3               # roads are longer than the straight line (urban average)
ETA_MIN_ASSUMED_MPH = 25.0      # a stopped unit will not stay stopped: assume city speed
PRIORITIES = (1, 2, 3, 4)       # 1 = emergency ... 4 = routine
NOTES_MAX = 2000
TYPE_MAX = 60
ADDRESS_MAX = 200               # "near 1180 Peachtree St NE" from the street map's reverse geocoding
INCIDENT_ID_RE = re.compile(r"INC-[0-9]{6}-[0-9A-Z]{4}\Z")

INCIDENT_TYPES = (
    "Traffic collision", "Burglary", "Robbery", "Assault", "Domestic disturbance", "Suspicious person",
    "Theft", "Shots fired", "Medical assist", "Alarm", "Welfare check", "Other",
)

S = UnitStatus
TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    S.AVAILABLE: frozenset({S.DISPATCHED, S.OUT_OF_SERVICE}),
    S.DISPATCHED: frozenset({S.EN_ROUTE, S.ON_SCENE, S.AVAILABLE}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.AVAILABLE}),
    S.ON_SCENE: frozenset({S.AVAILABLE}),
    S.OUT_OF_SERVICE: frozenset({S.AVAILABLE}),
}
ASSIGNED = frozenset({S.DISPATCHED, S.EN_ROUTE, S.ON_SCENE})
# Who made a change no person made: en route on movement, on scene on arrival, a status restored
# from the record. Never a dispatcher's name (config refuses it as one); the instance that
# observed the change is recorded beside it.
SYSTEM_ACTOR = "system"


class TransitionError(ValueError):
    """A status change the rules do not allow; str() is for the dispatcher."""


def can_transition(current: UnitStatus, new: UnitStatus) -> bool:
    return new in TRANSITIONS[current]


def check_transition(call_sign: str, current: UnitStatus, new: UnitStatus) -> None:
    if can_transition(current, new):
        return
    if new is S.DISPATCHED and current is S.OUT_OF_SERVICE:
        raise TransitionError(f"{call_sign} is out of service and cannot be dispatched")
    if new is S.DISPATCHED and current in ASSIGNED:
        raise TransitionError(f"{call_sign} is already assigned ({current.label})")
    raise TransitionError(f"{call_sign} cannot go from {current.label} to {new.label}")


def next_status_from_fix(status: UnitStatus, fix: Position, scene: tuple[float, float]) -> UnitStatus | None:
    """The status a fix implies for an assigned unit: on scene within 50 m, en route once moving."""
    if status not in (S.DISPATCHED, S.EN_ROUTE):
        return None
    if haversine_km(fix.lat, fix.lng, *scene) * 1000.0 <= ARRIVAL_RADIUS_M:
        return S.ON_SCENE
    if status is S.DISPATCHED and fix.speed >= EN_ROUTE_MIN_MPH:
        return S.EN_ROUTE
    return None


def eta_estimate_s(distance_km: float, speed_mph: float) -> float:
    """A rough ETA: straight line x road factor at the current speed (or city speed if slower)."""
    mph = max(speed_mph, ETA_MIN_ASSUMED_MPH)
    return distance_km * ROAD_FACTOR / (mph * MPH_TO_KMH) * 3600.0


def new_incident_id(now: float, token: str | None = None) -> str:
    """INC-YYMMDD-XXXX: readable over the radio, unique without a central counter."""
    day = datetime.fromtimestamp(now, tz=UTC).strftime("%y%m%d")
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = token or "".join(secrets.choice(alphabet) for _ in range(4))
    return f"INC-{day}-{tail}"


def clean_address(address: object) -> str:
    """The incident's address text: one line, printable, at most ADDRESS_MAX characters ("" if unusable)."""
    if not isinstance(address, str):
        return ""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in address).split())
    return text[:ADDRESS_MAX]


def clean_incident_input(kind: object, priority: object, notes: object) -> tuple[str, int, str]:
    """Validated (type, priority, notes); ValueError with a message for the dispatcher."""
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError("Choose an incident type")
    kind = kind.strip()
    if len(kind) > TYPE_MAX or any(ord(c) < 32 for c in kind):
        raise ValueError(f"Incident type must be at most {TYPE_MAX} printable characters")
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise ValueError("Priority must be 1 (emergency) to 4 (routine)")
    if not isinstance(notes, str):
        raise ValueError("Notes must be text")
    notes = notes.strip()
    if len(notes) > NOTES_MAX:
        raise ValueError(f"Notes must be at most {NOTES_MAX} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in notes):
        raise ValueError("Notes contain control characters")
    return kind, priority, notes


class TimelineKind:
    CREATED = "created"
    ASSIGNED = "unit assigned"
    EN_ROUTE = "en route"
    ON_SCENE = "on scene"
    CLEARED = "cleared"
    CLOSED = "closed"

    ALL = (CREATED, ASSIGNED, EN_ROUTE, ON_SCENE, CLEARED, CLOSED)


STATUS_TIMELINE = {
    S.DISPATCHED: TimelineKind.ASSIGNED,
    S.EN_ROUTE: TimelineKind.EN_ROUTE,
    S.ON_SCENE: TimelineKind.ON_SCENE,
    S.AVAILABLE: TimelineKind.CLEARED,
}


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    event_id: str
    at: float
    kind: str
    by: str
    car_id: str | None = None
    note: str = ""
    instance: str = ""      # for the system's own entries: the instance that observed the change


@dataclass(frozen=True, slots=True)
class Incident:
    incident_id: str
    kind: str
    priority: int
    notes: str
    lat: float
    lng: float
    created_at: float
    created_by: str
    status: str = "open"                       # open | closed
    closed_at: float | None = None
    units: tuple[str, ...] = ()                # every unit ever assigned
    timeline: tuple[TimelineEvent, ...] = field(default_factory=tuple)
    address: str = ""                          # nearest address/intersection when created ("" without a map)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class UnitAssignment:
    """The live status record of a unit (Redis hash cartrack:status)."""

    car_id: str
    status: UnitStatus
    incident_id: str | None = None
    scene: tuple[float, float] | None = None
    since: float = 0.0
    by: str = ""            # the dispatcher who assigned the unit (kept through en route / on scene)


def merge_incidents(a: Incident, b: Incident) -> Incident:
    """Two views of one incident (two dispatchers acted at once): union of timeline and units."""
    events = {e.event_id: e for e in (*a.timeline, *b.timeline)}
    timeline = tuple(sorted(events.values(), key=lambda e: (e.at, e.event_id)))
    units = tuple(dict.fromkeys((*a.units, *b.units)))
    closed = a.status == "closed" or b.status == "closed"
    closed_at = max((t for t in (a.closed_at, b.closed_at) if t is not None), default=None)
    return replace(b, timeline=timeline, units=units, status="closed" if closed else "open",
                   closed_at=closed_at if closed else None)
