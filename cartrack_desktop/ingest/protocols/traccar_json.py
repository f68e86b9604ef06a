"""Traccar Client 9 JSON (POST, Content-Type application/json), as Traccar's OsmAnd decoder reads it.

{"location": {"timestamp": ISO, "coords": {"latitude", "longitude", "speed" (m/s, -1 unknown),
 "heading" (-1 unknown), "accuracy", "altitude"}, "battery": {"level" (0..1, -1 unknown),
 "is_charging"}, "is_moving", "event", "extras": {...}}, "device_id": "..."}
An alarm comes as location.alarm or location.extras.alarm ("sos").
"""

from __future__ import annotations

from typing import Any

from ..report import DecodeError, DeviceReport, keep_attribute
from ..units import SpeedUnit, heading_degrees, json_number, parse_iso, to_mph

PROTOCOL = "traccar_json"


def decode(root: dict[str, Any]) -> DeviceReport:
    device_id = root.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        raise DecodeError("missing_device_id")
    location = root.get("location")
    if not isinstance(location, dict):
        raise DecodeError("missing_field", "location")
    r = DeviceReport(PROTOCOL, device_id)
    ts = location.get("timestamp")
    if ts is not None:
        if not isinstance(ts, str):
            raise DecodeError("bad_timestamp")
        r.fix_time = parse_iso(ts)
    coords = location.get("coords")
    if coords is not None:
        _coords(r, coords)
    battery = location.get("battery")
    if isinstance(battery, dict):
        level = battery.get("level")
        if level is not None and json_number(level, "battery") >= 0:
            r.battery_pct = json_number(level, "battery") * 100.0
        if battery.get("is_charging") is True:
            keep_attribute(r.attributes, "charge", True)
    for key in ("event", "is_moving", "odometer", "mock"):
        value = location.get(key)
        if isinstance(value, str | bool) or (isinstance(value, int | float) and not isinstance(value, bool)):
            keep_attribute(r.attributes, key, _scalar(value, key))
    extras = location.get("extras")
    if isinstance(extras, dict):
        for key, value in extras.items():
            if isinstance(value, str | bool | int | float):
                keep_attribute(r.attributes, str(key), _scalar(value, str(key)))
    alarm = location.get("alarm", extras.get("alarm") if isinstance(extras, dict) else None)
    if isinstance(alarm, str) and alarm:
        r.alarm = alarm
        keep_attribute(r.attributes, "alarm", alarm)
    return r


def _coords(r: DeviceReport, coords: Any) -> None:
    if not isinstance(coords, dict):
        raise DecodeError("missing_field", "coords")
    if "latitude" not in coords or "longitude" not in coords:
        raise DecodeError("missing_field", "latitude/longitude")
    r.lat = json_number(coords["latitude"], "latitude")
    r.lng = json_number(coords["longitude"], "longitude")
    if coords.get("speed") is not None:
        r.speed_mph = to_mph(json_number(coords["speed"], "speed"), SpeedUnit.MPS)
    if coords.get("heading") is not None:
        r.heading = heading_degrees(json_number(coords["heading"], "heading"))
    if coords.get("accuracy") is not None:
        r.accuracy_m = json_number(coords["accuracy"], "accuracy")
    if coords.get("altitude") is not None:
        r.altitude_m = json_number(coords["altitude"], "altitude")


def _scalar(value: str | bool | int | float, name: str) -> str | bool | float:
    if isinstance(value, str | bool):
        return value
    return json_number(value, name)
