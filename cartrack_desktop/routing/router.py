"""Drive times and routes on the road network: one reversed search from a point serves every unit.

`Router.tree(lat, lng, limit_s)` runs one Dijkstra on the reversed graph from the point (an incident):
the time from every junction to it, and the next junction on the way. A unit's drive time is then the
rest of its own road stretch plus its next junction's time (no search per unit), and its route is read
off the same tree, so the Nearby ranking, the route drawn on the map and the route a simulated unit
drives always agree. Times are free-flow: each road at its speed limit (or its class's default speed),
no traffic, no junction delays.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..mapdata.roads import RoadNetwork
from .frame import LocalFrame
from .graph import RoadGraph
from .snap import Snapped, Snapper

DEFAULT_CUTOFF_S = 15 * 60.0
UNIT_TOLERANCE_M = 60.0        # a fix farther than this from any road is "off-road"
SCENE_TOLERANCE_M = 500.0      # an incident may be inside a park or a building: the nearest road serves it
TREE_CACHE = 8


class Reach(enum.IntEnum):
    REACHED = 0
    BEYOND_CUTOFF = 1       # on the network and connected, but farther than the cutoff
    OFF_ROAD = 2            # the fix is not near any road
    NO_ROUTE = 3            # no road route to the point (disconnected network, one-way dead end)
    SCENE_OFF_ROAD = 4      # the point itself is not near any road


@dataclass(frozen=True)
class Route:
    """A unit's way to the point: its geometry (lat, lng), cumulative metres and free-flow seconds per point."""

    points: tuple[tuple[float, float], ...]
    cum_m: tuple[float, ...]
    cum_s: tuple[float, ...]
    edges: tuple[int, ...]
    end_frac: float             # where on the last edge the point lies (0..1)

    @property
    def distance_m(self) -> float:
        return self.cum_m[-1]

    @property
    def time_s(self) -> float:
        return self.cum_s[-1]


@dataclass(frozen=True)
class TargetTree:
    """One reversed search from a point: time to it from every node, and the next node towards it."""

    dist: np.ndarray
    pred: np.ndarray
    limit_s: float
    scene_edges: dict[int, float]        # edge -> fraction along it where the point is
    sources: dict[int, tuple[int, float]]  # node -> (scene edge entered from it, seconds from the node to the point)

    @property
    def reachable(self) -> bool:
        return bool(self.scene_edges)


@dataclass(frozen=True)
class DriveTimes:
    """Per unit: free-flow seconds to the point (inf if not reached), why not, and the distance of its fix
    to the nearest road (for 'off-road' reasons)."""

    time_s: np.ndarray
    reach: np.ndarray
    off_road_m: np.ndarray


class Router:
    """Thread-safe: the arrays are read-only; the tree cache has a lock."""

    def __init__(self, net: RoadNetwork) -> None:
        self.net = net
        self.frame = LocalFrame(float(np.mean(net.node_lat)), float(np.mean(net.node_lng)))
        self.graph = RoadGraph(net)
        self.snapper = Snapper(net, self.frame)
        self._cache: OrderedDict[tuple[float, float, float], TargetTree] = OrderedDict()
        self._lock = threading.Lock()

    def snap(self, lat: np.ndarray, lng: np.ndarray, heading: np.ndarray | None = None,
             speed_mph: np.ndarray | None = None, tolerance_m: float = UNIT_TOLERANCE_M) -> Snapped:
        return self.snapper.snap(lat, lng, heading, speed_mph, tolerance_m)

    # ---- the search ---------------------------------------------------------------------------------
    def tree(self, lat: float, lng: float, limit_s: float | None = None) -> TargetTree:
        """The reversed search from (lat, lng), up to limit_s seconds (None: the whole network); cached."""
        limit = np.inf if limit_s is None else float(limit_s)
        key = (round(lat, 7), round(lng, 7), limit)
        full = (key[0], key[1], np.inf)
        with self._lock:
            for k in (full, key):
                if k in self._cache:
                    self._cache.move_to_end(k)
                    return self._cache[k]
        tree = self._search(lat, lng, limit)
        with self._lock:
            self._cache[key] = tree
            while len(self._cache) > TREE_CACHE:
                self._cache.popitem(last=False)
        return tree

    def _search(self, lat: float, lng: float, limit: float) -> TargetTree:
        s = self.snapper.snap(np.array([lat]), np.array([lng]), tolerance_m=SCENE_TOLERANCE_M)
        g = self.graph
        scene: dict[int, float] = {}
        for edge, frac in ((int(s.edge[0]), float(s.frac[0])), (int(s.other[0]), 1.0 - float(s.frac[0]))):
            if edge >= 0:
                scene[edge] = frac
        sources: dict[int, tuple[int, float]] = {}
        for edge, frac in scene.items():
            offset = frac * float(g.edge_weight[edge])
            for node in g.arc_tails(edge).tolist():
                if node not in sources or offset < sources[node][1]:
                    sources[node] = (edge, offset)
        if not sources:
            empty = np.full(g.n_nodes + 1, np.inf)
            return TargetTree(empty, np.full(g.n_nodes + 1, -9999, dtype=np.int32), limit, {}, {})
        dist, pred = g.to_point({n: o for n, (_e, o) in sources.items()}, limit)
        return TargetTree(dist, pred, limit, scene, sources)

    # ---- drive times ----------------------------------------------------------------------------------
    def drive_times(self, tree: TargetTree, units: Snapped) -> np.ndarray:
        """Free-flow seconds from each snapped unit to the tree's point (inf: not reached, or off-road)."""
        best = self._times_via(tree, units.edge, units.frac)
        turn = units.other >= 0
        if turn.any():
            alt = self._times_via(tree, units.other, 1.0 - units.frac)
            best = np.where(turn, np.minimum(best, alt), best)
        return best

    def _times_via(self, tree: TargetTree, edge: np.ndarray, frac: np.ndarray) -> np.ndarray:
        g = self.graph
        on = edge >= 0
        e = np.where(on, edge, 0)
        w = g.edge_weight[e]
        t = (1.0 - frac) * w + tree.dist[g.edge_head[e]]
        for se, sf in tree.scene_edges.items():     # on the point's own road, before it: straight there
            direct = on & (edge == se) & (frac <= sf)
            t = np.where(direct, (sf - frac) * w, t)
        return np.where(on, t, np.inf)

    def rank(self, lat: float, lng: float, units: Snapped, cutoff_s: float = DEFAULT_CUTOFF_S,
             classify: bool = True) -> DriveTimes:
        """Drive times of snapped units to a point within cutoff_s; with classify, units not reached are told
        apart (beyond the cutoff, with their time, or no route at all) by a search of the whole network."""
        tree = self.tree(lat, lng, cutoff_s)
        times = self.drive_times(tree, units)
        reach = np.where(units.edge < 0, Reach.OFF_ROAD, np.where(times <= cutoff_s, Reach.REACHED, Reach.NO_ROUTE))
        if not tree.reachable:
            reach = np.full(times.shape, Reach.SCENE_OFF_ROAD)
        elif classify and np.any(reach == Reach.NO_ROUTE):
            full = self.drive_times(self.tree(lat, lng, None), units)
            late = (reach == Reach.NO_ROUTE) & np.isfinite(full)
            reach = np.where(late, Reach.BEYOND_CUTOFF, reach)
            times = np.where(late, full, times)
        return DriveTimes(np.where(reach <= Reach.BEYOND_CUTOFF, times, np.inf), reach.astype(np.int8),
                          units.dist_m)

    # ---- routes -----------------------------------------------------------------------------------------
    def route(self, tree: TargetTree, edge: int, frac: float) -> Route | None:
        """The way from a point `frac` along `edge` to the tree's point, read off the tree; None if none."""
        g = self.graph
        if edge < 0 or not tree.reachable:
            return None
        sf = tree.scene_edges.get(edge)
        if sf is not None and frac <= sf:
            return self._build([(edge, frac, sf)])
        virtual = g.n_nodes
        x = int(g.edge_head[edge])
        if not np.isfinite(tree.dist[x]):
            return None
        path = [x]
        pred = tree.pred
        for _ in range(g.n_nodes):
            nxt = int(pred[x])
            if nxt == virtual:
                scene_edge = tree.sources[x][0]
                inner = g.edges_along(np.array(path)).tolist() if len(path) > 1 else []
                return self._build([(edge, frac, 1.0), *((e, 0.0, 1.0) for e in inner),
                                    (scene_edge, 0.0, tree.scene_edges[scene_edge])])
            if nxt < 0:
                return None
            path.append(nxt)
            x = nxt
        return None

    def route_from(self, tree: TargetTree, units: Snapped, i: int = 0) -> Route | None:
        """Unit i's route (the quicker way round if it may turn round)."""
        a = self.route(tree, int(units.edge[i]), float(units.frac[i]))
        if units.other[i] < 0:
            return a
        b = self.route(tree, int(units.other[i]), 1.0 - float(units.frac[i]))
        if a is None or (b is not None and b.time_s < a.time_s):
            return b
        return a

    def route_to(self, scene: tuple[float, float], lat: float, lng: float, heading: float,
                 speed_mph: float) -> Route | None:
        """The route of a unit at this fix to the scene (None: off-road, or no road route)."""
        units = self.snap(np.array([lat]), np.array([lng]), np.array([heading]), np.array([speed_mph]))
        if units.edge[0] < 0:
            return None
        return self.route_from(self.tree(*scene), units)

    def _build(self, legs: list[tuple[int, float, float]]) -> Route:
        """Geometry and cumulative distance/time of the legs (edge, from fraction, to fraction): the first and
        last legs interpolated (they may be partial), the whole edges between gathered in one go."""
        sn = self.snapper
        lat_parts: list[np.ndarray] = []
        lng_parts: list[np.ndarray] = []
        rate_parts: list[np.ndarray] = []
        for k, (edge, f0, f1) in enumerate(legs):
            if k and k < len(legs) - 1:
                continue
            pts = sn.edge_points(edge, f0, f1)
            la, ln = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
            if k:
                la, ln = la[1:], ln[1:]          # the joint is the previous leg's last point
            if k == len(legs) - 1 and len(legs) > 2:
                il, iln, ir = self._inner([e for e, _a, _b in legs[1:-1]])
                lat_parts.append(il)
                lng_parts.append(iln)
                rate_parts.append(ir)
            lat_parts.append(la)
            lng_parts.append(ln)
            rate_parts.append(np.full(la.size, self._per_m(edge)))
        lat, lng = np.concatenate(lat_parts), np.concatenate(lng_parts)
        rate = np.concatenate(rate_parts)
        x, y = self.frame.xy(lat, lng)
        step = np.hypot(np.diff(x), np.diff(y))
        cum_m = np.concatenate(([0.0], np.cumsum(step)))
        cum_s = np.concatenate(([0.0], np.cumsum(step * rate[1:])))
        return Route(points=tuple(zip(lat.tolist(), lng.tolist(), strict=True)), cum_m=tuple(cum_m.tolist()),
                     cum_s=tuple(cum_s.tolist()), edges=tuple(e for e, _a, _b in legs), end_frac=legs[-1][2])

    def _per_m(self, edge: int) -> float:
        seg_len = float(self.snapper.seg_len[int(self.net.edge_segment[edge])])
        return float(self.graph.edge_weight[edge]) / seg_len if seg_len > 0 else 0.0

    def _inner(self, edges: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The points of whole edges driven one after another (each without its first point, which is the
        previous edge's last), and the seconds per metre of the step into each point."""
        net, sn = self.net, self.snapper
        e = np.array(edges, dtype=np.int64)
        seg = net.edge_segment[e].astype(np.int64)
        a, b = net.segment_geom_start[seg].astype(np.int64), net.segment_geom_end[seg].astype(np.int64)
        n = b - a                                    # points per edge, first one left out
        rev = net.edge_reversed[e]
        leg = np.repeat(np.arange(e.size), n)
        k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + 1     # 1..n within each edge
        idx = np.where(rev[leg], b[leg] - k, a[leg] + k)
        seg_len = sn.seg_len[seg]
        per_m = np.where(seg_len > 0, self.graph.edge_weight[e] / np.where(seg_len > 0, seg_len, 1.0), 0.0)
        return net.geom_lat[idx], net.geom_lng[idx], per_m[leg]
