"""Road edges as plain Python values for the simulator's per-unit step (numpy scalars are slow one by one).

An edge's shape (points, cumulative metres, bearings) is made the first time a unit drives onto it and
kept in a bounded cache; per-edge and per-node facts the random walk needs are Python lists made once.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import NamedTuple

import numpy as np

from .frame import bearing_deg
from .router import Router

CACHE_EDGES = 60_000
KMH_PER_MPH = 1.609344


class EdgeShape(NamedTuple):
    lats: list[float]
    lngs: list[float]
    cum: list[float]            # metres from the edge's start at each point
    bearings: list[float]       # of each piece
    length: float
    road_mph: float             # free-flow speed of the road
    target: int                 # the junction it arrives at


class EdgeShapes:
    def __init__(self, router: Router) -> None:
        net = router.net
        self.router = router
        self._cache: dict[int, EdgeShape] = {}
        self.indptr: list[int] = net.indptr.tolist()
        self.target: list[int] = net.edge_target.tolist()
        self.segment: list[int] = net.edge_segment.tolist()
        self.node_lat: list[float] = net.node_lat.tolist()
        self.node_lng: list[float] = net.node_lng.tolist()
        self.klass: list[int] = net.edge_class.tolist()
        self.forbidden: set[tuple[int, int]] = set()
        self.only: dict[int, set[int]] = {}
        for f, t, o in zip(net.restriction_from_edge.tolist(), net.restriction_to_edge.tolist(),
                           net.restriction_only.tolist(), strict=True):
            if o:
                self.only.setdefault(f, set()).add(t)
            else:
                self.forbidden.add((f, t))
        lengths = np.maximum(net.edge_length_m.astype(np.float64), 0.0)
        self._cum_len: list[float] = np.cumsum(lengths).tolist()
        first, last = self._end_bearings()
        self.first_bearing: list[float] = first.tolist()
        self.last_bearing: list[float] = last.tolist()

    def _end_bearings(self) -> tuple[np.ndarray, np.ndarray]:
        """Bearing of each edge's first and last piece (for turn angles), vectorised over all edges."""
        net, sn = self.router.net, self.router.snapper
        seg = net.edge_segment.astype(np.int64)
        a, b = net.segment_geom_start[seg].astype(np.int64), net.segment_geom_end[seg].astype(np.int64)
        fwd_first = bearing_deg(sn.px[a + 1] - sn.px[a], sn.py[a + 1] - sn.py[a])
        fwd_last = bearing_deg(sn.px[b] - sn.px[b - 1], sn.py[b] - sn.py[b - 1])
        rev = net.edge_reversed
        first = np.where(rev, (fwd_last + 180.0) % 360.0, fwd_first)
        last = np.where(rev, (fwd_first + 180.0) % 360.0, fwd_last)
        return first, last

    def get(self, edge: int) -> EdgeShape:
        shape = self._cache.get(edge)
        if shape is None:
            if len(self._cache) >= CACHE_EDGES:
                self._cache.clear()
            shape = self._cache[edge] = self._make(edge)
        return shape

    def _make(self, edge: int) -> EdgeShape:
        """From the snapper's per-piece arrays: slices and tolist only (this runs as units reach new roads)."""
        net, sn = self.router.net, self.router.snapper
        seg = self.segment[edge]
        lo, hi = int(sn.seg_first_piece[seg]), int(sn.seg_first_piece[seg + 1])
        a, b = int(net.segment_geom_start[seg]), int(net.segment_geom_end[seg]) + 1
        length = float(sn.seg_len[seg])
        lats, lngs = net.geom_lat[a:b].tolist(), net.geom_lng[a:b].tolist()
        cum = sn.piece_along[lo:hi].tolist()
        cum.append(length)
        bearings = sn.piece_bearing[lo:hi].tolist()
        if net.edge_reversed[edge]:
            lats.reverse()
            lngs.reverse()
            cum = [length - c for c in reversed(cum)]
            bearings = [(x + 180.0) % 360.0 for x in reversed(bearings)]
        return EdgeShape(lats, lngs, cum, bearings, length, float(net.edge_speed_kmh[edge]) / KMH_PER_MPH,
                         self.target[edge])

    def out_edges(self, node: int) -> range:
        return range(self.indptr[node], self.indptr[node + 1])

    def turn_angle(self, a: int, b: int) -> float:
        """How sharply the road turns from edge a onto edge b (0 straight on, 180 a U-turn)."""
        d = abs(self.last_bearing[a] - self.first_bearing[b]) % 360.0
        return min(d, 360.0 - d)

    def allowed(self, a: int, b: int) -> bool:
        only = self.only.get(a)
        return (b in only) if only is not None else (a, b) not in self.forbidden

    def edge_by_length(self, u: float) -> int:
        """An edge picked with probability proportional to its length (u uniform in [0, 1))."""
        return min(len(self._cum_len) - 1, bisect_right(self._cum_len, u * self._cum_len[-1]))

    @staticmethod
    def flat_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
        """Short distances (beats), flat-earth: fast and close enough."""
        k = 111_195.0
        return math.hypot((lat2 - lat1) * k, (lng2 - lng1) * k * math.cos(math.radians(lat1)))
