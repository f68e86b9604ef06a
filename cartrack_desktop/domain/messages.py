"""The wire format, and the one place where untrusted data is parsed and validated.

Everything that arrives from Redis (pub/sub, keys) or MongoDB goes through here
before any other code sees it. A rejected input raises MessageRejected with a
short, stable `kind` so callers can count rejections per kind.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Container, Mapping
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
from .models import CAR_ID_RE, DEVICE_ID_RE, Alarm, AlarmAck, Position, SyncRecord, UnitStatus, UnknownDevice

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
    # the device ingest (cartrack_desktop.ingest): reports, HTTP, devices, filters
    "bad_device_id",
    "bad_number",
    "bad_timestamp",
    "bad_utf8",
    "bad_speed_unit",
    "missing_device_id",
    "empty",
    "unknown_format",
    "unknown_device",
    "bad_token",
    "registration_rate",
    "no_position",
    "invalid",
    "zero",
    "future",
    "accuracy",
    "duplicate",
    "min_period",
    "teleport",
    "out_of_order",
    "bad_http",
    "request_line_too_long",
    "headers_too_large",
    "body_too_large",
    "slow_client",
    "too_many_connections",
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


def check_position(
    car_id: str, lat: float, lng: float, speed: float, heading: float, ts: float, now: float | None
) -> Position:
    """The range checks of validate_position for numbers already known to be finite floats and a
    car_id already validated (the device ingest's hot path: no dict to build and take apart)."""
    return _check_ranges(car_id, lat, lng, speed, heading, ts, now)


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
    only: Container[str] | None = None,
) -> tuple[list[Position], float]:
    """Parse a batch; bad rows are dropped one by one (reported via on_reject), a bad envelope raises.

    Returns the valid positions and the producer's send time (for latency measurement). `only`:
    rows of other units are skipped unchecked (a reader that follows a few units of a big fleet).
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
        if only is not None and not (isinstance(row, list) and row and isinstance(row[0], str) and row[0] in only):
            continue
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
    return {"id": e.event_id, "at": round(e.at, 3), "kind": e.kind, "by": e.by, "car_id": e.car_id, "note": e.note,
            "instance": e.instance}


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
        validate_text(obj.get("instance", ""), "instance", max_chars=NAME_MAX, allow_empty=True),
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


EventType = Literal["status", "incident", "fleet", "alarm"]
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


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    """A device raised an alarm (panic button): every desktop shows it until acknowledged."""

    alarm: Alarm


@dataclass(frozen=True, slots=True)
class AlarmAcknowledged:
    """A dispatcher acknowledged an alarm (who, when)."""

    ack: AlarmAck


DispatchEvent = StatusEvent | IncidentEvent | FleetEvent | AlarmRaised | AlarmAcknowledged


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
    if kind == "alarm":
        return decode_alarm_event(obj)
    raise MessageRejected("bad_type", "event type")


# ---- alarms (panic button from a device; acknowledged by a dispatcher) --------------------------
ALARM_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,80}\Z")
ALARM_KIND_RE = re.compile(r"[A-Za-z]{1,32}\Z")
PROTOCOL_RE = re.compile(r"[a-z0-9_]{0,16}\Z")


def validate_device_id(value: Any) -> str:
    if not isinstance(value, str):
        raise MessageRejected("bad_type", "device_id")
    if DEVICE_ID_RE.match(value) is None:
        raise MessageRejected("bad_device_id")
    return value


def _matching(value: Any, pattern: re.Pattern[str], name: str) -> str:
    if not isinstance(value, str) or pattern.match(value) is None:
        raise MessageRejected("bad_type", name)
    return value


def encode_alarm(a: Alarm) -> dict[str, Any]:
    """The raise event's fields (also the value kept in the cartrack:alarms hash)."""
    return {"alarm_id": a.alarm_id, "car_id": a.car_id, "alarm": a.kind, "at": round(a.at, 3),
            "raised_at": round(a.raised_at, 3), "lat": a.lat, "lng": a.lng, "device_id": a.device_id,
            "protocol": a.protocol}


def validate_alarm(obj: Any) -> Alarm:
    if not isinstance(obj, dict) or len(obj) > MAX_OBJECT_KEYS:
        raise MessageRejected("not_object")
    device = obj.get("device_id")
    scene = _scene(obj)
    return Alarm(
        alarm_id=_matching(obj.get("alarm_id"), ALARM_ID_RE, "alarm_id"),
        car_id=validate_car_id(obj.get("car_id")),
        kind=_matching(obj.get("alarm"), ALARM_KIND_RE, "alarm kind"),
        at=_as_number(obj.get("at"), "at"),
        raised_at=_as_number(obj.get("raised_at"), "raised_at"),
        lat=scene[0] if scene else None,
        lng=scene[1] if scene else None,
        device_id=None if device is None else validate_device_id(device),
        protocol=_matching(obj.get("protocol", ""), PROTOCOL_RE, "protocol"),
    )


def encode_alarm_ack(a: AlarmAck) -> dict[str, Any]:
    return {"alarm_id": a.alarm_id, "car_id": a.car_id, "by": a.by, "at": round(a.at, 3)}


def decode_alarm_event(obj: dict[str, Any]) -> AlarmRaised | AlarmAcknowledged:
    """{"v":1,"type":"alarm","action":"raise",<alarm fields>} or {..,"action":"ack",alarm_id,car_id,by,at}."""
    action = obj.get("action")
    if action == "raise":
        fields = {k: v for k, v in obj.items() if k not in ("v", "type", "action")}
        return AlarmRaised(validate_alarm(fields))
    if action == "ack":
        return AlarmAcknowledged(AlarmAck(
            alarm_id=_matching(obj.get("alarm_id"), ALARM_ID_RE, "alarm_id"),
            car_id=validate_car_id(obj.get("car_id")),
            by=validate_text(obj.get("by", ""), "by", max_chars=NAME_MAX, allow_empty=True),
            at=_as_number(obj.get("at"), "at"),
        ))
    raise MessageRejected("bad_type", "alarm action")


MAX_SYNC_CARS = 10_000_000
MAX_SYNC_DURATION_S = 24 * 3600.0


def validate_sync_record(obj: Any) -> SyncRecord:
    """A `sync_stats` cycle document (written by any instance, so checked like any other input)."""
    if not isinstance(obj, Mapping):
        raise MessageRejected("not_object")
    cycle = obj.get("_id")
    cars = obj.get("cars")
    if type(cycle) is not int or cycle < 0:
        raise MessageRejected("bad_type", "cycle")
    if type(cars) is not int or not 0 <= cars <= MAX_SYNC_CARS:
        raise MessageRejected("bad_type", "cars")
    duration = _opt_number(obj, "duration_s")
    if duration is not None and not 0.0 <= duration <= MAX_SYNC_DURATION_S:
        raise MessageRejected("bad_type", "duration_s")
    return SyncRecord(cycle, _epoch(obj.get("taken_at"), "taken_at"), _epoch(obj.get("written_at"), "written_at"),
                      cars, duration, validate_text(obj.get("instance", ""), "instance", max_chars=NAME_MAX,
                                                    allow_empty=True))


# ---- the Unknown devices list (cartrack:devices:unknown, written by the device ingest) -----------
MAX_DEVICE_REPORTS = 2**53


def validate_unknown_device(obj: Any) -> UnknownDevice:
    """One entry of the Unknown devices hash: every field checked before the window shows it."""
    if not isinstance(obj, dict) or len(obj) > MAX_OBJECT_KEYS:
        raise MessageRejected("not_object")
    lat, lng = obj.get("lat"), obj.get("lng")
    has_fix = lat is not None and lng is not None
    if has_fix:
        lat, lng = _as_number(lat, "lat"), _as_number(lng, "lng")
        if not -90.0 <= lat <= 90.0:
            raise MessageRejected("lat_range")
        if not -180.0 <= lng <= 180.0:
            raise MessageRejected("lng_range")
    count = obj.get("count")
    if isinstance(count, float) and count.is_integer():   # Lua's cjson writes large counts as 1e+14
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_DEVICE_REPORTS:
        raise MessageRejected("bad_type", "count")
    return UnknownDevice(
        device_id=validate_device_id(obj.get("device_id")),
        protocol=_matching(obj.get("protocol", ""), PROTOCOL_RE, "protocol"),
        lat=lat if has_fix else None, lng=lng if has_fix else None,
        fix_at=_as_number(obj.get("t"), "t"), count=count,
        first_seen=_as_number(obj.get("first_seen"), "first_seen"),
        last_seen=_as_number(obj.get("last_seen"), "last_seen"))
