"""The drivable road network: built from the import's ways, stored as numpy arrays (roads.npz), loaded fast.

Graph nodes are junctions (nodes shared by two or more drivable ways, and way ends); an edge is a
directed stretch of road between two junctions, keeping the way's full geometry so a route can be
drawn and a position snapped along it. Format of roads.npz (uncompressed, loaded with
allow_pickle=False; N nodes, E directed edges, S segments, P geometry points, R restrictions):

  format_version        int64 scalar          ROADS_FORMAT_VERSION
  class_names           <U16 [C]              road class of code i (tags.ROAD_CLASSES)
  node_lat, node_lng    float64 [N]           junction positions
  node_osm_id           int64 [N]
  indptr                int64 [N+1]           CSR: edges leaving node i are indptr[i]:indptr[i+1]
  edge_target           int32 [E]             node the edge arrives at
  edge_length_m         float32 [E]           along the geometry
  edge_speed_kmh        float32 [E]           maxspeed (direction-specific where tagged), else class default
  edge_time_s           float32 [E]           free-flow time: length / speed
  edge_class            uint8 [E]             index into class_names
  edge_speed_tagged     bool [E]              speed came from a maxspeed tag
  edge_segment          int32 [E]             the segment whose geometry the edge follows
  edge_reversed         bool [E]              the edge runs against the segment's (the way's) direction
  segment_way_id        int64 [S]             OSM way id
  segment_name          int32 [S]             index into the names (-1: unnamed)
  segment_geom_start    int32 [S]             first geometry point (inclusive)...
  segment_geom_end      int32 [S]             ...and last (inclusive), in the way's direction
  geom_lat, geom_lng    float64 [P]           every drivable way's points, way after way
  names_utf8            uint8 [*]             street names, UTF-8, concatenated
  names_offsets         int64 [M+1]           name i is names_utf8[off[i]:off[i+1]]
  restriction_from_edge int32 [R]             turn restrictions at a junction (via a node): from this edge...
  restriction_to_edge   int32 [R]             ...onto this edge is forbidden (no_*) or the only way (only_*)
  restriction_only      bool [R]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .reader import RoadWay
from .tags import ROAD_CLASSES

log = logging.getLogger(__name__)

ROADS_FORMAT_VERSION = 1
EARTH_RADIUS_M = 6_371_008.8
MS_PER_KMH = 1.0 / 3.6


class RoadNetworkError(ValueError):
    """roads.npz is missing, unreadable, inconsistent or of another format version."""


@dataclass(frozen=True)
class RoadNetwork:
    """The arrays of roads.npz (see the module docstring) plus the edges' sources (derived from indptr)."""

    node_lat: np.ndarray
    node_lng: np.ndarray
    node_osm_id: np.ndarray
    indptr: np.ndarray
    edge_source: np.ndarray
    edge_target: np.ndarray
    edge_length_m: np.ndarray
    edge_speed_kmh: np.ndarray
    edge_time_s: np.ndarray
    edge_class: np.ndarray
    edge_speed_tagged: np.ndarray
    edge_segment: np.ndarray
    edge_reversed: np.ndarray
    segment_way_id: np.ndarray
    segment_name: np.ndarray
    segment_geom_start: np.ndarray
    segment_geom_end: np.ndarray
    geom_lat: np.ndarray
    geom_lng: np.ndarray
    names_utf8: np.ndarray
    names_offsets: np.ndarray
    restriction_from_edge: np.ndarray
    restriction_to_edge: np.ndarray
    restriction_only: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n_nodes(self) -> int:
        return int(self.node_lat.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_target.shape[0])

    def out_edges(self, node: int) -> range:
        return range(int(self.indptr[node]), int(self.indptr[node + 1]))

    def edge_geometry(self, edge: int) -> tuple[np.ndarray, np.ndarray]:
        """(lats, lngs) of an edge from its source to its target."""
        seg = int(self.edge_segment[edge])
        s, e = int(self.segment_geom_start[seg]), int(self.segment_geom_end[seg]) + 1
        lats, lngs = self.geom_lat[s:e], self.geom_lng[s:e]
        if self.edge_reversed[edge]:
            return lats[::-1], lngs[::-1]
        return lats, lngs

    def name(self, index: int) -> str:
        if index < 0:
            return ""
        return bytes(self.names_utf8[self.names_offsets[index]:self.names_offsets[index + 1]]).decode("utf-8")

    def edge_name(self, edge: int) -> str:
        return self.name(int(self.segment_name[self.edge_segment[edge]]))

    def edge_class_name(self, edge: int) -> str:
        return self.class_names[int(self.edge_class[edge])]


def _haversine_m(lat1: np.ndarray, lng1: np.ndarray, lat2: np.ndarray, lng2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lng2 - lng1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def build_road_network(ways: list[RoadWay], restrictions: list[tuple[int, int, int, str]], out: Path,
                       progress: Callable[[float], None] | None = None) -> dict[str, int]:
    """Build the network arrays and write roads.npz; returns counts for the manifest."""
    report = progress or (lambda _f: None)
    arrays, length_km = road_arrays(ways, restrictions, report)
    with open(out, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    report(1.0)
    return {"road_nodes": int(arrays["node_lat"].shape[0]), "road_edges": int(arrays["edge_target"].shape[0]),
            "road_segments": int(arrays["segment_way_id"].shape[0]),
            "turn_restrictions": int(arrays["restriction_from_edge"].shape[0]),
            "road_length_km": round(length_km)}


def road_arrays(ways: list[RoadWay], restrictions: list[tuple[int, int, int, str]],
                report: Callable[[float], None] = lambda _f: None) -> tuple[dict[str, np.ndarray], float]:
    """The arrays of roads.npz (and the road length in km), in memory: the import writes them, tests use them."""
    arrays = _segments(ways)
    report(0.4)
    arrays.update(_edges(ways, arrays))
    report(0.7)
    arrays.update(_restrictions(ways, restrictions, arrays))
    arrays.update(_names(ways, arrays))
    length_km = float(arrays["seg_length"].sum()) / 1000.0
    for key in ("way_index_of_segment", "seg_from", "seg_to", "seg_length"):
        arrays.pop(key)
    arrays["format_version"] = np.array(ROADS_FORMAT_VERSION, dtype=np.int64)
    arrays["class_names"] = np.array(ROAD_CLASSES, dtype="<U16")
    return arrays, length_km


def _segments(ways: list[RoadWay]) -> dict[str, np.ndarray]:
    """Split every way at junctions; segments index into the concatenated way geometry."""
    if not ways:
        raise RoadNetworkError("no drivable roads")
    sizes = np.array([len(w.refs) for w in ways], dtype=np.int64)
    refs = np.concatenate([w.refs for w in ways])
    lat = np.concatenate([w.lat for w in ways])
    lng = np.concatenate([w.lng for w in ways])
    way_index = np.repeat(np.arange(len(ways), dtype=np.int64), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ends = starts + sizes - 1
    _uniq, inverse, counts = np.unique(refs, return_inverse=True, return_counts=True)
    junction = counts[inverse] >= 2
    junction[starts] = True
    junction[ends] = True
    jpos = np.flatnonzero(junction)
    seg_start, seg_end = jpos[:-1], jpos[1:]
    keep = (way_index[seg_start] == way_index[seg_end]) & (refs[seg_start] != refs[seg_end])
    seg_start, seg_end = seg_start[keep], seg_end[keep]
    step = np.zeros(len(refs))
    same_way = way_index[1:] == way_index[:-1]
    step[1:] = np.where(same_way, _haversine_m(lat[:-1], lng[:-1], lat[1:], lng[1:]), 0.0)
    cum = np.cumsum(step)
    order = np.argsort(refs[jpos], kind="stable")
    sorted_refs = refs[jpos][order]
    node_ids = np.unique(sorted_refs)
    at = jpos[order[np.searchsorted(sorted_refs, node_ids)]]   # each junction's first occurrence
    return {
        "node_osm_id": node_ids, "node_lat": lat[at], "node_lng": lng[at],
        "geom_lat": lat, "geom_lng": lng,
        "segment_geom_start": seg_start.astype(np.int32), "segment_geom_end": seg_end.astype(np.int32),
        "segment_way_id": np.array([w.way_id for w in ways], dtype=np.int64)[way_index[seg_start]],
        "way_index_of_segment": way_index[seg_start],
        "seg_from": np.searchsorted(node_ids, refs[seg_start]), "seg_to": np.searchsorted(node_ids, refs[seg_end]),
        "seg_length": (cum[seg_end] - cum[seg_start]),
    }


def _edges(ways: list[RoadWay], a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Directed edges (forward where the way allows, backward where it allows), sorted by source: CSR."""
    wi = a["way_index_of_segment"]
    oneway = np.array([w.oneway for w in ways], dtype=np.int8)[wi]
    klass = np.array([w.klass for w in ways], dtype=np.uint8)[wi]
    fwd_kmh = np.array([w.fwd_kmh for w in ways], dtype=np.float32)[wi]
    bwd_kmh = np.array([w.bwd_kmh for w in ways], dtype=np.float32)[wi]
    tagged = np.array([w.speed_tagged for w in ways], dtype=bool)[wi]
    segs = np.arange(len(wi), dtype=np.int32)
    fwd, bwd = oneway >= 0, oneway <= 0
    src = np.concatenate((a["seg_from"][fwd], a["seg_to"][bwd]))
    dst = np.concatenate((a["seg_to"][fwd], a["seg_from"][bwd]))
    seg = np.concatenate((segs[fwd], segs[bwd]))
    rev = np.concatenate((np.zeros(int(fwd.sum()), dtype=bool), np.ones(int(bwd.sum()), dtype=bool)))
    speed = np.concatenate((fwd_kmh[fwd], bwd_kmh[bwd]))
    order = np.argsort(src, kind="stable")
    src, dst, seg, rev, speed = src[order], dst[order], seg[order], rev[order], speed[order]
    length = a["seg_length"][seg].astype(np.float32)
    n = a["node_osm_id"].shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, src + 1, 1)
    return {
        "indptr": np.cumsum(indptr), "edge_target": dst.astype(np.int32), "edge_length_m": length,
        "edge_speed_kmh": speed, "edge_time_s": (length / (speed * MS_PER_KMH)).astype(np.float32),
        "edge_class": klass[seg], "edge_speed_tagged": tagged[seg], "edge_segment": seg, "edge_reversed": rev,
    }


def _restrictions(ways: list[RoadWay], restrictions: list[tuple[int, int, int, str]],
                  a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Via-node restrictions as (from edge, to edge) pairs; via-way ones and those cut by the clip are left out."""
    node_ids = a["node_osm_id"]
    seg_way = a["segment_way_id"]
    edge_way = seg_way[a["edge_segment"]]
    edge_src = np.repeat(np.arange(node_ids.shape[0]), np.diff(a["indptr"]))
    frm: list[int] = []
    to: list[int] = []
    only: list[bool] = []
    for from_way, via, to_way, kind in restrictions:
        k = int(np.searchsorted(node_ids, via))
        if k >= node_ids.shape[0] or node_ids[k] != via:
            continue
        ins = np.flatnonzero((edge_way == from_way) & (a["edge_target"] == k))
        outs = np.flatnonzero((edge_way == to_way) & (edge_src == k))
        for e_in in ins.tolist():
            for e_out in outs.tolist():
                frm.append(e_in)
                to.append(e_out)
                only.append(kind.startswith("only_"))
    return {"restriction_from_edge": np.array(frm, dtype=np.int32), "restriction_to_edge": np.array(to, dtype=np.int32),
            "restriction_only": np.array(only, dtype=bool)}


def _names(ways: list[RoadWay], a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    table: dict[str, int] = {}
    way_name = np.array([table.setdefault(w.name, len(table)) if w.name else -1 for w in ways], dtype=np.int32)
    encoded = [name.encode("utf-8") for name in table]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return {"segment_name": way_name[a["way_index_of_segment"]],
            "names_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), "names_offsets": offsets}


_DTYPES: dict[str, str] = {
    "node_lat": "f8", "node_lng": "f8", "node_osm_id": "i8", "indptr": "i8", "edge_target": "i4",
    "edge_length_m": "f4", "edge_speed_kmh": "f4", "edge_time_s": "f4", "edge_class": "u1",
    "edge_speed_tagged": "b1", "edge_segment": "i4", "edge_reversed": "b1", "segment_way_id": "i8",
    "segment_name": "i4", "segment_geom_start": "i4", "segment_geom_end": "i4", "geom_lat": "f8", "geom_lng": "f8",
    "names_utf8": "u1", "names_offsets": "i8", "restriction_from_edge": "i4", "restriction_to_edge": "i4",
    "restriction_only": "b1",
}


def load_road_network(path: Path) -> RoadNetwork:
    """Load and check roads.npz (no pickles: the file cannot run code). RoadNetworkError if anything is off."""
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            if version != ROADS_FORMAT_VERSION:
                raise RoadNetworkError(f"{path}: road network format {version}, expected {ROADS_FORMAT_VERSION}")
            arrays = {k: z[k] for k in _DTYPES}
            class_names = tuple(str(x) for x in z["class_names"])
    except RoadNetworkError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise RoadNetworkError(f"{path}: not a readable road network ({exc})") from None
    return network_from_arrays(arrays, class_names, str(path))


def network_from_arrays(arrays: dict[str, np.ndarray], class_names: tuple[str, ...],
                        where: str = "road network") -> RoadNetwork:
    """A checked RoadNetwork from the arrays of roads.npz (as road_arrays makes them); RoadNetworkError if off."""
    arrays = {k: arrays[k] for k in _DTYPES}
    for key, dtype in _DTYPES.items():
        if arrays[key].dtype != np.dtype(dtype) or arrays[key].ndim != 1:
            raise RoadNetworkError(f"{where}: {key} has type {arrays[key].dtype}, expected {dtype}")
    _check(where, arrays)
    source = np.repeat(np.arange(arrays["node_lat"].shape[0], dtype=np.int32), np.diff(arrays["indptr"]))
    return RoadNetwork(edge_source=source, class_names=class_names, **arrays)


def _check(path: str, a: dict[str, np.ndarray]) -> None:
    """Sizes and index ranges agree, so nothing downstream indexes out of bounds."""
    n, e, s = a["node_lat"].shape[0], a["edge_target"].shape[0], a["segment_way_id"].shape[0]
    p = a["geom_lat"].shape[0]
    problems = [
        a["node_lng"].shape[0] != n or a["node_osm_id"].shape[0] != n,
        a["indptr"].shape[0] != n + 1 or (n >= 0 and a["indptr"].shape[0] and a["indptr"][-1] != e),
        bool(np.any(np.diff(a["indptr"]) < 0)),
        any(a[k].shape[0] != e for k in ("edge_length_m", "edge_speed_kmh", "edge_time_s", "edge_class",
                                         "edge_speed_tagged", "edge_segment", "edge_reversed")),
        e > 0 and (int(a["edge_target"].min()) < 0 or int(a["edge_target"].max()) >= n),
        e > 0 and (int(a["edge_segment"].min()) < 0 or int(a["edge_segment"].max()) >= s),
        any(a[k].shape[0] != s for k in ("segment_name", "segment_geom_start", "segment_geom_end")),
        s > 0 and (int(a["segment_geom_start"].min()) < 0 or int(a["segment_geom_end"].max()) >= p),
        a["geom_lng"].shape[0] != p,
        a["restriction_from_edge"].shape[0] != a["restriction_to_edge"].shape[0],
        a["restriction_from_edge"].size > 0 and int(max(a["restriction_from_edge"].max(),
                                                        a["restriction_to_edge"].max())) >= e,
        a["names_offsets"].size > 0 and int(a["names_offsets"][-1]) != a["names_utf8"].shape[0],
        s > 0 and int(a["segment_name"].max()) >= a["names_offsets"].shape[0] - 1,
        not bool(np.all(np.isfinite(a["edge_time_s"]))) if e else False,
    ]
    if any(problems):
        raise RoadNetworkError(f"{path}: road network arrays are inconsistent")
