"""The road network as a CSR graph for scipy's Dijkstra, turn restrictions included.

Arcs are the network's directed edges, weighted by free-flow time. A turn restriction with a via node
(`no_left_turn`, `only_straight_on`...) cannot be expressed between plain junction nodes, so each
restricted junction gets one copy per edge arriving there, and each copy leaves only by the turns
allowed from that edge. Only restricted junctions are split (a few per city), so the graph stays the
size of the network. A search on the reversed graph from a point gives, in one run, the time from
every node to that point: the drive time of every unit at once.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..mapdata.roads import RoadNetwork

MIN_ARC_S = 0.01          # csgraph ignores explicit zeros in some paths: no arc is free
MIN_OFFSET_S = 1e-6


class RoadGraph:
    """Nodes: the network's junctions, then one copy per edge arriving at a restricted junction."""

    def __init__(self, net: RoadNetwork) -> None:
        n, tgt = net.n_nodes, net.edge_target.astype(np.int64)
        tail = net.edge_source.astype(np.int64)
        weight = np.maximum(net.edge_time_s.astype(np.float64), MIN_ARC_S)
        head = tgt.copy()
        via = np.unique(tgt[net.restriction_from_edge]) if net.restriction_from_edge.size else np.empty(0, np.int64)
        restricted_in = np.flatnonzero(np.isin(tgt, via))
        head[restricted_in] = n + np.arange(restricted_in.size)
        self.n_nodes = n + int(restricted_in.size)
        self.edge_head = head.astype(np.int32)   # arcs of edge e arrive here (a copy at a restricted junction)
        self.edge_weight = weight
        a_tail, a_head, a_edge = [tail], [head], [np.arange(net.n_edges, dtype=np.int64)]
        turns = _allowed_turns(net, restricted_in)
        if turns:
            t_from, t_to = np.array(turns, dtype=np.int64).T
            a_tail.append(head[t_from])
            a_head.append(head[t_to])
            a_edge.append(t_to)
        arc_tail, arc_head, arc_edge = (np.concatenate(x) for x in (a_tail, a_head, a_edge))
        order = np.argsort(arc_edge, kind="stable")
        self._edge_arc_tails = arc_tail[order].astype(np.int32)
        self._edge_arc_ptr = np.searchsorted(arc_edge[order], np.arange(net.n_edges + 1)).astype(np.int32)
        # parallel arcs (two ways joining the same junctions): the quicker one
        arc_w = weight[arc_edge]
        best = np.lexsort((arc_w, arc_head, arc_tail))
        keep = np.ones(best.size, dtype=bool)
        keep[1:] = (arc_tail[best][1:] != arc_tail[best][:-1]) | (arc_head[best][1:] != arc_head[best][:-1])
        best = best[keep]
        u, v, w, e = arc_tail[best], arc_head[best], arc_w[best], arc_edge[best]
        m = self.n_nodes
        fo = np.lexsort((v, u))
        self._fwd_edge = e[fo].astype(np.int32)     # arc k in (u, v) order is this edge
        self._arc_keys = u[fo] * (m + 1) + v[fo]     # sorted: entry k's (u, v) as one number
        ro = np.lexsort((u, v))
        rev = _csr(v[ro], u[ro], w[ro], m)
        # float32 kept (the search concatenates into a new float64 array anyway): half the memory
        self._rev_indptr, self._rev_indices, self._rev_data = rev.indptr, rev.indices, rev.data.astype(np.float32)

    def arc_tails(self, edge: int) -> np.ndarray:
        """Every node an arc of this edge leaves from (its tail, and copies that may turn onto it)."""
        return self._edge_arc_tails[self._edge_arc_ptr[edge]:self._edge_arc_ptr[edge + 1]]

    def edges_along(self, nodes: np.ndarray) -> np.ndarray:
        """The (quickest) edge of each arc nodes[i] -> nodes[i + 1] of a path, in one search."""
        keys = nodes[:-1].astype(np.int64) * (self.n_nodes + 1) + nodes[1:]
        k = np.searchsorted(self._arc_keys, keys)
        if np.any(k >= self._arc_keys.size) or np.any(self._arc_keys[np.minimum(k, self._arc_keys.size - 1)] != keys):
            raise KeyError("the path has a step that is not an arc")
        return np.asarray(self._fwd_edge[k])

    def to_point(self, sources: dict[int, float], limit_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(time to the point, next node towards it) for every node, by one Dijkstra on the reversed graph
        from a virtual node X; `sources` are the nodes from which the point is reached directly, with the time
        that last stretch takes. Index n_nodes is X; unreachable or beyond limit_s: inf, predecessor -9999."""
        m = self.n_nodes
        nodes = np.fromiter(sources.keys(), dtype=np.int32, count=len(sources))
        offsets = np.maximum(np.fromiter(sources.values(), dtype=np.float64, count=len(sources)), MIN_OFFSET_S)
        indptr = np.empty(m + 2, dtype=np.int32)
        indptr[:m + 1] = self._rev_indptr
        indptr[m + 1] = self._rev_indptr[-1] + nodes.size
        data = np.concatenate((self._rev_data, offsets))          # float64: offsets are
        g = csr_matrix((data, np.concatenate((self._rev_indices, nodes)), indptr),
                       shape=(m + 1, m + 1))
        dist, pred = dijkstra(g, directed=True, indices=m, limit=limit_s, return_predecessors=True)
        return dist, pred


def _csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, m: int) -> csr_matrix:
    """A CSR matrix from entries already sorted by (row, column), built as is (int32 indices, no summing)."""
    indptr = np.zeros(m + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    return csr_matrix((data.astype(np.float64), cols.astype(np.int32), indptr), shape=(m, m))


def _allowed_turns(net: RoadNetwork, restricted_in: np.ndarray) -> list[tuple[int, int]]:
    """(from edge, to edge) for every turn allowed out of a restricted junction (no_* removed, only_* kept alone)."""
    forbidden: set[tuple[int, int]] = set()
    only: dict[int, set[int]] = {}
    for f, t, is_only in zip(net.restriction_from_edge.tolist(), net.restriction_to_edge.tolist(),
                             net.restriction_only.tolist(), strict=True):
        if is_only:
            only.setdefault(f, set()).add(t)
        else:
            forbidden.add((f, t))
    turns: list[tuple[int, int]] = []
    indptr = net.indptr
    for e in restricted_in.tolist():
        v = int(net.edge_target[e])
        outs = range(int(indptr[v]), int(indptr[v + 1]))
        allowed = only.get(e)
        turns.extend((e, f) for f in outs if (f in allowed if allowed is not None else (e, f) not in forbidden))
    return turns
