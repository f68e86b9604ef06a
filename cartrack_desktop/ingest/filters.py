"""Position filters (pure), after Traccar's handler/FilterHandler: each with a default and a kind.

A fix is LIVE (moves the unit), LATE (older than the unit's newest fix: never moves the marker
back, kept for history), or REJECTED with a kind that is counted. Defaults (all options):

  invalid         the device says the fix is not valid (valid=false)                 on
  zero            exactly (0, 0): a GPS without a fix                               on
  future          fix time more than FUTURE_S (120 s) ahead of the server clock     120 s
  accuracy        reported accuracy worse than ACCURACY_MAX_M                       1000 m
  duplicate       same fix time as the unit's newest fix                            on
  min_period      closer than MIN_PERIOD_S to the newest fix (rate limit)           0.5 s
  teleport        implied speed from the newest fix above MAX_IMPLIED_SPEED_MPH     200 mph
                  (after TELEPORT_ACCEPT_AFTER refusals in a row the fix is taken: the
                  earlier fix was the wrong one, and a unit must never stay frozen)
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

from ..domain.geo import haversine_km

FUTURE_S = 120.0
ACCURACY_MAX_M = 1000.0
MIN_PERIOD_S = 0.5
MAX_IMPLIED_SPEED_MPH = 200.0
TELEPORT_ACCEPT_AFTER = 3
TELEPORT_MIN_DT_S = 1.0        # GPS jitter over fractions of a second is not a speed
MPH_PER_KM_PER_S = 3600.0 / 1.609344
KM_PER_DEGREE_MAX = 111.2   # a degree of latitude (or of longitude on the equator) on our sphere: 111.19 km

FilterKind = Literal["invalid", "zero", "future", "accuracy", "duplicate", "min_period", "teleport", "out_of_order"]


class Verdict(enum.Enum):
    LIVE = "live"
    LATE = "late"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class FilterOptions:
    """0 (or False) switches a filter off."""

    invalid: bool = True
    zero: bool = True
    duplicate: bool = True
    future_s: float = FUTURE_S
    accuracy_max_m: float = ACCURACY_MAX_M
    min_period_s: float = MIN_PERIOD_S
    max_implied_speed_mph: float = MAX_IMPLIED_SPEED_MPH
    keep_late: bool = True


@dataclass(slots=True)
class LastFix:
    """The unit's newest accepted fix (what the filters compare with)."""

    t: float
    lat: float
    lng: float
    teleports: int = 0     # teleport refusals in a row since


class Fix(NamedTuple):
    """One fix to judge (a NamedTuple: one is made per report, 10,000 a second)."""

    t: float
    lat: float
    lng: float
    valid: bool = True
    accuracy_m: float | None = None


def check(fix: Fix, last: LastFix | None, now: float, opts: FilterOptions) -> tuple[Verdict, FilterKind | None]:
    """The verdict and, for a rejection, its kind (None otherwise). Does not change `last`."""
    t, lat, lng, valid, accuracy_m = fix   # unpacked once: 10,000 fixes a second
    if opts.invalid and not valid:
        return Verdict.REJECTED, "invalid"
    if opts.zero and lat == 0.0 and lng == 0.0:
        return Verdict.REJECTED, "zero"
    if opts.future_s and t > now + opts.future_s:
        return Verdict.REJECTED, "future"
    if opts.accuracy_max_m and accuracy_m is not None and accuracy_m > opts.accuracy_max_m:
        return Verdict.REJECTED, "accuracy"
    if last is None:
        return Verdict.LIVE, None
    dt = t - last.t
    if dt == 0 and opts.duplicate:
        return Verdict.REJECTED, "duplicate"
    if dt < 0:
        return (Verdict.LATE, None) if opts.keep_late else (Verdict.REJECTED, "out_of_order")
    if opts.min_period_s and dt < opts.min_period_s:
        return Verdict.REJECTED, "min_period"
    if opts.max_implied_speed_mph and last.teleports + 1 < TELEPORT_ACCEPT_AFTER:
        limit_km = opts.max_implied_speed_mph * max(dt, TELEPORT_MIN_DT_S) / MPH_PER_KM_PER_S
        # cheap bound first (most fixes move a few metres): the great-circle distance is at most
        # KM_PER_DEGREE x (|dlat| + |dlng|), since a degree of longitude is never longer than one of latitude
        if (abs(lat - last.lat) + abs(lng - last.lng)) * KM_PER_DEGREE_MAX > limit_km:
            km = haversine_km(last.lat, last.lng, lat, lng)
            if km > limit_km and math.isfinite(km):
                return Verdict.REJECTED, "teleport"
    return Verdict.LIVE, None


def advance(last: LastFix | None, fix: Fix, verdict: Verdict, kind: FilterKind | None) -> LastFix | None:
    """The state after a verdict: a live fix becomes the newest; a teleport refusal is counted."""
    if verdict is Verdict.LIVE:
        return LastFix(fix.t, fix.lat, fix.lng)
    if kind == "teleport" and last is not None:
        return LastFix(last.t, last.lat, last.lng, last.teleports + 1)
    return last
