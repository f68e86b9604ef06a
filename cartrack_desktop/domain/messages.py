"""The wire format, and the one place where untrusted data is parsed and validated.

Everything that arrives from Redis (pub/sub, keys) or MongoDB goes through here
before any other code sees it. A rejected input raises MessageRejected with a
short, stable `kind` so callers can count rejections per kind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .dispatch import (
    ADDRESS_MAX,
    INCIDENT_ID_RE,
    NOTES_MAX,
    PRIORITIES,
    TYPE_MAX,
    Incident,
    TimelineEvent,
    TimelineKind,
    UnitAssignment,
)
from .models import CAR_ID_RE, Position, UnitStatus

Loads = Callable[[bytes | str], Any]

MAX_POSITION_BYTES = 1024          # a real position message is ~130 bytes
MAX_BATCH_BYTES = 8 * 1024 * 1024  # 50k rows at ~110 bytes
MAX_BATCH_ROWS = 50_000
MAX_OBJECT_KEYS = 16
MAX_SPEED_MPH = 200.0              # above any police pursuit; anything beyond is a broken producer
MAX_FUTURE_S = 120.0               # device clock skew we tolerate
MAX_AGE_S = 24 * 3600.0            # a "live" fix older than a day is garbage
MAX_TEXT_CHARS = 200

BATCH_VERSION = 1

RejectionKind = Literal[
    "oversize",
    "malformed_json",
    "not_object",
    "missing_field",
    "bad_type",
    "not_finite",
    "bad_car_id",
    "lat_range",
    "lng_range",
    "speed_range",
    "heading_range",
    "future_timestamp",
    "stale_timestamp",
    "channel_mismatch",
    "bad_batch",
    "bad_text",
    "too_many_units",
]

_FIELDS = ("car_id", "lat", "lng", "speed", "heading", "timestamp")


class MessageRejected(ValueError):
    """An input that does not satisfy the wire contract."""

    def __init__(self, kind: RejectionKind, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to inf
        raise ValueError("number out of range")
    return value


def strict_json_loads(raw: bytes | str) -> Any:
    """stdlib JSON without NaN/Infinity (as orjson, which the services use, already is)."""
    return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)


def parse_json(raw: object, max_bytes: int, loads: Loads) -> Any:
    """The common first step for every untrusted payload: type, size (before parsing), JSON."""
    if not isinstance(raw, bytes | str):
        raise MessageRejected("bad_type", "payload")
    if len(raw) > max_bytes:
        raise MessageRejected("oversize")
    try:
        return loads(raw)
    except (ValueError, TypeError, RecursionError):
        raise MessageRejected("malformed_json") from None


def _number(obj: Mapping[str, Any], name: str) -> float:
    try:
        value = obj[name]
    except KeyError:
        raise MessageRejected("missing_field", name) from None
    return _as_number(value, name)


def _as_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MessageRejected("bad_type", name)
    try:
        f = float(value)
    except OverflowError:  # huge int
        raise MessageRejected("not_finite", name) from None
    if not math.isfinite(f):
        raise MessageRejected("not_finite", name)
    return f


def validate_car_id(value: Any) -> str:
    if not isinstance(value, str):
        raise MessageRejected("bad_type", "car_id")
    if CAR_ID_RE.match(value) is None:
        raise MessageRejected("bad_car_id")
    return value


def validate_text(value: Any, name: str, *, max_chars: int = MAX_TEXT_CHARS, allow_empty: bool = False) -> str:
    """Free text (call signs, notes): a str of bounded length without control characters.

    Markup is allowed through as literal characters: it is only ever shown via textContent
    or Qt plain-text widgets.
    """
    if not isinstance(value, str):
        raise MessageRejected("bad_type", name)
    if len(value) > max_chars or (not allow_empty and not value.strip()):
        raise MessageRejected("bad_text", name)
    if any((ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in value):
        raise MessageRejected("bad_text", name)
    return value


def _check_ranges(
    car_id: str, lat: float, lng: float, speed: float, heading: float, ts: float, now: float | None
) -> Position:
    if not -90.0 <= lat <= 90.0:
        raise MessageRejected("lat_range")
    if not -180.0 <= lng <= 180.0:
        raise MessageRejected("lng_range")
    if not 0.0 <= speed <= MAX_SPEED_MPH:
        raise MessageRejected("speed_range")
    if not 0.0 <= heading < 360.0:
        raise MessageRejected("heading_range")
    if ts <= 0:
        raise MessageRejected("stale_timestamp")
    if now is not None:
        if ts > now + MAX_FUTURE_S:
            raise MessageRejected("future_timestamp")
        if ts < now - MAX_AGE_S:
            raise MessageRejected("stale_timestamp")
    return Position(car_id, lat, lng, speed, heading, ts)


def validate_position(obj: Any, *, now: float | None) -> Position:
    """Validate an already-parsed position object. `now=None` skips the freshness window (history)."""
    if not isinstance(obj, dict):
        raise MessageRejected("not_object")
    if len(obj) > MAX_OBJECT_KEYS:
        raise MessageRejected("oversize", "too many keys")
    if "car_id" not in obj:
        raise MessageRejected("missing_field", "car_id")
    car_id = validate_car_id(obj["car_id"])
    return _check_ranges(
        car_id,
        _number(obj, "lat"),
        _number(obj, "lng"),
        _number(obj, "speed"),
        _number(obj, "heading"),
        _number(obj, "timestamp"),
        now,
    )


def decode_position(
    raw: bytes | str,
    *,
    now: float | None,
    loads: Loads = strict_json_loads,
    expected_car_id: str | None = None,
) -> Position:
    """Parse one JSON position message (pub/sub payload or key value)."""
    pos = validate_position(parse_json(raw, MAX_POSITION_BYTES, loads), now=now)
    if expected_car_id is not None and pos.car_id != expected_car_id:
        raise MessageRejected("channel_mismatch")
    return pos


def encode_position(p: Position) -> dict[str, Any]:
    """The JSON object stored at car:location:{id} and published on its stream channel."""
    return {
        "car_id": p.car_id,
        "lat": round(p.lat, 7),
        "lng": round(p.lng, 7),
        "speed": round(p.speed, 2),
        "heading": round(p.heading, 2) % 360.0,
        "timestamp": round(p.timestamp, 3),
    }


def decode_batch(
    raw: bytes | str,
    *,
    now: float | None,
    loads: Loads = strict_json_loads,
    on_reject: Callable[[RejectionKind], None] | None = None,
) -> tuple[list[Position], float]:
    """Parse a batch; bad rows are dropped one by one (reported via on_reject), a bad envelope raises.

    Returns the valid positions and the producer's send time (for latency measurement).
    """
    obj = parse_json(raw, MAX_BATCH_BYTES, loads)
    if not isinstance(obj, dict) or obj.get("v") != BATCH_VERSION:
        raise MessageRejected("bad_batch", "envelope")
    rows = obj.get("cars")
    if not isinstance(rows, list) or len(rows) > MAX_BATCH_ROWS:
        raise MessageRejected("bad_batch", "rows")
    sent = _as_number(obj.get("sent", 0.0), "sent")
    out: list[Position] = []
    for row in rows:
        try:
            if not isinstance(row, list) or len(row) != 6:
                raise MessageRejected("bad_batch", "row shape")
            out.append(
                _check_ranges(
                    validate_car_id(row[0]),
                    _as_number(row[1], "lat"),
                    _as_number(row[2], "lng"),
                    _as_number(row[3], "speed"),
                    _as_number(row[4], "heading"),
                    _as_number(row[5], "timestamp"),
                    now,
                )
            )
        except MessageRejected as exc:
            if on_reject is not None:
                on_reject(exc.kind)
    return out, sent


# ---- dispatch: live unit status, incidents, events ------------------------------------------
MAX_EVENT_BYTES = 256 * 1024
MAX_TIMELINE = 500
MAX_INCIDENT_UNITS = 200
EVENT_VERSION = 1
NAME_MAX = 64


def _epoch(value: Any, name: str) -> float:
    """Epoch seconds from a number or a (BSON) datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return float(value.timestamp())
    return _as_number(value, name)


def _opt_number(obj: Mapping[str, Any], name: str) -> float | None:
    v = obj.get(name)
    return None if v is None else _as_number(v, name)


def validate_incident_id(value: Any) -> str:
    if not isinstance(value, str) or INCIDENT_ID_RE.match(value) is None:
        raise MessageRejected("bad_type", "incident_id")
    return value


def _status(value: Any) -> UnitStatus:
    try:
        return UnitStatus(value)
    except ValueError:
        raise MessageRejected("bad_type", "status") from None


def _scene(obj: Mapping[str, Any]) -> tuple[float, float] | None:
    lat, lng = _opt_number(obj, "lat"), _opt_number(obj, "lng")
    if lat is None or lng is None:
        return None
    if not -90 <= lat <= 90:
        raise MessageRejected("lat_range")
    if not -180 <= lng <= 180:
        raise MessageRejected("lng_range")
    return lat, lng


def encode_assignment(a: UnitAssignment) -> dict[str, Any]:
    return {
        "status": a.status.value, "incident": a.incident_id,
        "lat": a.scene[0] if a.scene else None, "lng": a.scene[1] if a.scene else None,
        "since": round(a.since, 3), "by": a.by,
    }


def validate_assignment(obj: Any, car_id: str) -> UnitAssignment:
    if not isinstance(obj, dict) or len(obj) > MAX_OBJECT_KEYS:
        raise MessageRejected("not_object")
    status = _status(obj.get("status"))
    incident = obj.get("incident")
    incident_id = None if incident is None else validate_incident_id(incident)
    since = _as_number(obj.get("since", 0.0), "since")
    by = validate_text(obj.get("by", ""), "by", max_chars=NAME_MAX, allow_empty=True)
    return UnitAssignment(validate_car_id(car_id), status, incident_id, _scene(obj), since, by)


def decode_assignment(raw: bytes | str, car_id: str, *, loads: Loads = strict_json_loads) -> UnitAssignment:
    return validate_assignment(parse_json(raw, MAX_POSITION_BYTES, loads), car_id)


def encode_timeline_event(e: TimelineEvent) -> dict[str, Any]:
    return {"id": e.event_id, "at": round(e.at, 3), "kind": e.kind, "by": e.by, "car_id": e.car_id, "note": e.note}


def validate_timeline_event(obj: Any) -> TimelineEvent:
    if not isinstance(obj, dict):
        raise MessageRejected("not_object")
    event_id = obj.get("id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 64 or not event_id.isascii():
        raise MessageRejected("bad_type", "timeline id")
    kind = obj.get("kind")
    if kind not in TimelineKind.ALL:
        raise MessageRejected("bad_type", "timeline kind")
    car = obj.get("car_id")
    return TimelineEvent(
        event_id, _epoch(obj.get("at"), "at"), kind,
        validate_text(obj.get("by", ""), "by", max_chars=NAME_MAX, allow_empty=True),
        None if car is None else validate_car_id(car),
        validate_text(obj.get("note", ""), "note", max_chars=NOTES_MAX, allow_empty=True),
    )


def encode_incident(inc: Incident) -> dict[str, Any]:
    return {
        "id": inc.incident_id, "type": inc.kind, "priority": inc.priority, "notes": inc.notes,
        "lat": inc.lat, "lng": inc.lng, "created_at": round(inc.created_at, 3), "created_by": inc.created_by,
        "status": inc.status, "closed_at": inc.closed_at, "units": list(inc.units),
        "timeline": [encode_timeline_event(e) for e in inc.timeline], "address": inc.address,
    }


def validate_incident(obj: Any) -> Incident:
    """An incident from MongoDB or an event; every field checked."""
    if not isinstance(obj, dict):
        raise MessageRejected("not_object")
    inc_id = validate_incident_id(obj.get("id", obj.get("_id")))
    kind = validate_text(obj.get("type"), "type", max_chars=TYPE_MAX)
    priority = obj.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise MessageRejected("bad_type", "priority")
    notes = validate_text(obj.get("notes", ""), "notes", max_chars=NOTES_MAX, allow_empty=True)
    scene = _scene(obj)
    if scene is None:
        raise MessageRejected("missing_field", "lat/lng")
    status = obj.get("status", "open")
    if status not in ("open", "closed"):
        raise MessageRejected("bad_type", "incident status")
    units = obj.get("units", [])
    if not isinstance(units, list) or len(units) > MAX_INCIDENT_UNITS:
        raise MessageRejected("bad_type", "units")
    timeline = obj.get("timeline", [])
    if not isinstance(timeline, list) or len(timeline) > MAX_TIMELINE:
        raise MessageRejected("bad_type", "timeline")
    closed_at = obj.get("closed_at")
    return Incident(
        incident_id=inc_id, kind=kind, priority=priority, notes=notes, lat=scene[0], lng=scene[1],
        created_at=_epoch(obj.get("created_at"), "created_at"),
        created_by=validate_text(obj.get("created_by", ""), "created_by", max_chars=NAME_MAX, allow_empty=True),
        status=status, closed_at=None if closed_at is None else _epoch(closed_at, "closed_at"),
        units=tuple(validate_car_id(u) for u in units),
        timeline=tuple(validate_timeline_event(e) for e in timeline),
        address=validate_text(obj.get("address", ""), "address", max_chars=ADDRESS_MAX, allow_empty=True),
    )


EventType = Literal["status", "incident", "fleet"]
FleetAction = Literal["add", "remove", "update"]


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A unit's status changed (its assignment carries the car_id)."""

    assignment: UnitAssignment


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """An incident was created or changed (a new timeline entry, closed)."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class FleetEvent:
    """A unit was added to, removed from or changed in the fleet registry."""

    action: FleetAction
    car_id: str


DispatchEvent = StatusEvent | IncidentEvent | FleetEvent


def encode_event(kind: EventType, **fields: Any) -> dict[str, Any]:
    return {"v": EVENT_VERSION, "type": kind, **fields}


def decode_event(raw: bytes | str, *, loads: Loads = strict_json_loads) -> DispatchEvent:
    """An event from cartrack:events, validated per type."""
    obj = parse_json(raw, MAX_EVENT_BYTES, loads)
    if not isinstance(obj, dict) or obj.get("v") != EVENT_VERSION:
        raise MessageRejected("bad_batch", "event envelope")
    kind = obj.get("type")
    if kind == "status":
        car_id = validate_car_id(obj.get("car_id"))
        return StatusEvent(validate_assignment(obj.get("assignment"), car_id))
    if kind == "incident":
        return IncidentEvent(validate_incident(obj.get("incident")))
    if kind == "fleet":
        action = obj.get("action")
        if action == "add" or action == "remove" or action == "update":   # noqa: PLR1714 - narrows the Literal
            return FleetEvent(action, validate_car_id(obj.get("car_id")))
        raise MessageRejected("bad_type", "fleet action")
    raise MessageRejected("bad_type", "event type")
