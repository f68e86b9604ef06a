"""A synthetic city written as a real .osm.pbf with pyosmium's writer, small for tests, metro-sized for the bench.

A grid of named streets (east-west "1st St NE", "2nd St NE"...; north-south from a word list, with
"Peachtree St NE" in the middle), classed (primary every 10th line, secondary every 5th, residential
between), with one-ways both ways round (oneway=yes and oneway=-1), speeds tagged in mph on the main
roads; a river across the middle with a bridge every `bridge_every` columns; a motorway on the west
edge (implied one-way) with links; house numbers on every block face (some only as interpolation
ways), buildings, parks, police/fire stations, a hospital, schools, neighbourhoods and one turn
restriction. Everything is deterministic for given arguments.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import osmium
from osmium.osm import mutable

ORIGIN = (33.70, -84.45)              # south-west corner (lat, lng)
SPACING_M = 110.0                     # between parallel streets
RIVER_GAP_M = 160.0                   # extra width where the river runs
M_PER_DEG_LAT = 111_320.0
WORDS = ("Oak Elm Pine Maple Cedar Birch Walnut Cherry Spruce Willow Ash Poplar Magnolia Holly Laurel Hickory "
         "Chestnut Cypress Juniper Sycamore Aspen Alder Beech Linden Myrtle Hazel Sassafras Dogwood Redbud "
         "Mulberry Juniper2 Plum Peach Pecan Fig Olive Acorn Briar Clover Fern Heather Ivy Jasmine Lilac "
         "Lotus Orchid Rose Sage Tulip Violet Wisteria Yarrow Zinnia Aster Bluebell Camellia").split()
TYPES = ("Ave", "Way", "Dr", "Blvd")
PEACHTREE = "Peachtree St NE"
RIVER_NAME = "Chattahoochee River"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass
class CityInfo:
    """What the generated city contains, for tests to check against."""

    path: Path
    rows: int
    cols: int
    river_row: int                                  # the river runs between this row and the next
    bridge_cols: list[int]
    nodes: int = 0
    ways: int = 0
    relations: int = 0
    interpolated_blocks: list[tuple[int, int]] = field(default_factory=list)  # (row, col) of interpolation ways
    restriction: tuple[int, int, int] | None = None  # (from way, via node, to way)

    def col_name(self, c: int) -> str:
        return col_name(c, self.cols)

    def row_name(self, r: int) -> str:
        return row_name(r)

    def intersection(self, r: int, c: int) -> tuple[float, float]:
        return grid_point(r, c, self.river_row)


def row_name(r: int) -> str:
    return f"{ordinal(r + 1)} St NE"


def col_name(c: int, cols: int) -> str:
    if c == cols // 2:
        return PEACHTREE
    word = WORDS[c % len(WORDS)].rstrip("0123456789")
    kind = TYPES[(c // len(WORDS)) % len(TYPES)]
    return f"{word} {kind} NE"


def grid_point(r: float, c: float, river_row: int) -> tuple[float, float]:
    north_m = r * SPACING_M + (RIVER_GAP_M if r > river_row else 0.0)
    east_m = c * SPACING_M
    lat = ORIGIN[0] + north_m / M_PER_DEG_LAT
    lng = ORIGIN[1] + east_m / (M_PER_DEG_LAT * math.cos(math.radians(ORIGIN[0])))
    return lat, lng


def _offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (lat + north_m / M_PER_DEG_LAT,
            lng + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))))


def _line_class(i: int) -> str:
    return "primary" if i % 10 == 0 else "secondary" if i % 5 == 0 else "residential"


class _Writer:
    """Node ids in write order; ways and relations buffered (PBF wants nodes, then ways, then relations)."""

    def __init__(self, path: Path) -> None:
        self.w = osmium.SimpleWriter(str(path), overwrite=True)
        self.next_node = 1
        self.ways: list[tuple[list[int], dict[str, str]]] = []
        self.relations: list[tuple[list[tuple[str, int, str]], dict[str, str]]] = []

    def node(self, lat: float, lng: float, tags: dict[str, str] | None = None) -> int:
        nid = self.next_node
        self.next_node += 1
        self.w.add_node(mutable.Node(id=nid, location=osmium.osm.Location(lng, lat), tags=tags or {}))
        return nid

    def way(self, refs: list[int], tags: dict[str, str]) -> int:
        self.ways.append((refs, tags))
        return len(self.ways)

    def close(self) -> tuple[int, int, int]:
        for i, (refs, tags) in enumerate(self.ways, start=1):
            self.w.add_way(mutable.Way(id=i, nodes=refs, tags=tags))
        for i, (members, tags) in enumerate(self.relations, start=1):
            self.w.add_relation(mutable.Relation(id=i, members=members, tags=tags))
        self.w.close()
        return self.next_node - 1, len(self.ways), len(self.relations)


def _street_tags(name: str, klass: str, i: int, vertical: bool) -> dict[str, str]:
    tags = {"highway": klass, "name": name}
    if klass == "primary":
        tags["maxspeed"] = "35 mph"
    elif klass == "secondary" and i % 2 == 0:
        tags["maxspeed"] = "30 mph"
    elif klass == "residential" and i % 7 == 1:
        tags["maxspeed"] = "25 mph"
    if klass == "residential":
        if vertical and i % 6 == 3:
            tags["oneway"] = "yes"       # northbound (ways run south -> north)
        elif vertical and i % 6 == 4:
            tags["oneway"] = "-1"        # southbound
        elif not vertical and i % 4 == 2:
            tags["oneway"] = "yes"       # eastbound
    return tags


def build_city(path: Path, rows: int = 12, cols: int = 12, *, buildings: bool = True, addresses: bool = True,
               bridge_every: int = 5) -> CityInfo:
    """Write the city to path and describe it. rows=cols=224 gives >100,000 ways and >500,000 nodes."""
    river_row = rows // 2 - 1
    info = CityInfo(path=path, rows=rows, cols=cols, river_row=river_row,
                    bridge_cols=[c for c in range(cols) if c % bridge_every == bridge_every // 2 or c == cols // 2])
    w = _Writer(path)
    grid = [[w.node(*grid_point(r, c, river_row)) for c in range(cols)] for r in range(rows)]
    way_at: dict[tuple[str, int, int], int] = {}
    for r in range(rows):           # east-west streets, one way per block
        for c in range(cols - 1):
            mid = w.node(*grid_point(r, c + 0.5, river_row))
            way_at[("h", r, c)] = w.way([grid[r][c], mid, grid[r][c + 1]],
                                        _street_tags(row_name(r), _line_class(r), r, vertical=False))
    for c in range(cols):           # north-south streets; only bridges cross the river
        klass = "primary" if c == cols // 2 else _line_class(c)
        for r in range(rows - 1):
            if r == river_row and c not in info.bridge_cols:
                continue
            mid = w.node(*grid_point(r + 0.5, c, river_row))
            tags = _street_tags(col_name(c, cols), klass, c, vertical=True)
            if r == river_row:
                tags.update(bridge="yes", layer="1")
            way_at[("v", r, c)] = w.way([grid[r][c], mid, grid[r + 1][c]], tags)
    _motorway(w, grid, rows, river_row)
    _river(w, rows, cols, river_row)
    if addresses:
        _addresses(w, info, rows, cols)
    if buildings:
        _blocks(w, rows, cols, river_row)
    _pois(w, rows, cols, river_row)
    # one turn restriction: no left turn from the row-2 street eastbound onto column 2 northbound
    if rows > 3 and cols > 3 and ("v", 2, 2) in way_at:
        frm, to = way_at[("h", 2, 1)], way_at[("v", 2, 2)]
        w.relations.append(([("w", frm, "from"), ("n", grid[2][2], "via"), ("w", to, "to")],
                            {"type": "restriction", "restriction": "no_left_turn"}))
        info.restriction = (frm, grid[2][2], to)
    info.nodes, info.ways, info.relations = w.close()
    return info


def _motorway(w: _Writer, grid: list[list[int]], rows: int, river_row: int) -> None:
    """A northbound motorway two blocks west of the grid (no oneway tag: implied), with links every 10 rows."""
    refs = [w.node(*grid_point(r, -2, river_row)) for r in range(rows)]
    w.way(refs, {"highway": "motorway", "ref": "I 75", "name": "Downtown Connector"})
    for r in range(0, rows, 10):
        w.way([refs[r], grid[r][0]], {"highway": "motorway_link"})            # exit
        if r + 1 < rows:
            w.way([grid[r + 1][0], refs[r + 1]], {"highway": "motorway_link"})  # entry


def _river(w: _Writer, rows: int, cols: int, river_row: int) -> None:
    south = grid_point(river_row + 0.25, -3, river_row)[0]
    north = _offset(*grid_point(river_row, -3, river_row), RIVER_GAP_M + 0.75 * SPACING_M, 0)[0]
    west, east = grid_point(0, -3, river_row)[1], grid_point(0, cols + 2, river_row)[1]
    ring = [w.node(south, west), w.node(south, east), w.node(north, east), w.node(north, west)]
    w.way([*ring, ring[0]], {"natural": "water", "water": "river", "name": RIVER_NAME})
    mid = (south + north) / 2
    w.way([w.node(mid, west), w.node(mid, east)], {"waterway": "river", "name": RIVER_NAME})


def _faces(rows: int, cols: int) -> Iterator[tuple[int, int]]:
    for r in range(rows):
        for c in range(cols - 1):
            yield r, c


def _addresses(w: _Writer, info: CityInfo, rows: int, cols: int) -> None:
    """House numbers along the east-west streets: block (c+1)*100, even north side, odd south side."""
    for r, c in _faces(rows, cols):
        street = row_name(r)
        base = (c + 1) * 100
        a = grid_point(r, c, info.river_row)
        b = grid_point(r, c + 1, info.river_row)
        interpolated = (r * 31 + c * 17) % 7 == 3
        fractions = (0.2, 0.4, 0.6, 0.8)
        for side, parity_base, north_m in (("odd", 1, -18.0), ("even", 2, 18.0)):
            pts = [_offset(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, north_m, 0.0) for f in fractions]
            numbers = [base + parity_base + 2 * k for k in range(len(fractions))]
            if interpolated and side == "even":
                first = w.node(*pts[0], {"addr:housenumber": str(numbers[0]), "addr:street": street})
                last_n = base + parity_base + 16
                last = w.node(*pts[-1], {"addr:housenumber": str(last_n), "addr:street": street})
                w.way([first, last], {"addr:interpolation": "even", "addr:street": street})
                info.interpolated_blocks.append((r, c))
                continue
            for (lat, lng), n in zip(pts, numbers, strict=True):
                w.node(lat, lng, {"addr:housenumber": str(n), "addr:street": street})


def _blocks(w: _Writer, rows: int, cols: int, river_row: int) -> None:
    """A building in every block (a park in some), inset from the streets."""
    for r in range(rows - 1):
        if r == river_row:
            continue
        for c in range(cols - 1):
            corners = [grid_point(r + dr, c + dc, river_row) for dr, dc in ((0.3, 0.3), (0.3, 0.7), (0.7, 0.7),
                                                                             (0.7, 0.3))]
            refs = [w.node(lat, lng) for lat, lng in corners]
            if (r * 7 + c * 3) % 23 == 0:
                tags = {"leisure": "park", "name": f"{WORDS[(r + c) % len(WORDS)].rstrip('0123456789')} Park"}
            else:
                tags = {"building": "yes"}
            w.way([*refs, refs[0]], tags)


def _pois(w: _Writer, rows: int, cols: int, river_row: int) -> None:
    k = 0
    for r in range(3, rows - 1, 20):
        for c in range(3, cols - 1, 20):
            k += 1
            lat, lng = grid_point(r + 0.5, c + 0.5, river_row)
            w.node(lat, lng, {"amenity": "police", "name": f"Zone {k} Police Precinct"})
            lat, lng = grid_point(r + 0.5, c + 1.5, river_row)
            w.node(lat, lng, {"amenity": "fire_station", "name": f"Fire Station {k}"})
            lat, lng = grid_point(r + 1.5, c + 0.5, river_row)
            w.node(lat, lng, {"amenity": "school", "name": f"{WORDS[k % len(WORDS)]} Elementary School"})
            w.node(*grid_point(r + 2, c + 2, river_row), {"place": "neighbourhood", "name": f"District {k}"})
    lat, lng = grid_point(1.5, 1.5, river_row)
    w.node(lat, lng, {"amenity": "hospital", "name": "Grady Memorial Hospital"})
