"""A synthetic fleet wandering inside Atlanta a few metres per tick: cheap, deterministic, valid."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from cartrack_desktop.domain.models import Position

LAT_MIN, LAT_MAX = 33.65, 33.89
LNG_MIN, LNG_MAX = -84.55, -84.29
CENTER = {"lat": 33.77, "lng": -84.42, "zoom": 12}   # the app's default zoom: ~95 % of the box on 1280x800
_M_PER_DEG = 111_320.0
_MPH = 0.44704


def bench_ids(n: int) -> list[str]:
    return [f"B-{i:05d}" for i in range(1, n + 1)]


class SyntheticFleet:
    """Units moving 4-12 m per 1 s tick on straight lines, bouncing off the box's edges."""

    def __init__(self, ids: Sequence[str], *, seed: int = 1) -> None:
        rnd = random.Random(seed)
        self.ids = list(ids)
        n = len(self.ids)
        self.lat = [rnd.uniform(LAT_MIN, LAT_MAX) for _ in range(n)]
        self.lng = [rnd.uniform(LNG_MIN, LNG_MAX) for _ in range(n)]
        self.hdg = [rnd.uniform(0.0, 359.9) for _ in range(n)]
        self.spd = [rnd.uniform(9.0, 27.0) for _ in range(n)]   # mph: 4-12 m/s

    def __len__(self) -> int:
        return len(self.ids)

    def step(self, dt_s: float = 1.0) -> None:
        lat, lng, hdg, spd = self.lat, self.lng, self.hdg, self.spd
        for i in range(len(lat)):
            d = spd[i] * _MPH * dt_s
            a = math.radians(hdg[i])
            la = lat[i] + d * math.cos(a) / _M_PER_DEG
            lo = lng[i] + d * math.sin(a) / (_M_PER_DEG * math.cos(math.radians(la)))
            if not (LAT_MIN <= la <= LAT_MAX and LNG_MIN <= lo <= LNG_MAX):
                hdg[i] = (hdg[i] + 180.0) % 360.0
                continue
            lat[i], lng[i] = la, lo

    def positions(self, ts: float) -> list[Position]:
        return [Position(cid, round(la, 6), round(lo, 6), round(s, 1), round(h, 1), ts)
                for cid, la, lo, s, h in zip(self.ids, self.lat, self.lng, self.spd, self.hdg, strict=True)]
