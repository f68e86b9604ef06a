"""OwnTracks HTTP mode (the booklet's docs/tech/json.md and http.md; Traccar's OwnTracksProtocolDecoder).

POST of `{"_type": "location", "lat", "lon", "tst" (epoch s), "vel" (km/h), "cog", "acc", "alt",
"batt", "tid", "topic"}`. The device: the X-Limit-U / X-Limit-D headers or ?u=&d= (user-device,
as the OwnTracks Recorder names it), else `topic` (with '/' as '-', as Traccar does), else `tid`.
Any other `_type` (waypoint, transition, lwt...) is acknowledged and ignored. The answer is `[]`.

OwnTracks has no panic button of its own; a payload element `"alarm": "sos"` (which OwnTracks-
compatible senders can add) raises an alarm, like OsmAnd's alarm=sos.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..report import DecodeError, DeviceReport, keep_attribute
from ..units import SpeedUnit, heading_degrees, json_number, to_mph

PROTOCOL = "owntracks"
_ATTRIBUTES = ("t", "conn", "bs", "vac", "tid", "SSID", "BSSID", "m")


def device_from_limits(user: str | None, device: str | None) -> str | None:
    """user-device from X-Limit-U/X-Limit-D (or ?u=&d=); None when not given."""
    if user and device:
        return f"{user}-{device}"
    return user or device or None


def decode(root: Mapping[str, Any], limit_device: str | None) -> DeviceReport | None:
    """A location report, or None for another `_type` (answered `[]` and ignored)."""
    if root.get("_type") != "location":
        return None
    device_id = limit_device
    if device_id is None:
        topic, tid = root.get("topic"), root.get("tid")
        if isinstance(topic, str) and topic:
            device_id = topic.replace("/", "-")
        elif isinstance(tid, str) and tid:
            device_id = tid
    if not device_id:
        raise DecodeError("missing_device_id")
    if "lat" not in root or "lon" not in root or "tst" not in root:
        raise DecodeError("missing_field", "lat/lon/tst")
    r = DeviceReport(PROTOCOL, device_id, fix_time=json_number(root["tst"], "tst"),
                     lat=json_number(root["lat"], "lat"), lng=json_number(root["lon"], "lon"))
    if root.get("vel") is not None:
        r.speed_mph = to_mph(json_number(root["vel"], "vel"), SpeedUnit.KMH)
    if root.get("cog") is not None:
        r.heading = heading_degrees(json_number(root["cog"], "cog"))
    if root.get("acc") is not None:
        r.accuracy_m = json_number(root["acc"], "acc")
    if root.get("alt") is not None:
        r.altitude_m = json_number(root["alt"], "alt")
    if root.get("batt") is not None:
        r.battery_pct = json_number(root["batt"], "batt")
    for key in _ATTRIBUTES:
        value = root.get(key)
        if isinstance(value, str | bool):
            keep_attribute(r.attributes, key, value)
        elif isinstance(value, int | float):
            keep_attribute(r.attributes, key, json_number(value, key))
    alarm = root.get("alarm")
    if isinstance(alarm, str) and alarm:
        r.alarm = alarm
        keep_attribute(r.attributes, "alarm", alarm)
    return r
