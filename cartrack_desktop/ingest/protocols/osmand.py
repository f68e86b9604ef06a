"""OsmAnd / Traccar Client query strings (Traccar's OsmAndProtocolDecoder is the reference).

`?id=123456&lat=60.0&lon=30.0&timestamp=1377177267&speed=0.0&bearing=0.0&altitude=0&batt=87`
in the request target (any method, any path, or a target that is only `?...`) or in a form body.
id|deviceid, lat+lon|location=lat,lon, timestamp (epoch s / ms / ISO 8601 / `yyyy-MM-dd HH:mm:ss`
UTC), speed in knots (or the configured unit), bearing|heading, altitude, accuracy, batt, valid;
any other key (ignition, alarm, charge, rpm, ...) is kept as an attribute. alarm=sos raises an alarm.
`speed_unit=kn|kmh|mps|mph` (our extension) says what unit `speed` is in for this report (the OsmAnd
app sends m/s where the protocol says knots).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..report import DecodeError, DeviceReport, keep_attribute
from ..units import SpeedUnit, heading_degrees, parse_number, parse_timestamp, to_mph

PROTOCOL = "osmand"
MAX_PARAMS = 64
_IGNORED = frozenset(("cell", "wifi"))   # network positioning data: not used by a dispatcher's map


def decode_params(params: Sequence[tuple[str, str]] | dict[str, str], *,
                  speed_unit: SpeedUnit = SpeedUnit.KNOTS, protocol: str = PROTOCOL) -> DeviceReport:
    """One report from the decoded key/value pairs, or a dict of them (which it consumes; from
    query_dict). Raises DecodeError.

    Known keys are taken out of a dict one by one (a repeated key: the last value wins); a chain
    of comparisons per key cost twice as much at 10,000 reports a second.
    """
    if len(params) > MAX_PARAMS:
        raise DecodeError("oversize", "too many parameters")
    d: dict[str, Any] = params if isinstance(params, dict) else dict(params)
    pop = d.pop
    device_id = pop("id", None) or pop("deviceid", None)
    d.pop("deviceid", None)
    if not device_id:
        raise DecodeError("missing_device_id")
    r = DeviceReport(protocol, device_id)
    if (v := pop("lat", None)) is not None:
        r.lat = parse_number(v, "lat")
    if (v := pop("lon", None)) is not None:
        r.lng = parse_number(v, "lon")
    if (v := pop("location", None)) is not None:
        parts = v.split(",")
        if len(parts) != 2:
            raise DecodeError("bad_number", "location")
        r.lat, r.lng = parse_number(parts[0], "lat"), parse_number(parts[1], "lon")
    if (v := pop("timestamp", None)) is not None:
        r.fix_time = parse_timestamp(v)
    if (u := pop("speed_unit", None)) is not None:   # our extension: the URL says its speed unit
        try:
            speed_unit = SpeedUnit(u)
        except ValueError:
            raise DecodeError("bad_speed_unit") from None
    if (v := pop("speed", None)) is not None:
        r.speed_mph = to_mph(parse_number(v, "speed"), speed_unit)
    if (v := pop("bearing", None) or pop("heading", None)) is not None:
        r.heading = heading_degrees(parse_number(v, "bearing"))
    d.pop("heading", None)
    if (v := pop("altitude", None)) is not None:
        r.altitude_m = parse_number(v, "altitude")
    if (v := pop("accuracy", None)) is not None:
        r.accuracy_m = parse_number(v, "accuracy")
    if (v := pop("batt", None)) is not None:
        r.battery_pct = parse_number(v, "batt")
    if (v := pop("valid", None)) is not None:
        r.valid = v.lower() == "true" or v == "1"
    r.token = pop("token", None)
    if (v := d.get("alarm")) is not None:
        r.alarm = v
    for key, value in d.items():
        if key not in _IGNORED:
            keep_attribute(r.attributes, key, _attribute_value(value))
    return r


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
