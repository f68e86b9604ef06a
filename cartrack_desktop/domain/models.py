"""Value objects shared by every layer."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

CAR_ID_PATTERN = r"[A-Za-z0-9_-]{1,32}"
LOCATION_TTL_S = 300   # a live position expires this long after its last update (seed: car:location:{id} EX)
CAR_ID_RE = re.compile(CAR_ID_PATTERN + r"\Z")
# A tracking device's own id (Traccar's uniqueId: IMEIs, numbers, OwnTracks user-device names).
# Wider than a unit id (dots, colons, @ occur), still nothing that could be markup, a quote or a glob.
DEVICE_ID_PATTERN = r"[A-Za-z0-9_.:@-]{1,64}"
DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN + r"\Z")


def is_valid_car_id(value: object) -> bool:
    return isinstance(value, str) and CAR_ID_RE.match(value) is not None


class UnitStatus(enum.StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OUT_OF_SERVICE = "out_of_service"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    UnitStatus.AVAILABLE: "Available",
    UnitStatus.DISPATCHED: "Dispatched",
    UnitStatus.EN_ROUTE: "En route",
    UnitStatus.ON_SCENE: "On scene",
    UnitStatus.OUT_OF_SERVICE: "Out of service",
}


class Position(NamedTuple):
    """One fix of one unit. speed in mph, heading in degrees [0, 360), timestamp epoch s (UTC).

    A NamedTuple rather than a frozen dataclass: equally immutable, three times cheaper to
    create, and 10,000 of them are made every second.
    """

    car_id: str
    lat: float
    lng: float
    speed: float
    heading: float
    timestamp: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "car_id": self.car_id,
            "lat": self.lat,
            "lng": self.lng,
            "speed": self.speed,
            "heading": self.heading,
            "timestamp": self.timestamp,
        }


class NearbyCar(NamedTuple):
    """A position plus its straight-line distance from the query point."""

    position: Position
    distance_km: float

    @property
    def car_id(self) -> str:
        return self.position.car_id

    def as_dict(self) -> dict[str, Any]:
        d = self.position.as_dict()
        d["distance_km"] = self.distance_km
        return d


@dataclass(frozen=True, slots=True)
class Car:
    """A fleet registry entry (MongoDB `cars`).

    `simulated` False marks a real unit: the simulator never moves it, its positions come from
    its device (`device_id`, the tracker's unique id the device ingest maps to this unit).
    """

    car_id: str
    call_sign: str
    status: UnitStatus = UnitStatus.AVAILABLE
    location: Position | None = None
    incident_id: str | None = None
    simulated: bool = True
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class SyncCycle:
    """The live positions captured at one sync instant; cycle_id is the 10 s bucket number."""

    cycle_id: int
    taken_at: float
    positions: tuple[Position, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Alarm:
    """An emergency raised by a device (panic button): shown on every desktop until acknowledged.

    lat/lng are the fix that carried the alarm (None when the device sent no position and the
    unit had none yet); `at` is the device's fix time, `raised_at` the server time it was raised.
    """

    alarm_id: str
    car_id: str
    kind: str
    at: float
    raised_at: float
    lat: float | None = None
    lng: float | None = None
    device_id: str | None = None
    protocol: str = ""


@dataclass(frozen=True, slots=True)
class AlarmAck:
    """A dispatcher's acknowledgement of an alarm (who, when)."""

    alarm_id: str
    car_id: str
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """One written sync cycle as MongoDB `sync_stats` records it: shared by every instance."""

    cycle_id: int
    taken_at: float
    written_at: float
    cars: int
    duration_s: float | None     # None in records from before the duration was kept
    instance: str                # which instance wrote it ("" in older records)


@dataclass(frozen=True, slots=True)
class UnknownDevice:
    """A device that reported but belongs to no unit (README "Devices and units"), as listed.

    lat/lng are its last reported position (None when it sent none); times are epoch seconds.
    """

    device_id: str
    protocol: str
    lat: float | None
    lng: float | None
    fix_at: float
    count: int
    first_seen: float
    last_seen: float
