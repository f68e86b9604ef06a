"""House-number interpolation; pure Python, no I/O.

Two cases, both flagged approximate wherever they are shown:
- an OSM interpolation way (addr:interpolation=odd|even|all|1|2) between two numbered end nodes: the
  numbers in between are placed along the way, spaced by length (Nominatim does the same);
- a number asked for that is not mapped at all: placed between the nearest mapped numbers of the same
  parity on that street.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..domain.geo import haversine_km

MAX_INTERPOLATED_PER_WAY = 500          # a hostile "1 .. 99999" way must not explode the index
MAX_GAP_FOR_QUERY_INTERPOLATION = 200   # numbers; beyond that two addresses are not "neighbours"
MAX_SPAN_FOR_QUERY_INTERPOLATION_M = 2_000.0


def _haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    return haversine_km(lat1, lng1, lat2, lng2) * 1000.0


@dataclass(frozen=True, slots=True)
class NumberedPoint:
    number: int
    lat: float
    lng: float


def interpolation_step(scheme: str) -> tuple[int, int | None] | None:
    """(step, parity or None) for an addr:interpolation value, None if unsupported (alphabetic, junk)."""
    s = scheme.strip().lower()
    if s == "odd":
        return 2, 1
    if s == "even":
        return 2, 0
    if s in ("all", "1"):
        return 1, None
    if s == "2":
        return 2, None
    return None


def point_along(coords: Sequence[tuple[float, float]], fraction: float) -> tuple[float, float]:
    """The (lat, lng) at a fraction of a polyline's length."""
    if len(coords) == 1:
        return coords[0]
    lengths = [_haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(coords)]
    total = sum(lengths)
    if total <= 0.0:
        return coords[0]
    target = min(max(fraction, 0.0), 1.0) * total
    for (a, b), seg in zip(itertools.pairwise(coords), lengths, strict=True):
        if target <= seg and seg > 0.0:
            t = target / seg
            return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
        target -= seg
    return coords[-1]


def expand_interpolation_way(start: int, end: int, scheme: str,
                             coords: Sequence[tuple[float, float]]) -> list[NumberedPoint]:
    """The numbers strictly between start and end, each at its place along the way."""
    step_parity = interpolation_step(scheme)
    if step_parity is None or start == end or len(coords) < 2:
        return []
    step, parity = step_parity
    lo, hi = min(start, end), max(start, end)
    if (hi - lo) // step > MAX_INTERPOLATED_PER_WAY:
        return []
    first = lo + step
    if parity is not None and first % 2 != parity:
        first += 1
    out: list[NumberedPoint] = []
    for n in range(first, hi, step):
        fraction = (n - start) / (end - start)   # measured from the way's first node, whichever number it has
        lat, lng = point_along(coords, fraction)
        out.append(NumberedPoint(n, lat, lng))
    return out


def between(target: int, known: Sequence[NumberedPoint]) -> NumberedPoint | None:
    """target placed between its nearest mapped neighbours of the same parity, or None if there are none."""
    same = [p for p in known if p.number % 2 == target % 2] or list(known)
    below = max((p for p in same if p.number < target), key=lambda p: p.number, default=None)
    above = min((p for p in same if p.number > target), key=lambda p: p.number, default=None)
    if below is None or above is None:
        return None
    if above.number - below.number > MAX_GAP_FOR_QUERY_INTERPOLATION:
        return None
    if _haversine_m(below.lat, below.lng, above.lat, above.lng) > MAX_SPAN_FOR_QUERY_INTERPOLATION_M:
        return None
    t = (target - below.number) / (above.number - below.number)
    lat = below.lat + (above.lat - below.lat) * t
    lng = below.lng + (above.lng - below.lng) * t
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return None
    return NumberedPoint(target, lat, lng)
