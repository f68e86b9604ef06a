"""Unit conversion and value parsing at the edge (pure): devices' units become the documented ones.

Position contract: speed mph, heading degrees [0, 360), timestamps epoch seconds UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum

from .report import DecodeError

MPH_PER_KNOT = 1.852 / 1.609344          # 1 knot = 1.852 km/h
MPH_PER_KMH = 1.0 / 1.609344
MPH_PER_MPS = 3.6 / 1.609344
EPOCH_SECONDS_LIMIT = 2_147_483_647      # Traccar: a number below 2^31 is seconds, above it milliseconds
MAX_NUMBER_CHARS = 40                    # "-122.40641700000001" fits; 5,000 digits do not get parsed


class SpeedUnit(StrEnum):
    """The unit an OsmAnd-style `speed` parameter is in (the protocol says knots)."""

    KNOTS = "kn"
    KMH = "kmh"
    MPS = "mps"
    MPH = "mph"


_TO_MPH = {SpeedUnit.KNOTS: MPH_PER_KNOT, SpeedUnit.KMH: MPH_PER_KMH, SpeedUnit.MPS: MPH_PER_MPS,
           SpeedUnit.MPH: 1.0}


def to_mph(value: float, unit: SpeedUnit) -> float:
    """Speed in mph; negative values mean "unknown" in several clients (-1) and become 0."""
    return value * _TO_MPH[unit] if value > 0 else 0.0


def heading_degrees(value: float) -> float:
    """Heading in [0, 360); negative means unknown (iOS sends -1) and becomes 0."""
    if value < 0:
        return 0.0
    h = value % 360.0
    return 0.0 if h >= 360.0 else h  # 359.99999999999997 % 360 rounding guard


def parse_number(text: str, name: str) -> float:
    """A finite number from a query value; anything else is a DecodeError (bad_number)."""
    try:
        value = float(text)
    except ValueError:
        raise DecodeError("bad_number", name) from None
    if value - value or len(text) > MAX_NUMBER_CHARS:   # inf - inf and nan - nan are nan (true); 0.0 else
        raise DecodeError("bad_number", name)
    return value


def json_number(value: object, name: str) -> float:
    """A finite JSON number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError("bad_number", name)
    try:
        f = float(value)
    except OverflowError:
        raise DecodeError("bad_number", name) from None
    if not math.isfinite(f):
        raise DecodeError("bad_number", name)
    return f


def epoch_from_number(value: float) -> float:
    """Epoch seconds from a number that may be seconds or milliseconds (Traccar's rule)."""
    return value / 1000.0 if value >= EPOCH_SECONDS_LIMIT else value


def parse_timestamp(text: str) -> float:
    """Epoch seconds, epoch milliseconds, ISO 8601, or `yyyy-MM-dd HH:mm:ss` (taken as UTC)."""
    text = text.strip()
    if not text or len(text) > MAX_NUMBER_CHARS:
        raise DecodeError("bad_timestamp")
    if text[0].isdigit() and text.replace(".", "", 1).isdigit():
        return epoch_from_number(parse_number(text, "timestamp"))
    return parse_iso(text)


def parse_iso(text: str) -> float:
    """ISO 8601 (with Z, an offset, or none: then UTC) or `yyyy-MM-dd HH:mm:ss`, to epoch seconds."""
    if len(text) > MAX_NUMBER_CHARS:
        raise DecodeError("bad_timestamp")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise DecodeError("bad_timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
