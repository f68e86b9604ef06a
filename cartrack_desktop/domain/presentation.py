"""How units and incidents look to a dispatcher, defined once for the Python panels and the map page.

The page has no copy of these values: `page_values()` is written into the page's JSON config
block (mapgen/page.py) and the page script reads it at start. Pure Python, stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .dispatch import ASSIGNED, PRIORITIES
from .geo import COMPASS_POINTS
from .models import UnitStatus

FADE_AFTER_S = 15.0    # no update for this long: the unit is drawn faded
STALE_AFTER_S = 60.0   # no update for this long: drawn grey, "stale"

STATUS_COLORS: Mapping[UnitStatus, str] = MappingProxyType({
    UnitStatus.AVAILABLE: "#2e7d32",
    UnitStatus.DISPATCHED: "#f9a825",
    UnitStatus.EN_ROUTE: "#ef6c00",
    UnitStatus.ON_SCENE: "#c62828",
    UnitStatus.OUT_OF_SERVICE: "#607d8b",
})
STALE_COLOR = "#9e9e9e"

# Units with these statuses are never aggregated into a map cluster (nor are the tracked unit and
# units in alarm): a dispatcher must always see who is on the way and who is on scene.
NEVER_AGGREGATED: frozenset[UnitStatus] = ASSIGNED

# 1 = emergency ... 4 = routine (domain.dispatch.PRIORITIES)
PRIORITY_COLORS: Mapping[int, str] = MappingProxyType({1: "#b71c1c", 2: "#ef6c00", 3: "#f9a825", 4: "#607d8b"})
UNKNOWN_PRIORITY_COLOR = "#607d8b"


@dataclass(frozen=True, slots=True)
class AgeStep:
    """Ages below `below_s` (None: no bound) are written as age / per_s with `decimals`, then `unit`."""

    below_s: float | None
    per_s: float
    unit: str
    decimals: int


AGE_NOW_BELOW_S = 1.0   # a fix younger than this is "now"
AGE_STEPS = (
    AgeStep(below_s=90.0, per_s=1.0, unit="s", decimals=0),
    AgeStep(below_s=3600.0, per_s=60.0, unit="min", decimals=0),
    AgeStep(below_s=None, per_s=3600.0, unit="h", decimals=1),
)


def age_amount(age_s: float) -> str:
    """The age of a fix as an amount and unit ("12 s", "3 min", "1.5 h"); ages under 1 s are for the caller."""
    for step in AGE_STEPS:
        if step.below_s is None or age_s < step.below_s:
            return f"{age_s / step.per_s:.{step.decimals}f} {step.unit}"
    raise AssertionError("the last age step has no bound")   # pragma: no cover


def duration_text(seconds: float) -> str:
    """A drive time or ETA: "45 s", "4 min 05 s"."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s"


def page_values() -> dict[str, Any]:
    """Everything above as JSON data for the map page's config block (the page's only source)."""
    return {
        "statuses": [{"name": s.value, "label": s.label, "color": STATUS_COLORS[s]} for s in UnitStatus],
        "staleColor": STALE_COLOR,
        "priorityColors": {str(p): PRIORITY_COLORS[p] for p in PRIORITIES},
        "unknownPriorityColor": UNKNOWN_PRIORITY_COLOR,
        "compass": list(COMPASS_POINTS),
        "fadeAfterS": FADE_AFTER_S,
        "staleAfterS": STALE_AFTER_S,
        "neverAggregated": [s.value for s in UnitStatus if s in NEVER_AGGREGATED],
        "age": {
            "nowBelowS": AGE_NOW_BELOW_S,
            "steps": [{"belowS": s.below_s, "perS": s.per_s, "unit": s.unit, "decimals": s.decimals}
                      for s in AGE_STEPS],
        },
    }
