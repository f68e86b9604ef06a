"""A Traccar server's position forwarder (forward.type=json, Traccar's PositionForwarderJson).

POST `{"position": {"latitude", "longitude", "speed" (knots), "course", "altitude", "accuracy",
"valid", "fixTime" (ISO 8601), "protocol", "attributes": {"alarm": "sos", ...}}, "device":
{"uniqueId", "name", ...}}`: every device a Traccar server decodes (hundreds of protocols) reaches
the map through it. The device is `device.uniqueId`.
"""

from __future__ import annotations

from typing import Any

from ..report import DecodeError, DeviceReport, keep_attribute
from ..units import SpeedUnit, heading_degrees, json_number, parse_iso, to_mph

PROTOCOL = "traccar_forward"


def decode(root: dict[str, Any]) -> DeviceReport:
    position, device = root.get("position"), root.get("device")
    if not isinstance(position, dict) or not isinstance(device, dict):
        raise DecodeError("missing_field", "position/device")
    unique_id = device.get("uniqueId")
    if not isinstance(unique_id, str) or not unique_id:
        raise DecodeError("missing_device_id")
    r = DeviceReport(PROTOCOL, unique_id)
    fix = position.get("fixTime", position.get("deviceTime"))
    if fix is not None:
        if not isinstance(fix, str):
            raise DecodeError("bad_timestamp")
        r.fix_time = parse_iso(fix)
    if "latitude" not in position or "longitude" not in position:
        raise DecodeError("missing_field", "latitude/longitude")
    r.lat = json_number(position["latitude"], "latitude")
    r.lng = json_number(position["longitude"], "longitude")
    if position.get("speed") is not None:
        r.speed_mph = to_mph(json_number(position["speed"], "speed"), SpeedUnit.KNOTS)
    if position.get("course") is not None:
        r.heading = heading_degrees(json_number(position["course"], "course"))
    if position.get("altitude") is not None:
        r.altitude_m = json_number(position["altitude"], "altitude")
    if position.get("accuracy") is not None:
        acc = json_number(position["accuracy"], "accuracy")
        r.accuracy_m = acc if acc > 0 else None   # Traccar sends 0 for "unknown"
    if position.get("valid") is False:
        r.valid = False
    attributes = position.get("attributes")
    if isinstance(attributes, dict):
        _attributes(r, attributes)
    return r


def _attributes(r: DeviceReport, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        if isinstance(value, str | bool):
            keep_attribute(r.attributes, str(key), value)
        elif isinstance(value, int | float):
            keep_attribute(r.attributes, str(key), json_number(value, str(key)))
    batt = attributes.get("batteryLevel")
    if isinstance(batt, int | float) and not isinstance(batt, bool):
        r.battery_pct = json_number(batt, "batteryLevel")
    alarm = attributes.get("alarm")
    if isinstance(alarm, str) and alarm:
        r.alarm = alarm   # Traccar joins several alarms with commas ("sos,overspeed")
