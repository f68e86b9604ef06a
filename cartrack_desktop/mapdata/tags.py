"""OSM tags -> the few typed facts the map needs; pure Python, no I/O.

OSM tags are untrusted text written by anyone: every string that leaves this module is cleaned
(control characters dropped, whitespace collapsed, length capped) and every number is range-checked.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Protocol

MAX_NAME_CHARS = 120          # longest street/place name kept (OSM allows 255; none is that long)
MAX_HOUSENUMBER_CHARS = 16
MAX_REF_CHARS = 32
KMH_PER_MPH = 1.609344
KMH_PER_KNOT = 1.852
MIN_SPEED_KMH = 3.0
MAX_SPEED_KMH = 200.0
WALK_SPEED_KMH = 6.0



class Tags(Protocol):
    """What is read from a tag list: a dict or pyosmium's TagList."""

    def get(self, key: str, default: str | None = None, /) -> str | None: ...


_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean_text(value: str | None, max_chars: int = MAX_NAME_CHARS) -> str:
    """A tag value safe to store and show: no control/format characters, single spaces, capped length."""
    if not value:
        return ""
    # fast path (most tags): printable, already NFC, single-spaced, short enough
    if (len(value) <= max_chars and value.isprintable() and "  " not in value and value[0] != " "
            and value[-1] != " " and (value.isascii() or unicodedata.is_normalized("NFC", value))):
        return value
    if len(value) > 4 * max_chars:          # don't normalise megabytes of junk
        value = value[: 4 * max_chars]
    value = unicodedata.normalize("NFC", value)
    out = "".join(" " if ch.isspace() else ch for ch in value
                  if ch.isspace() or unicodedata.category(ch) not in _CONTROL_CATEGORIES)
    return " ".join(out.split())[:max_chars].strip()


# Road classes of the drivable network, in order of importance; the index is the stored class code.
ROAD_CLASSES: tuple[str, ...] = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "road",
)
ROAD_CLASS_CODE: dict[str, int] = {name: i for i, name in enumerate(ROAD_CLASSES)}

# Free-flow speed when a way has no usable maxspeed (km/h). Urban-leaning, like OSRM's car profile
# discounted for a dispatcher's city: an ETA slightly long is safer than one too short.
DEFAULT_SPEED_KMH: dict[str, float] = {
    "motorway": 100.0, "motorway_link": 60.0, "trunk": 80.0, "trunk_link": 50.0,
    "primary": 60.0, "primary_link": 45.0, "secondary": 50.0, "secondary_link": 40.0,
    "tertiary": 40.0, "tertiary_link": 35.0, "unclassified": 35.0, "residential": 30.0,
    "living_street": 10.0, "service": 15.0, "road": 30.0,
}

# Implicit limits written as maxspeed=<country>:<zone>. Values from OSM's wiki table of default speed
# limits for the common zones; countries not listed fall back to the generic line.
_ZONE_SPEED_KMH: dict[str, float] = {
    "urban": 50.0, "rural": 90.0, "motorway": 120.0, "trunk": 100.0, "living_street": 20.0,
    "walk": WALK_SPEED_KMH, "school": 30.0, "pedestrian_zone": WALK_SPEED_KMH, "bicycle_road": 30.0,
}
_COUNTRY_ZONE_SPEED_KMH: dict[str, float] = {
    "FI:rural": 80.0, "DE:rural": 100.0, "DE:motorway": 130.0, "FR:rural": 80.0, "FR:motorway": 130.0,
    "GB:nsl_single": 60 * KMH_PER_MPH, "GB:nsl_dual": 70 * KMH_PER_MPH, "GB:motorway": 70 * KMH_PER_MPH,
    "UK:nsl_single": 60 * KMH_PER_MPH, "UK:nsl_dual": 70 * KMH_PER_MPH, "UK:motorway": 70 * KMH_PER_MPH,
    "SE:rural": 70.0, "NO:rural": 80.0, "DK:rural": 80.0, "RU:rural": 90.0, "IT:rural": 90.0,
    "NL:rural": 80.0, "AT:rural": 100.0, "CH:rural": 80.0, "ES:rural": 90.0, "PL:rural": 90.0,
}
_NUMBER_UNIT = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*(mph|km/h|kmh|kph|knots|kn)?\s*$", re.IGNORECASE)
_ZONE = re.compile(r"^([A-Z]{2}):(?:zone:?)?([a-z_]+|\d{1,3})$", re.IGNORECASE)


def parse_maxspeed(raw: str | None) -> float | None:
    """maxspeed tag -> km/h, or None when it says nothing usable (missing, "signals", "none", junk).

    Handles "50", "30 mph", "50 km/h", "walk", "FI:urban", "DE:zone30", "DE:zone:30", lists like
    "60;40" (the first value) and knots. Out-of-range values are rejected, not clamped.
    """
    if not raw:
        return None
    text = raw.strip()[:40]
    if ";" in text:
        text = text.split(";", 1)[0].strip()
    if text.lower() == "walk":
        return WALK_SPEED_KMH
    m = _NUMBER_UNIT.match(text)
    if m:
        value = float(m.group(1))
        unit = (m.group(2) or "km/h").lower()
        if unit == "mph":
            value *= KMH_PER_MPH
        elif unit in ("knots", "kn"):
            value *= KMH_PER_KNOT
        return value if MIN_SPEED_KMH <= value <= MAX_SPEED_KMH and math.isfinite(value) else None
    z = _ZONE.match(text)
    if z:
        country, zone = z.group(1).upper(), z.group(2).lower()
        if zone.isdigit():
            value = float(zone)
            return value if MIN_SPEED_KMH <= value <= MAX_SPEED_KMH else None
        specific = _COUNTRY_ZONE_SPEED_KMH.get(f"{country}:{zone}")
        return specific if specific is not None else _ZONE_SPEED_KMH.get(zone)
    return None  # "signals", "variable", "none", "implicit", junk: the class default applies


_NOT_FOR_CARS = frozenset({"no", "agricultural", "forestry"})


def road_class(tags: Tags) -> str | None:
    """The drivable class of a way, or None if a car cannot use it (footway, access=no, construction...)."""
    highway = tags.get("highway")
    if highway not in ROAD_CLASS_CODE:
        return None
    if tags.get("area") == "yes":
        return None
    for key in ("motor_vehicle", "motorcar", "vehicle", "access"):
        value = tags.get(key)
        if value is not None:
            # the most specific key decides (motorcar=yes overrides access=no); private stays in:
            # emergency vehicles use private roads
            return None if value in _NOT_FOR_CARS else highway
    return highway


def oneway_direction(tags: Tags) -> int | None:
    """1: only along the way, -1: only against it, 0: both ways, None: not routable (reversible lanes).

    Implied one-ways: roundabouts and circular junctions, motorways and their links, unless oneway=no.
    """
    value = (tags.get("oneway") or "").strip().lower()
    if value in ("yes", "true", "1"):
        return 1
    if value in ("-1", "reverse"):
        return -1
    if value in ("no", "false", "0"):
        return 0
    if value in ("reversible", "alternating"):
        return None  # direction changes by time of day: like OSRM, leave it out of routing
    if tags.get("junction") in ("roundabout", "circular"):
        return 1
    if tags.get("highway") in ("motorway", "motorway_link"):
        return 1
    return 0


def way_speeds_kmh(tags: Tags, klass: str) -> tuple[float, float, bool]:
    """(forward km/h, backward km/h, tagged): maxspeed[:forward|:backward] where usable, else the class default."""
    default = DEFAULT_SPEED_KMH[klass]
    both = parse_maxspeed(tags.get("maxspeed"))
    fwd = parse_maxspeed(tags.get("maxspeed:forward")) or both
    bwd = parse_maxspeed(tags.get("maxspeed:backward")) or both
    tagged = fwd is not None or bwd is not None
    return (fwd or default, bwd or default, tagged)


def housenumber(raw: str | None) -> str:
    """A cleaned addr:housenumber ("12", "12a", "12-14"), or "" if it is not a plausible one."""
    value = clean_text(raw, MAX_HOUSENUMBER_CHARS)
    return value if value and any(ch.isdigit() for ch in value) else ""


_LEADING_INT = re.compile(r"^\s*(\d{1,7})")


def housenumber_value(number: str) -> int | None:
    """The leading integer of a house number ("12a" -> 12), for ordering and interpolation."""
    m = _LEADING_INT.match(number)
    return int(m.group(1)) if m else None
