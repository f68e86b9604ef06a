"""Snapping fixes to the road network: the nearest road within a tolerance, its direction from the heading.

The spatial index is a uniform grid of CELL_M cells listing the road pieces (consecutive geometry points)
that pass through each cell: occupied cells only, as sorted keys with offsets into one int32 array
(~2 MB for a metro network, where a KD-tree over points sampled along the roads took ~35 MB and scipy's
spatial module besides). A fix's candidates are the pieces of the cells around it; each is projected on
exactly. The search starts at FIRST_RADIUS_M and widens, for the fixes not settled yet, up to the
tolerance: a fix is settled as soon as its best cost is within the searched radius, since a farther
piece cannot cost less than its distance. Hand-written rather than a library's index because the query
it needs (every piece within a radius, vectorised over 10,000 fixes, in int32 arrays) is a few numpy
lines over this grid; the KD-tree it replaces answered K nearest points and needed the dense sampling.

Where two roads are about as near (a junction, a divided road, an overpass) the heading decides: a
direction of travel that disagrees with the fix's heading costs up to HEADING_PENALTY_M metres. A unit
too slow for its heading to mean anything may drive either way along a two-way road (it can turn round).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mapdata.roads import RoadNetwork
from .frame import LocalFrame, angle_between, bearing_deg

CELL_M = 64.0                   # grid cell side
STEP_M = 16.0                   # a piece is registered in the cells of points this far apart along it
FIRST_RADIUS_M = 16.0           # the first search radius (a fix on its road is settled there), then doubled
REPORT_FACTOR = 4.0             # off-road fixes: how far (x tolerance) to look for the road to report
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


@dataclass(frozen=True)
class _Best:
    """The best candidate of each fix searched: its piece, projection, distance and direction."""

    piece: np.ndarray           # -1: none within the radius
    t: np.ndarray
    dist: np.ndarray
    cost: np.ndarray
    backward: np.ndarray


class Snapper:
    def __init__(self, net: RoadNetwork, frame: LocalFrame) -> None:
        self.net, self.frame = net, frame
        px, py = frame.xy(net.geom_lat, net.geom_lng)
        # metres in float32: millimetres within a metro area, half the memory (arithmetic with a fix is float64)
        self.px, self.py = px.astype(np.float32), py.astype(np.float32)
        start, end = net.segment_geom_start.astype(np.int64), net.segment_geom_end.astype(np.int64)
        per_seg = end - start
        first = np.zeros(per_seg.size + 1, dtype=np.int64)
        np.cumsum(per_seg, out=first[1:])
        piece_seg = np.repeat(np.arange(per_seg.size), per_seg)
        piece_p = start[piece_seg] + np.arange(first[-1]) - first[piece_seg]
        dx = px[piece_p + 1] - px[piece_p]
        dy = py[piece_p + 1] - py[piece_p]
        piece_len = np.hypot(dx, dy, dtype=np.float64)
        cs = np.cumsum(piece_len)
        base = np.zeros(per_seg.size)
        has = per_seg > 0
        base[has] = cs[first[:-1][has]] - piece_len[first[:-1][has]]
        self.seg_len = np.zeros(per_seg.size)
        np.add.at(self.seg_len, piece_seg, piece_len)
        self.piece_len = piece_len.astype(np.float32)
        self.piece_bearing = bearing_deg(dx, dy).astype(np.float32)
        self.piece_along = (cs - piece_len - base[piece_seg]).astype(np.float32)   # along its segment, at its start
        self.seg_first_piece = first.astype(np.int32)
        self.piece_seg, self.piece_p = piece_seg.astype(np.int32), piece_p.astype(np.int32)
        self.seg_fwd = np.full(per_seg.size, -1, dtype=np.int32)
        self.seg_bwd = np.full(per_seg.size, -1, dtype=np.int32)
        edges = np.arange(net.n_edges, dtype=np.int32)
        self.seg_fwd[net.edge_segment[~net.edge_reversed]] = edges[~net.edge_reversed]
        self.seg_bwd[net.edge_segment[net.edge_reversed]] = edges[net.edge_reversed]
        self._index_pieces(piece_p)

    def _index_pieces(self, piece_p: np.ndarray) -> None:
        """The grid: every cell a point of a piece (its ends, and every STEP_M between) falls in lists it."""
        n = self.piece_len.size
        k = np.maximum(1, np.ceil(self.piece_len / STEP_M)).astype(np.int64)
        piece = np.repeat(np.arange(n, dtype=np.int64), k + 1)
        first = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(k + 1, out=first[1:])
        frac = (np.arange(first[-1]) - first[piece]) / k[piece]
        p = piece_p[piece]
        x = self.px[p] + (self.px[p + 1] - self.px[p]) * frac
        y = self.py[p] + (self.py[p + 1] - self.py[p]) * frac
        self._x0 = float(x.min()) if x.size else 0.0
        self._y0 = float(y.min()) if y.size else 0.0
        cx = np.floor((x - self._x0) / CELL_M).astype(np.int64)
        cy = np.floor((y - self._y0) / CELL_M).astype(np.int64)
        self._nx = int(cx.max()) + 1 if cx.size else 1
        self._ny = int(cy.max()) + 1 if cy.size else 1
        pairs = np.unique((cx * self._ny + cy) * max(n, 1) + piece)
        keys = pairs // max(n, 1)
        cell_keys, starts = np.unique(keys, return_index=True)
        self.cell_keys = cell_keys.astype(np.int32 if self._nx * self._ny < 2**31 else np.int64)
        self.cell_ptr = np.append(starts, keys.size).astype(np.int32)
        self.cell_piece = (pairs % max(n, 1)).astype(np.int32)

    @property
    def index_entries(self) -> int:
        """(cell, piece) entries of the grid."""
        return int(self.cell_piece.size)

    def _candidates(self, fx: np.ndarray, fy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """(fix, piece) pairs, grouped by fix in order: every piece that may pass within `radius` of each fix
        (the pieces of the cells around it, padded by half the registration step)."""
        pad = radius + STEP_M / 2
        span = min(int(2 * pad // CELL_M) + 2, max(self._nx, self._ny))
        off = np.arange(span, dtype=np.int64)
        # each fix's cells: from the window's first to its last (clipped to the grid), in a span x span block
        x0 = np.maximum(np.floor((fx - pad - self._x0) / CELL_M), 0).astype(np.int64)
        y0 = np.maximum(np.floor((fy - pad - self._y0) / CELL_M), 0).astype(np.int64)
        x1 = np.minimum(np.floor((fx + pad - self._x0) / CELL_M), self._nx - 1).astype(np.int64)
        y1 = np.minimum(np.floor((fy + pad - self._y0) / CELL_M), self._ny - 1).astype(np.int64)
        cx = x0[:, None, None] + off[None, :, None]
        cy = y0[:, None, None] + off[None, None, :]
        inside = (cx <= x1[:, None, None]) & (cy <= y1[:, None, None])
        # in the index's own dtype: searchsorted would otherwise copy the whole index up to int64 per call
        key = np.where(inside, cx * self._ny + cy, -1).reshape(fx.size, -1).astype(self.cell_keys.dtype)
        pos = np.minimum(np.searchsorted(self.cell_keys, key), max(self.cell_keys.size - 1, 0))
        hit = (self.cell_keys[pos] == key) if self.cell_keys.size else np.zeros(key.shape, dtype=bool)
        lo = np.where(hit, self.cell_ptr[pos], 0).ravel()
        counts = np.where(hit, self.cell_ptr[np.minimum(pos + 1, self.cell_ptr.size - 1)], 0).ravel() - lo
        total = int(counts.sum())
        fix = np.repeat(np.repeat(np.arange(fx.size), key.shape[1]), counts)
        at = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
        return fix, self.cell_piece[at].astype(np.int64)

    def _best(self, fx: np.ndarray, fy: np.ndarray, hd: np.ndarray, moving: np.ndarray,
              radius: float) -> _Best:
        """Each fix's cheapest direction of travel on a piece within `radius` (distance + heading penalty)."""
        n = fx.size
        fix, pc = self._candidates(fx, fy, radius)
        p = self.piece_p[pc]
        ax, ay = self.px[p], self.py[p]
        dx, dy = self.px[p + 1] - ax, self.py[p + 1] - ay
        l2 = dx * dx + dy * dy
        qx0, qy0 = fx[fix] - ax, fy[fix] - ay
        t = np.clip((qx0 * dx + qy0 * dy) / np.where(l2 > 0, l2, 1.0), 0.0, 1.0)
        dist = np.hypot(qx0 - t * dx, qy0 - t * dy)
        seg = self.piece_seg[pc]
        mv = moving[fix]
        pen_f = np.where(mv, HEADING_PENALTY_M * (1 - np.cos(np.radians(angle_between(hd[fix],
                                                                                    self.piece_bearing[pc])))) / 2, 0.0)
        pen_b = np.where(mv, HEADING_PENALTY_M - pen_f, 0.0)
        near = dist <= radius
        cf = np.where(near & (self.seg_fwd[seg] >= 0), dist + pen_f, np.inf)
        cb = np.where(near & (self.seg_bwd[seg] >= 0), dist + pen_b, np.inf)
        cost = np.minimum(cf, cb)
        best = np.full(n, np.inf)
        np.minimum.at(best, fix, cost)
        chosen = np.flatnonzero(np.isfinite(cost) & (cost == best[fix]))
        fixes, first = np.unique(fix[chosen], return_index=True)     # ties: the first candidate
        k = chosen[first]
        out = _Best(np.full(n, -1, dtype=np.int64), np.zeros(n), np.full(n, np.inf), np.full(n, np.inf),
                    np.zeros(n, dtype=bool))
        out.piece[fixes], out.t[fixes], out.dist[fixes] = pc[k], t[k], dist[k]
        out.cost[fixes], out.backward[fixes] = cost[k], cb[k] < cf[k]
        return out

    def snap(self, lat: np.ndarray, lng: np.ndarray, heading: np.ndarray | None = None,
             speed_mph: np.ndarray | None = None, tolerance_m: float = 60.0) -> Snapped:
        """Snap n fixes at once (vectorised); heading/speed None: direction unknown (e.g. an incident)."""
        fx, fy = self.frame.xy(np.atleast_1d(lat), np.atleast_1d(lng))
        n = fx.size
        moving = np.zeros(n, dtype=bool)
        if heading is not None and speed_mph is not None:
            moving = (np.atleast_1d(speed_mph) >= HEADING_MIN_MPH) & np.isfinite(np.atleast_1d(heading))
        hd = np.atleast_1d(heading).astype(np.float64) if heading is not None else np.zeros(n)
        piece, t = np.full(n, -1, dtype=np.int64), np.zeros(n)
        dist, backward = np.full(n, np.inf), np.zeros(n, dtype=bool)
        todo = np.arange(n)
        radius = min(FIRST_RADIUS_M, tolerance_m)
        while todo.size:
            b = self._best(fx[todo], fy[todo], hd[todo], moving[todo], radius)
            done = (b.cost <= radius) | (radius >= tolerance_m)
            i = todo[done]
            piece[i], t[i], dist[i], backward[i] = b.piece[done], b.t[done], b.dist[done], b.backward[done]
            todo = todo[~done]
            radius = min(radius * 2, tolerance_m)
        off = piece < 0
        if off.any():       # not snapped: how far the nearest road is, for the dispatcher ("off-road, 80 m")
            far = self._best(fx[off], fy[off], hd[off], np.zeros(int(off.sum()), dtype=bool),
                             tolerance_m * REPORT_FACTOR)
            dist[off] = far.dist
        return self._result(fx, fy, piece, t, dist, backward, moving)

    def _result(self, fx: np.ndarray, fy: np.ndarray, piece: np.ndarray, t: np.ndarray, dist: np.ndarray,
                backward: np.ndarray, moving: np.ndarray) -> Snapped:
        ok = piece >= 0
        pc = np.where(ok, piece, 0)
        p = self.piece_p[pc]
        qx = np.where(ok, self.px[p] + t * (self.px[p + 1] - self.px[p]), fx)
        qy = np.where(ok, self.py[p] + t * (self.py[p + 1] - self.py[p]), fy)
        s = self.piece_seg[pc]
        along = self.piece_along[pc] + t * self.piece_len[pc]
        frac_way = np.clip(along / np.where(self.seg_len[s] > 0, self.seg_len[s], 1.0), 0.0, 1.0)
        fwd, bwd = self.seg_fwd[s].astype(np.int64), self.seg_bwd[s].astype(np.int64)
        edge = np.where(backward, bwd, fwd)
        other = np.where(moving, -1, np.where(backward, fwd, bwd))
        lat_s, lng_s = self.frame.latlng(qx, qy)
        bearing = (self.piece_bearing[pc] + np.where(backward, 180.0, 0.0)) % 360.0
        return Snapped(edge=np.where(ok, edge, -1), frac=np.where(backward, 1.0 - frac_way, frac_way),
                       other=np.where(ok, other, -1), dist_m=dist, lat=lat_s, lng=lng_s, bearing=bearing)
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
