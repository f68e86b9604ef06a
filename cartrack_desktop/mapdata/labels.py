"""Street-name lines for the tiles: each street's ways joined end to end, in a layer of their own.

OpenStreetMap cuts a street into many short ways (at junctions, bridges, lane or speed changes; the
synthetic city has one per block). A renderer writes a name along a single feature's line, and on a
60-100 m piece there is no room for it at zoom 15: most streets showed no name at all. So the import
also writes, per street name, its ways joined into the longest lines that run through nodes where
exactly two ways of that name meet (a fork or a dual carriageway stays separate), as the `road_labels`
layer: `kind` (the street's most important road kind), `name`, `min_zoom`. The map page labels roads
from this layer and draws them from `roads`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import IO

import numpy as np
import orjson

from . import schema
from .reader import NamedWay, line_geometry
from .tags import ROAD_CLASSES

LABEL_LAYER = "road_labels"


def label_lines(ways: Sequence[NamedWay]) -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
    """(name, best rank, lats, lngs) of every joined line, street by street."""
    by_name: dict[str, list[NamedWay]] = defaultdict(list)
    for w in ways:
        if len(w.refs) >= 2:
            by_name[w.name].append(w)
    for name, group in by_name.items():
        for chain in _chains(group):
            lats = np.concatenate([c[0] for c in chain])
            lngs = np.concatenate([c[1] for c in chain])
            yield name, min(c[2] for c in chain), lats, lngs


def _chains(ways: list[NamedWay]) -> Iterator[list[tuple[np.ndarray, np.ndarray, int]]]:
    """Ways joined through nodes where exactly two of them meet; each piece (lats, lngs, rank) in order."""
    ends: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(ways):
        ends[int(w.refs[0])].append(i)
        ends[int(w.refs[-1])].append(i)
    used = [False] * len(ways)
    for start in range(len(ways)):
        if used[start]:
            continue
        used[start] = True
        w = ways[start]
        pieces = [(w.lat, w.lng, w.rank)]
        head, tail = int(w.refs[-1]), int(w.refs[0])
        head = _extend(ways, ends, used, head, pieces, at_end=True)
        _extend(ways, ends, used, tail, pieces, at_end=False)
        yield pieces


def _extend(ways: list[NamedWay], ends: dict[int, list[int]], used: list[bool], node: int,
            pieces: list[tuple[np.ndarray, np.ndarray, int]], *, at_end: bool) -> int:
    """Grow the chain at `node` (its last piece's end, or its first piece's start) while the street continues."""
    while len(ends[node]) == 2:
        nxt = [j for j in ends[node] if not used[j]]
        if len(nxt) != 1:
            break
        j = nxt[0]
        used[j] = True
        w = ways[j]
        starts_here = int(w.refs[0]) == node
        if at_end:      # the way must start at the chain's end: reverse it if it ends there
            lat, lng = (w.lat, w.lng) if starts_here else (w.lat[::-1], w.lng[::-1])
            pieces.append((lat[1:], lng[1:], w.rank))                  # the shared node once
        else:           # the way must end at the chain's start
            lat, lng = (w.lat[::-1], w.lng[::-1]) if starts_here else (w.lat, w.lng)
            pieces.insert(0, (lat[:-1], lng[:-1], w.rank))
        node = int(w.refs[-1] if starts_here else w.refs[0])
    return node


def write_label_lines(out: IO[bytes], ways: Sequence[NamedWay]) -> int:
    """Append the `road_labels` features to the tiler's GeoJSON sequence; returns how many."""
    n = 0
    for name, rank, lats, lngs in label_lines(ways):
        road = schema.road_kind(ROAD_CLASSES[rank]) if rank < len(ROAD_CLASSES) else schema.road_kind("pedestrian")
        if road is None:
            continue
        kind, zoom = road
        props = {"kind": kind, "name": name, "min_zoom": zoom}
        out.write(b'{"type":"Feature","tippecanoe":{"layer":"' + LABEL_LAYER.encode() + b'","minzoom":'
                  + str(zoom).encode() + b'},"properties":' + orjson.dumps(props) + b',"geometry":'
                  + line_geometry(lats, lngs) + b"}\n")
        n += 1
    return n


