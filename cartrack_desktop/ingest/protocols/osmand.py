"""OsmAnd / Traccar Client query strings (Traccar's OsmAndProtocolDecoder is the reference).

`?id=123456&lat=60.0&lon=30.0&timestamp=1377177267&speed=0.0&bearing=0.0&altitude=0&batt=87`
in the request target (any method, any path, or a target that is only `?...`) or in a form body.
id|deviceid, lat+lon|location=lat,lon, timestamp (epoch s / ms / ISO 8601 / `yyyy-MM-dd HH:mm:ss`
UTC), speed in knots (or the configured unit), bearing|heading, altitude, accuracy, batt, valid;
any other key (ignition, alarm, charge, rpm, ...) is kept as an attribute. alarm=sos raises an alarm.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..report import DecodeError, DeviceReport, keep_attribute
from ..units import SpeedUnit, heading_degrees, parse_number, parse_timestamp, to_mph

PROTOCOL = "osmand"
MAX_PARAMS = 64
_IGNORED = frozenset(("cell", "wifi"))   # network positioning data: not used by a dispatcher's map


def decode_params(params: Sequence[tuple[str, str]], *, speed_unit: SpeedUnit = SpeedUnit.KNOTS,
                  protocol: str = PROTOCOL) -> DeviceReport:
    """One report from the decoded key/value pairs (raises DecodeError)."""
    if len(params) > MAX_PARAMS:
        raise DecodeError("oversize", "too many parameters")
    r = DeviceReport(protocol, "")
    for key, value in params:
        _apply(r, key, value, speed_unit)
    if not r.device_id:
        raise DecodeError("missing_device_id")
    return r


def _apply(r: DeviceReport, key: str, value: str, speed_unit: SpeedUnit) -> None:
    # one branch per key, as the reference decoder: a table would not make it shorter
    if key in ("id", "deviceid"):
        r.device_id = value
    elif key == "lat":
        r.lat = parse_number(value, "lat")
    elif key == "lon":
        r.lng = parse_number(value, "lon")
    elif key == "location":
        parts = value.split(",")
        if len(parts) != 2:
            raise DecodeError("bad_number", "location")
        r.lat, r.lng = parse_number(parts[0], "lat"), parse_number(parts[1], "lon")
    elif key == "timestamp":
        r.fix_time = parse_timestamp(value)
    elif key == "speed":
        r.speed_mph = to_mph(parse_number(value, "speed"), speed_unit)
    elif key in ("bearing", "heading"):
        r.heading = heading_degrees(parse_number(value, "bearing"))
    elif key == "altitude":
        r.altitude_m = parse_number(value, "altitude")
    elif key == "accuracy":
        r.accuracy_m = parse_number(value, "accuracy")
    elif key == "batt":
        r.battery_pct = parse_number(value, "batt")
    elif key == "valid":
        r.valid = value.lower() == "true" or value == "1"
    elif key == "token":
        r.token = value
    elif key == "alarm":
        r.alarm = value
        keep_attribute(r.attributes, key, value)
    elif key not in _IGNORED:
        keep_attribute(r.attributes, key, _attribute_value(value))


def _attribute_value(value: str) -> str | float | bool:
    """Numbers as numbers, true/false as booleans, else the text (as Traccar keeps them)."""
    if value == "true":
        return True
    if value == "false":
        return False
    try:
        return parse_number(value, "attribute")
    except DecodeError:
        return value
