"""Builds the search index (SQLite: FTS5 for names, R*Trees for reverse geocoding) from the collected records.

Tables (read by geocoder.Geocoder; the format is documented in the README):
  streets(id, name, norm, lat, lng, rank)                   one row per street (ways of one name that touch)
  intersections(id, a, b, label, lat, lng, cell)            two streets meeting (a < b, street ids)
  addresses(id, street_id, number, number_key, number_value, lat, lng, approximate, cell)
  places(id, name, kind, lat, lng)                          stations, hospitals, schools, named POIs, places
  names (FTS5: norm, kind, ref)                             street and place names, normalised (names.py)
  `cell` (indexed) is a ~280 m grid cell (cell_of): the nearest address/intersection is looked up in the
  cells around a point. An R*Tree did the same but took ~10 s to fill with the metro city's 435,000
  addresses; the indexed column takes ~1 s.
  meta(key, value)
"""

from __future__ import annotations

import itertools
import logging
import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import interpolation, schema
from .names import normalize
from .reader import Collected, NamedWay
from .tags import housenumber_value

log = logging.getLogger(__name__)

INDEX_SCHEMA_VERSION = 2
STREET_MERGE_DISTANCE_M = 150.0        # same-name pieces this close are one street (dual carriageways, gaps)
INTERSECTION_MERGE_DISTANCE_M = 80.0   # junction nodes of the same two streets this close are one intersection
ADDRESS_STREET_MAX_DISTANCE_M = 3_000.0
M_PER_DEG = 111_320.0
ADDRESS_ONLY_RANK = 99                 # a street known only from addr:street
CELL_DEG = 0.0025                      # grid cell for nearest-point lookups (~280 m north-south)
_CELL_ROW = 1_000_000                  # > 360 / CELL_DEG: cell = row * _CELL_ROW + column


def cell_of(lat: float, lng: float) -> int:
    return math.floor((lat + 90.0) / CELL_DEG) * _CELL_ROW + math.floor((lng + 180.0) / CELL_DEG)


def cells_around(lat: float, lng: float, radius_m: float) -> list[int]:
    """Every cell a circle of radius_m around the point touches."""
    dlat = radius_m / M_PER_DEG
    dlng = radius_m / (M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))
    rows = range(math.floor((lat - dlat + 90.0) / CELL_DEG), math.floor((lat + dlat + 90.0) / CELL_DEG) + 1)
    cols = range(math.floor((lng - dlng + 180.0) / CELL_DEG), math.floor((lng + dlng + 180.0) / CELL_DEG) + 1)
    return [r * _CELL_ROW + c for r in rows for c in cols]


@dataclass
class _Street:
    norm: str
    names: Counter[str]
    bbox: list[float]           # s, w, n, e
    points: list[np.ndarray]    # (k, 2) lat/lng arrays of its ways
    rank: int
    ways: list[int]             # indices into the named ways

    def point(self) -> tuple[float, float]:
        """The street's vertex nearest the middle of its extent: a point on the street to centre on."""
        pts = np.concatenate(self.points)
        clat, clng = (self.bbox[0] + self.bbox[2]) / 2, (self.bbox[1] + self.bbox[3]) / 2
        d = (pts[:, 0] - clat) ** 2 + ((pts[:, 1] - clng) * math.cos(math.radians(clat))) ** 2
        lat, lng = pts[int(np.argmin(d))]
        return float(lat), float(lng)


def _bbox_gap_m(a: list[float], b: list[float]) -> float:
    """Distance between two lat/lng boxes in metres (0 if they overlap)."""
    dlat = max(0.0, a[0] - b[2], b[0] - a[2]) * M_PER_DEG
    dlng = max(0.0, a[1] - b[3], b[1] - a[3]) * M_PER_DEG * math.cos(math.radians((a[0] + a[2]) / 2))
    return math.hypot(dlat, dlng)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def cluster_streets(ways: list[NamedWay]) -> tuple[list[_Street], np.ndarray]:
    """Group named ways into streets; returns the streets and each way's street index."""
    norms = [normalize(w.name) for w in ways]
    norm_ids = {n: i for i, n in enumerate(sorted(set(norms)))}
    way_norm = np.array([norm_ids[n] for n in norms], dtype=np.int64)
    uf = _UnionFind(len(ways))
    if ways:
        refs = np.concatenate([w.refs for w in ways])
        owner = np.repeat(np.arange(len(ways)), [len(w.refs) for w in ways])
        order = np.lexsort((owner, refs))
        r, o = refs[order], owner[order]
        same = (r[1:] == r[:-1]) & (way_norm[o[1:]] == way_norm[o[:-1]])
        for a, b in zip(o[:-1][same].tolist(), o[1:][same].tolist(), strict=True):
            uf.union(a, b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ways)):
        groups[uf.find(i)].append(i)
    pieces: dict[str, list[_Street]] = defaultdict(list)
    for members in groups.values():
        street = _piece(ways, members, norms[members[0]])
        pieces[street.norm].append(street)
    streets = [street for same_name in pieces.values() for street in _merge_close(same_name)]
    way_street = np.zeros(len(ways), dtype=np.int64)
    for k, street in enumerate(streets):
        way_street[street.ways] = k
    return streets, way_street


def _piece(ways: list[NamedWay], members: list[int], norm: str) -> _Street:
    lats = np.concatenate([ways[i].lat for i in members])
    lngs = np.concatenate([ways[i].lng for i in members])
    return _Street(norm=norm, names=Counter(ways[i].name for i in members),
                   bbox=[float(lats.min()), float(lngs.min()), float(lats.max()), float(lngs.max())],
                   points=[np.column_stack((ways[i].lat, ways[i].lng)) for i in members],
                   rank=min(ways[i].rank for i in members), ways=list(members))


def _merge_close(pieces: list[_Street]) -> list[_Street]:
    """Greedy merge of same-name pieces whose extents are within STREET_MERGE_DISTANCE_M."""
    out: list[_Street] = []
    for p in sorted(pieces, key=lambda s: (s.bbox[0], s.bbox[1])):
        for q in out:
            if _bbox_gap_m(p.bbox, q.bbox) <= STREET_MERGE_DISTANCE_M:
                q.names.update(p.names)
                q.points.extend(p.points)
                q.bbox = [min(q.bbox[0], p.bbox[0]), min(q.bbox[1], p.bbox[1]),
                          max(q.bbox[2], p.bbox[2]), max(q.bbox[3], p.bbox[3])]
                q.rank = min(q.rank, p.rank)
                q.ways.extend(p.ways)
                break
        else:
            out.append(p)
    return out


def find_intersections(ways: list[NamedWay], way_street: np.ndarray,
                       streets: list[_Street]) -> list[tuple[int, int, float, float]]:
    """(street a, street b, lat, lng) with a < b, one per meeting place of two streets."""
    if not ways:
        return []
    refs = np.concatenate([w.refs for w in ways])
    lats = np.concatenate([w.lat for w in ways])
    lngs = np.concatenate([w.lng for w in ways])
    owner_street = np.repeat(way_street, [len(w.refs) for w in ways])
    order = np.lexsort((owner_street, refs))
    refs, owner_street, lats, lngs = refs[order], owner_street[order], lats[order], lngs[order]
    # unique (node, street) pairs, then nodes with two or more streets
    keep = np.ones(len(refs), dtype=bool)
    keep[1:] = (refs[1:] != refs[:-1]) | (owner_street[1:] != owner_street[:-1])
    refs, owner_street, lats, lngs = refs[keep], owner_street[keep], lats[keep], lngs[keep]
    starts = np.flatnonzero(np.r_[True, refs[1:] != refs[:-1]])
    sizes = np.diff(np.r_[starts, len(refs)])
    found: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        ids = owner_street[start:start + size].tolist()
        lat, lng = float(lats[start]), float(lngs[start])
        for i in range(size):
            for j in range(i + 1, size):
                a, b = sorted((ids[i], ids[j]))
                if streets[a].norm != streets[b].norm:
                    found[(a, b)].append((lat, lng))
    out: list[tuple[int, int, float, float]] = []
    for (a, b), points in found.items():
        for lat, lng in _cluster_points(points, INTERSECTION_MERGE_DISTANCE_M):
            out.append((a, b, lat, lng))
    return out


def _cluster_points(points: list[tuple[float, float]], within_m: float) -> list[tuple[float, float]]:
    """Greedy clusters of nearby points, each replaced by its mean."""
    clusters: list[list[tuple[float, float]]] = []
    for p in points:
        for c in clusters:
            lat0, lng0 = c[0]
            d = math.hypot((p[0] - lat0) * M_PER_DEG, (p[1] - lng0) * M_PER_DEG * math.cos(math.radians(lat0)))
            if d <= within_m:
                c.append(p)
                break
        else:
            clusters.append([p])
    return [(sum(q[0] for q in c) / len(c), sum(q[1] for q in c) / len(c)) for c in clusters]


def expand_interpolations(c: Collected) -> list[tuple[str, str, float, float]]:
    """Addresses between the numbered nodes of interpolation ways (number, street, lat, lng), all approximate."""
    out: list[tuple[str, str, float, float]] = []
    for scheme, way_street, refs, coords in c.interpolations:
        numbered = [(k, c.address_nodes[r]) for k, r in enumerate(refs) if r in c.address_nodes]
        for (ka, a), (kb, b) in itertools.pairwise(numbered):
            na, nb = housenumber_value(a[0]), housenumber_value(b[0])
            street = way_street or a[1] or b[1]
            if na is None or nb is None or not street or kb <= ka:
                continue
            for p in interpolation.expand_interpolation_way(na, nb, scheme, coords[ka:kb + 1]):
                out.append((str(p.number), street, p.lat, p.lng))
    return out


class IndexWriter:
    """Writes search.sqlite in one transaction (journal off: a failed build is thrown away whole)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)   # transactions are explicit
        self.db.executescript("""
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=4096;
            CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE streets(id INTEGER PRIMARY KEY, name TEXT NOT NULL, norm TEXT NOT NULL,
                                 lat REAL NOT NULL, lng REAL NOT NULL, rank INTEGER NOT NULL);
            CREATE TABLE intersections(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL,
                                       label TEXT NOT NULL, lat REAL NOT NULL, lng REAL NOT NULL,
                                       cell INTEGER NOT NULL);
            CREATE TABLE addresses(id INTEGER PRIMARY KEY, street_id INTEGER NOT NULL, number TEXT NOT NULL,
                                   number_key TEXT NOT NULL, number_value INTEGER, lat REAL NOT NULL,
                                   lng REAL NOT NULL, approximate INTEGER NOT NULL, cell INTEGER NOT NULL);
            CREATE TABLE places(id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                                lat REAL NOT NULL, lng REAL NOT NULL);
            CREATE VIRTUAL TABLE names USING fts5(norm, kind UNINDEXED, ref UNINDEXED,
                                                  tokenize='unicode61', prefix='1 2 3');
        """)
        self.db.execute("BEGIN")

    def close(self, counts: dict[str, int]) -> None:
        self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                            [("schema_version", str(INDEX_SCHEMA_VERSION)),
                             *((f"count_{k}", str(v)) for k, v in counts.items())])
        self.db.execute("COMMIT")   # not in executescript: before 3.12 it commits by itself first
        self.db.executescript("""
            CREATE INDEX addresses_street_key ON addresses(street_id, number_key);
            CREATE INDEX addresses_street_value ON addresses(street_id, number_value);
            CREATE INDEX intersections_ab ON intersections(a, b);
            CREATE INDEX addresses_cell ON addresses(cell);
            CREATE INDEX intersections_cell ON intersections(cell);
            INSERT INTO names(names) VALUES ('optimize');
            CREATE VIRTUAL TABLE names_vocab USING fts5vocab(names, 'row');
        """)
        self.db.close()


def _street_rows(streets: list[_Street]) -> Iterable[tuple[int, str, str, float, float, int]]:
    for k, s in enumerate(streets):
        lat, lng = s.point()
        yield k, s.names.most_common(1)[0][0], s.norm, lat, lng, s.rank


def build_search_index(c: Collected, path: Path, progress: Callable[[float], None] | None = None) -> dict[str, int]:
    """Write the index for the collected records; returns counts for the manifest."""
    report = progress or (lambda _f: None)
    streets, way_street = cluster_streets(c.named_ways)
    report(0.2)
    crossings = find_intersections(c.named_ways, way_street, streets)
    report(0.35)
    addresses, streets = _link_addresses(c, streets)
    report(0.6)
    w = IndexWriter(path)
    w.db.executemany("INSERT INTO streets VALUES (?, ?, ?, ?, ?, ?)", _street_rows(streets))
    w.db.executemany("INSERT INTO names(norm, kind, ref) VALUES (?, 's', ?)",
                     ((s.norm, k) for k, s in enumerate(streets)))
    labels = [s.names.most_common(1)[0][0] for s in streets]
    w.db.executemany("INSERT INTO intersections VALUES (?, ?, ?, ?, ?, ?, ?)",
                     ((k, a, b, " & ".join(sorted((labels[a], labels[b]))), lat, lng, cell_of(lat, lng))
                      for k, (a, b, lat, lng) in enumerate(crossings)))
    report(0.7)
    w.db.executemany("INSERT INTO addresses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", addresses)
    report(0.85)
    places = list(_dedupe_places(c.places))
    w.db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?)",
                     ((k, name, kind, lat, lng) for k, (name, kind, lat, lng) in enumerate(places)))
    w.db.executemany("INSERT INTO names(norm, kind, ref) VALUES (?, 'p', ?)",
                     ((normalize(f"{name} {schema.KIND_SEARCH_WORDS.get(kind, '')}"), k)
                      for k, (name, kind, _lat, _lng) in enumerate(places)))
    counts = {"streets": len(streets), "intersections": len(crossings), "addresses": len(addresses),
              "addresses_interpolated": sum(a[7] for a in addresses), "places": len(places)}
    w.close(counts)
    report(1.0)
    return counts


def _dedupe_places(places: list[tuple[str, str, float, float]]) -> Iterable[tuple[str, str, float, float]]:
    seen: set[tuple[str, str, int, int]] = set()
    for name, kind, lat, lng in places:
        key = (name, kind, round(lat * 2_000), round(lng * 2_000))   # same name and kind within ~50 m
        if key not in seen:
            seen.add(key)
            yield name, kind, lat, lng


AddressRow = tuple[int, int, str, str, int | None, float, float, int, int]


def _link_addresses(c: Collected, streets: list[_Street]) -> tuple[list[AddressRow], list[_Street]]:
    """Address rows linked to the nearest street of their addr:street name; streets known only from
    addresses are added (one per name and area), so their addresses are found too."""
    by_norm: dict[str, list[int]] = defaultdict(list)
    for k, s in enumerate(streets):
        by_norm[s.norm].append(k)
    rows: list[AddressRow] = []
    seen: set[tuple[int, str]] = set()
    mapped = [(n, s, lat, lng, 0) for n, s, lat, lng in c.addresses]
    approx = [(n, s, lat, lng, 1) for n, s, lat, lng in expand_interpolations(c)]
    norms: dict[str, str] = {}    # a street's name repeats for each of its addresses: normalise it once
    for number, street_name, lat, lng, approximate in mapped + approx:
        norm = norms.get(street_name)
        if norm is None:
            norm = norms[street_name] = normalize(street_name)
        if not norm:
            continue
        sid = _nearest_street(streets, by_norm.get(norm, []), lat, lng)
        if sid is None:
            sid = _address_only_street(streets, by_norm, norm, street_name, lat, lng)
        elif streets[sid].rank == ADDRESS_ONLY_RANK:
            grown = streets[sid]
            grown.bbox = [min(grown.bbox[0], lat), min(grown.bbox[1], lng),
                          max(grown.bbox[2], lat), max(grown.bbox[3], lng)]
            grown.points.append(np.array([[lat, lng]]))
        key = number.replace(" ", "").lower()
        if (sid, key) in seen:
            continue   # the same number mapped twice (node and building); the first wins
        seen.add((sid, key))
        rows.append((len(rows), sid, number, key, housenumber_value(number), lat, lng, approximate,
                     cell_of(lat, lng)))
    return rows, streets


def _nearest_street(streets: list[_Street], candidates: list[int], lat: float, lng: float) -> int | None:
    best, best_d = None, ADDRESS_STREET_MAX_DISTANCE_M
    for k in candidates:
        d = _bbox_gap_m(streets[k].bbox, [lat, lng, lat, lng])
        if d <= best_d:
            best, best_d = k, d
    return best


def _address_only_street(streets: list[_Street], by_norm: dict[str, list[int]], norm: str, name: str,
                         lat: float, lng: float) -> int:
    street = _Street(norm=norm, names=Counter([name]), bbox=[lat, lng, lat, lng],
                     points=[np.array([[lat, lng]])], rank=ADDRESS_ONLY_RANK, ways=[])
    streets.append(street)
    by_norm[norm].append(len(streets) - 1)
    return len(streets) - 1
