"""What a device reported, after decoding and before it becomes a Position (pure, no I/O).

Every decoder turns its protocol into one DeviceReport in the documented units: speed in mph,
heading in degrees [0, 360), times in epoch seconds (UTC). Nothing here is trusted yet: the device
id is checked against DEVICE_ID_RE and the fix against the domain validator by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.messages import RejectionKind

MAX_ATTRIBUTES = 32          # kept per report; more are dropped (counted by the caller as oversize)
MAX_ATTRIBUTE_KEY_CHARS = 32
MAX_ATTRIBUTE_VALUE_CHARS = 128

Attribute = str | float | bool


class DecodeError(ValueError):
    """A request that is not a valid report of any protocol; `kind` names the reason (counted)."""

    def __init__(self, kind: RejectionKind, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(slots=True)
class DeviceReport:
    """One report of one device, converted to our units at the edge.

    fix_time None: the device sent none (the receive time is used, as Traccar does).
    lat/lng None: no position in this report (e.g. an alarm or a heartbeat without a fix).
    """

    protocol: str
    device_id: str
    fix_time: float | None = None
    lat: float | None = None
    lng: float | None = None
    speed_mph: float = 0.0
    heading: float = 0.0
    altitude_m: float | None = None
    accuracy_m: float | None = None
    valid: bool = True
    battery_pct: float | None = None
    alarm: str | None = None
    token: str | None = None
    attributes: dict[str, Attribute] = field(default_factory=dict)

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lng is not None


def keep_attribute(attributes: dict[str, Attribute], key: str, value: Attribute) -> None:
    """Keep an extra key (ignition, rpm, ...) within bounds: attributes never grow without limit."""
    if len(attributes) >= MAX_ATTRIBUTES or not key or len(key) > MAX_ATTRIBUTE_KEY_CHARS:
        return
    if isinstance(value, str):
        value = value[:MAX_ATTRIBUTE_VALUE_CHARS]
    attributes[key] = value
