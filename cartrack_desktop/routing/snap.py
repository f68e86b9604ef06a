"""Snapping fixes to the road network: the nearest road within a tolerance, its direction from the heading.

A cKDTree holds points sampled every SAMPLE_M metres along every road piece (consecutive geometry points);
the K nearest samples give candidate pieces, each projected on exactly. Where two roads are about as near
(a junction, a divided road, an overpass) the heading decides: a direction of travel that disagrees with
the fix's heading costs up to HEADING_PENALTY_M metres. A unit too slow for its heading to mean anything
may drive either way along a two-way road (it can turn round).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..mapdata.roads import RoadNetwork
from .frame import LocalFrame, angle_between, bearing_deg

SAMPLE_M = 15.0
CANDIDATES = 8
HEADING_PENALTY_M = 30.0        # opposite heading: as if the road were 30 m farther
HEADING_MIN_MPH = 5.0           # slower than this, a GPS heading is noise


@dataclass(frozen=True)
class Snapped:
    """Per fix: the directed edge it is on (-1: no road within the tolerance), how far along it (0..1), the
    opposite edge where it may turn round (-1 if not), its distance to the road and the point on the road."""

    edge: np.ndarray
    frac: np.ndarray
    other: np.ndarray
    dist_m: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    bearing: np.ndarray         # the road's direction of travel there, along `edge`


class Snapper:
    def __init__(self, net: RoadNetwork, frame: LocalFrame) -> None:
        self.net, self.frame = net, frame
        self.px, self.py = frame.xy(net.geom_lat, net.geom_lng)
        start, end = net.segment_geom_start.astype(np.int64), net.segment_geom_end.astype(np.int64)
        per_seg = end - start
        first = np.zeros(per_seg.size + 1, dtype=np.int64)
        np.cumsum(per_seg, out=first[1:])
        self.piece_seg = np.repeat(np.arange(per_seg.size), per_seg)
        self.piece_p = start[self.piece_seg] + np.arange(first[-1]) - first[self.piece_seg]
        dx = self.px[self.piece_p + 1] - self.px[self.piece_p]
        dy = self.py[self.piece_p + 1] - self.py[self.piece_p]
        self.piece_len = np.hypot(dx, dy)
        self.piece_bearing = bearing_deg(dx, dy)
        cs = np.cumsum(self.piece_len)
        base = np.zeros(per_seg.size)
        has = per_seg > 0
        base[has] = cs[first[:-1][has]] - self.piece_len[first[:-1][has]]
        self.piece_along = cs - self.piece_len - base[self.piece_seg]     # along its segment, at its start
        self.seg_len = np.zeros(per_seg.size)
        np.add.at(self.seg_len, self.piece_seg, self.piece_len)
        self.seg_first_piece = first
        self.seg_fwd = np.full(per_seg.size, -1, dtype=np.int64)
        self.seg_bwd = np.full(per_seg.size, -1, dtype=np.int64)
        edges = np.arange(net.n_edges)
        self.seg_fwd[net.edge_segment[~net.edge_reversed]] = edges[~net.edge_reversed]
        self.seg_bwd[net.edge_segment[net.edge_reversed]] = edges[net.edge_reversed]
        k = np.maximum(1, np.ceil(self.piece_len / SAMPLE_M).astype(np.int64))
        self.sample_piece = np.repeat(np.arange(self.piece_len.size), k)
        sk = np.zeros(k.size + 1, dtype=np.int64)
        np.cumsum(k, out=sk[1:])
        frac = (np.arange(sk[-1]) - sk[self.sample_piece] + 0.5) / k[self.sample_piece]
        sp = self.piece_p[self.sample_piece]
        sx = self.px[sp] + (self.px[sp + 1] - self.px[sp]) * frac
        sy = self.py[sp] + (self.py[sp + 1] - self.py[sp]) * frac
        self.tree = cKDTree(np.column_stack((sx, sy)), balanced_tree=False)

    @property
    def samples(self) -> int:
        return int(self.sample_piece.size)

    def snap(self, lat: np.ndarray, lng: np.ndarray, heading: np.ndarray | None = None,
             speed_mph: np.ndarray | None = None, tolerance_m: float = 60.0) -> Snapped:
        """Snap n fixes at once (vectorised); heading/speed None: direction unknown (e.g. an incident)."""
        fx, fy = self.frame.xy(np.atleast_1d(lat), np.atleast_1d(lng))
        n = fx.size
        _d, idx = self.tree.query(np.column_stack((fx, fy)), k=CANDIDATES, distance_upper_bound=tolerance_m + SAMPLE_M)
        valid = idx < self.samples
        pc = self.sample_piece[np.where(valid, idx, 0)]
        p = self.piece_p[pc]
        ax, ay = self.px[p], self.py[p]
        dx, dy = self.px[p + 1] - ax, self.py[p + 1] - ay
        l2 = dx * dx + dy * dy
        t = np.clip(((fx[:, None] - ax) * dx + (fy[:, None] - ay) * dy) / np.where(l2 > 0, l2, 1.0), 0.0, 1.0)
        qx, qy = ax + t * dx, ay + t * dy
        dist = np.where(valid, np.hypot(fx[:, None] - qx, fy[:, None] - qy), np.inf)
        seg = self.piece_seg[pc]
        fwd, bwd = self.seg_fwd[seg], self.seg_bwd[seg]
        moving = np.zeros(n, dtype=bool)
        if heading is not None and speed_mph is not None:
            moving = (np.atleast_1d(speed_mph) >= HEADING_MIN_MPH) & np.isfinite(np.atleast_1d(heading))
        hd = np.atleast_1d(heading)[:, None] if heading is not None else np.zeros((n, 1))
        diff = angle_between(hd, self.piece_bearing[pc])
        pen_f = np.where(moving[:, None], HEADING_PENALTY_M * (1 - np.cos(np.radians(diff))) / 2, 0.0)
        pen_b = np.where(moving[:, None], HEADING_PENALTY_M - pen_f, 0.0)
        cost = np.concatenate((np.where(fwd >= 0, dist + pen_f, np.inf), np.where(bwd >= 0, dist + pen_b, np.inf)),
                              axis=1)
        j = np.argmin(cost, axis=1)
        rows = np.arange(n)
        c = j % CANDIDATES
        backward = j >= CANDIDATES
        best_dist = dist[rows, c]
        ok = np.isfinite(cost[rows, j]) & (best_dist <= tolerance_m)
        s = seg[rows, c]
        along = self.piece_along[pc[rows, c]] + t[rows, c] * np.sqrt(l2[rows, c])
        frac_way = np.clip(along / np.where(self.seg_len[s] > 0, self.seg_len[s], 1.0), 0.0, 1.0)
        edge = np.where(backward, bwd[rows, c], fwd[rows, c])
        other = np.where(backward, fwd[rows, c], bwd[rows, c])
        other = np.where(moving, -1, other)
        lat_s, lng_s = self.frame.latlng(qx[rows, c], qy[rows, c])
        bearing = (self.piece_bearing[pc[rows, c]] + np.where(backward, 180.0, 0.0)) % 360.0
        return Snapped(edge=np.where(ok, edge, -1), frac=np.where(backward, 1.0 - frac_way, frac_way),
                       other=np.where(ok, other, -1), dist_m=np.where(np.isfinite(best_dist), best_dist, np.inf),
                       lat=lat_s, lng=lng_s, bearing=bearing)

    def edge_points(self, edge: int, f0: float = 0.0, f1: float = 1.0) -> list[tuple[float, float]]:
        """The edge's geometry between fractions f0 <= f1 of its length, in its direction of travel."""
        net = self.net
        seg = int(net.edge_segment[edge])
        rev = bool(net.edge_reversed[edge])
        w0, w1 = (1.0 - f1, 1.0 - f0) if rev else (f0, f1)
        length = float(self.seg_len[seg])
        a0, a1 = w0 * length, w1 * length
        lo, hi = int(self.seg_first_piece[seg]), int(self.seg_first_piece[seg + 1])
        starts = self.piece_along[lo:hi]
        xs, ys = [], []
        x0, y0 = self._at(seg, a0, lo, hi)
        xs.append(x0)
        ys.append(y0)
        inner = np.flatnonzero((starts > a0) & (starts < a1))
        for k in inner.tolist():
            p = int(self.piece_p[lo + k])
            xs.append(float(self.px[p]))
            ys.append(float(self.py[p]))
        x1, y1 = self._at(seg, a1, lo, hi)
        xs.append(x1)
        ys.append(y1)
        lats, lngs = self.frame.latlng(np.array(xs), np.array(ys))
        pts = list(zip(lats.tolist(), lngs.tolist(), strict=True))
        return pts[::-1] if rev else pts

    def _at(self, seg: int, along: float, lo: int, hi: int) -> tuple[float, float]:
        k = lo + max(0, min(hi - lo - 1, int(np.searchsorted(self.piece_along[lo:hi], along, side="right")) - 1))
        p = int(self.piece_p[k])
        t = 0.0 if self.piece_len[k] <= 0 else min(1.0, max(0.0, (along - self.piece_along[k]) / self.piece_len[k]))
        return (float(self.px[p] + (self.px[p + 1] - self.px[p]) * t),
                float(self.py[p] + (self.py[p + 1] - self.py[p]) * t))
