"""One pass over a (clipped) PBF with pyosmium: tile features, search records and drivable ways.

Tile features are streamed to a GeoJSON-sequence file for the tiler as they are read (bounded memory);
the search records and road ways are kept in compact lists for the index and network builders.
Every tag value that is kept is cleaned (tags.clean_text); coordinates come from osmium's location cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import osmium
import osmium.filter
import osmium.osm

from . import schema
from .tags import (
    MAX_REF_CHARS,
    ROAD_CLASS_CODE,
    clean_text,
    housenumber,
    oneway_direction,
    road_class,
    way_speeds_kmh,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY_OBJECTS = 20_000
COORD_DECIMALS = 7                     # ~1 cm; more digits only grow the GeoJSON

# Streets for search and intersections: named ways a dispatcher would name as a street
STREET_HIGHWAYS = frozenset(ROAD_CLASS_CODE) | {"pedestrian"}


@dataclass(slots=True)
class RoadWay:
    way_id: int
    refs: np.ndarray          # int64 node ids
    lat: np.ndarray           # float64
    lng: np.ndarray
    klass: int                # tags.ROAD_CLASSES index
    oneway: int               # 1, -1, 0
    fwd_kmh: float
    bwd_kmh: float
    speed_tagged: bool
    name: str


@dataclass(slots=True)
class NamedWay:
    name: str
    refs: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    rank: int                 # road class importance (lower is more important)


@dataclass
class Collected:
    """Everything the index and network builders need, from the one pass."""

    named_ways: list[NamedWay] = field(default_factory=list)
    addresses: list[tuple[str, str, float, float]] = field(default_factory=list)   # number, street, lat, lng
    address_nodes: dict[int, tuple[str, str, float, float]] = field(default_factory=dict)
    interpolations: list[tuple[str, str, list[int], list[tuple[float, float]]]] = field(default_factory=list)
    places: list[tuple[str, str, float, float]] = field(default_factory=list)        # name, kind, lat, lng
    road_ways: list[RoadWay] = field(default_factory=list)
    restrictions: list[tuple[int, int, int, str]] = field(default_factory=list)      # from way, via node, to, kind
    layer_counts: dict[str, int] = field(default_factory=dict)
    bounds: list[float] = field(default_factory=lambda: [90.0, 180.0, -90.0, -180.0])  # s, w, n, e
    objects: int = 0
    invalid_geometries: int = 0


class _FeatureSink:
    """GeoJSON sequence for tippecanoe: one feature per line, layer and minzoom in the `tippecanoe` member."""

    def __init__(self, out: IO[bytes], collected: Collected) -> None:
        self.out = out
        self.c = collected

    def write(self, layer: str, min_zoom: int, props: dict[str, Any], geometry: bytes | str) -> None:
        props = {k: v for k, v in props.items() if v not in ("", None, False)}
        props["min_zoom"] = min_zoom
        geom = geometry.encode() if isinstance(geometry, str) else geometry
        self.out.write(b'{"type":"Feature","tippecanoe":{"layer":"' + layer.encode() + b'","minzoom":'
                       + str(min_zoom).encode() + b'},"properties":' + orjson.dumps(props)
                       + b',"geometry":' + geom + b"}\n")
        self.c.layer_counts[layer] = self.c.layer_counts.get(layer, 0) + 1

    def address(self, number: str, lat: float, lng: float) -> None:
        """The commonest feature (a house number), written without the general path's dict work."""
        self.out.write(_ADDRESS_FEATURE % (orjson.dumps(number), lng, lat))
        self.c.layer_counts["buildings"] = self.c.layer_counts.get("buildings", 0) + 1

    def extend_bounds(self, lats: list[float], lngs: list[float]) -> None:
        b = self.c.bounds
        b[0] = min(b[0], *lats)
        b[1] = min(b[1], *lngs)
        b[2] = max(b[2], *lats)
        b[3] = max(b[3], *lngs)


_ADDRESS_FEATURE = (b'{"type":"Feature","tippecanoe":{"layer":"buildings","minzoom":%d},"properties":'
                    b'{"kind":"address","addr_housenumber":%%s,"min_zoom":%d},'
                    b'"geometry":{"type":"Point","coordinates":[%%.7f,%%.7f]}}\n') % (schema.ADDRESS_MIN_ZOOM,
                                                                                 schema.ADDRESS_MIN_ZOOM)


def line_geometry(lats: np.ndarray, lngs: np.ndarray) -> bytes:
    coords = np.round(np.column_stack((lngs, lats)), COORD_DECIMALS)
    return b'{"type":"LineString","coordinates":' + orjson.dumps(coords, option=orjson.OPT_SERIALIZE_NUMPY) + b"}"


def _point_geometry(lat: float, lng: float) -> bytes:
    return b'{"type":"Point","coordinates":[%.7f,%.7f]}' % (lng, lat)


class OsmReader:
    """Reads one file; `progress(fraction)` is called every PROGRESS_EVERY_OBJECTS objects."""

    def __init__(self, features_out: IO[bytes], progress: Callable[[int], None] | None = None) -> None:
        self.c = Collected()
        self.sink = _FeatureSink(features_out, self.c)
        self.progress = progress
        self.geojson = osmium.geom.GeoJSONFactory()

    def read(self, path: Path) -> Collected:
        fp = (osmium.FileProcessor(str(path))
              .with_locations()
              .with_areas()
              .with_filter(osmium.filter.EmptyTagFilter()))
        for obj in fp:
            self.c.objects += 1
            if self.progress is not None and self.c.objects % PROGRESS_EVERY_OBJECTS == 0:
                self.progress(self.c.objects)
            try:
                if isinstance(obj, osmium.osm.Node):
                    self._node(obj)
                elif isinstance(obj, osmium.osm.Way):
                    self._way(obj)
                elif isinstance(obj, osmium.osm.Area):
                    self._area(obj)
                elif isinstance(obj, osmium.osm.Relation):
                    self._relation(obj)
            except (osmium.InvalidLocationError, RuntimeError):
                self.c.invalid_geometries += 1   # a way or area cut by the clip, or broken in the source
        return self.c

    # --- nodes -------------------------------------------------------------------------------
    def _node(self, n: osmium.osm.Node) -> None:
        tags = n.tags    # TagList.get() costs ~1 µs a call (converting to a dict ~20 µs a tag): ask little
        if not n.location.valid():
            return
        lat, lng = n.location.lat, n.location.lon
        number = housenumber(tags.get("addr:housenumber"))
        if number:
            street = clean_text(tags.get("addr:street") or tags.get("addr:place"))
            self.c.address_nodes[n.id] = (number, street, lat, lng)
            if street:
                self.c.addresses.append((number, street, lat, lng))
            self.sink.address(number, lat, lng)
        name = clean_text(tags.get("name"))
        if not name and tags.get("amenity") not in schema.IMPORTANT_POIS:
            return   # unnamed: neither a place nor a poi worth a search entry
        place = schema.place_kind(tags) if name else None
        if place is not None:
            kind, detail, zoom = place
            self.c.places.append((name, detail, lat, lng))
            self.sink.write("places", zoom, {"kind": kind, "kind_detail": detail, "name": name},
                            _point_geometry(lat, lng))
            return
        self._poi(tags, name, lat, lng)

    def _poi(self, tags: osmium.osm.TagList, name: str, lat: float, lng: float) -> None:
        poi = schema.poi_kind(tags)
        if poi is None:
            return
        kind, zoom, important = poi
        if not name and not important:
            return
        self.c.places.append((name or schema.KIND_LABELS.get(kind, kind), kind, lat, lng))
        self.sink.write("pois", zoom, {"kind": kind, "name": name}, _point_geometry(lat, lng))

    # --- ways --------------------------------------------------------------------------------
    def _way(self, w: osmium.osm.Way) -> None:
        tags = w.tags
        highway = tags.get("highway")
        interpolation = tags.get("addr:interpolation")
        is_line = (highway is not None or interpolation is not None or tags.get("railway") in schema.RAIL_KINDS
                   or tags.get("waterway") in schema.WATERWAY_LINE_ZOOM)
        if not is_line or len(w.nodes) < 2:
            return
        refs_l: list[int] = []
        lats_l: list[float] = []
        lngs_l: list[float] = []
        for nd in w.nodes:
            loc = nd.location
            refs_l.append(nd.ref)
            lats_l.append(loc.lat)
            lngs_l.append(loc.lon)
        refs = np.array(refs_l, dtype=np.int64)
        lats = np.array(lats_l, dtype=np.float64)
        lngs = np.array(lngs_l, dtype=np.float64)
        if interpolation is not None:
            street = clean_text(tags.get("addr:street"))
            self.c.interpolations.append((clean_text(interpolation, 12), street, refs.tolist(),
                                          list(zip(lats.tolist(), lngs.tolist(), strict=True))))
            return
        self.sink.extend_bounds(lats_l, lngs_l)
        if highway is not None:
            self._highway(w.id, tags, highway, refs, lats, lngs)
        elif tags.get("railway") in schema.RAIL_KINDS:
            kind_detail = tags["railway"]
            self.sink.write("transit", schema.RAIL_KINDS[kind_detail],
                            {"kind": "rail", "kind_detail": kind_detail, "name": clean_text(tags.get("name"))},
                            line_geometry(lats, lngs))
        else:
            waterway = tags["waterway"]
            self.sink.write("water", schema.WATERWAY_LINE_ZOOM[waterway],
                            {"kind": waterway, "name": clean_text(tags.get("name"))}, line_geometry(lats, lngs))

    def _highway(self, way_id: int, tags: osmium.osm.TagList, highway: str, refs: np.ndarray, lats: np.ndarray,
                 lngs: np.ndarray) -> None:
        road = schema.road_kind(highway)
        name = clean_text(tags.get("name"))
        ref = clean_text(tags.get("ref"), MAX_REF_CHARS)
        klass = road_class(tags)
        oneway = oneway_direction(tags) if klass is not None else 0
        if road is not None:
            kind, zoom = road
            self.sink.write("roads", zoom, {
                "kind": kind, "kind_detail": highway, "name": name, "ref": ref,
                "oneway": bool(oneway), "is_link": highway.endswith("_link"),
                "is_bridge": tags.get("bridge", "no") != "no", "is_tunnel": tags.get("tunnel", "no") != "no",
            }, line_geometry(lats, lngs))
        if highway in STREET_HIGHWAYS and (name or ref):
            rank = ROAD_CLASS_CODE.get(highway, len(ROAD_CLASS_CODE))
            self.c.named_ways.append(NamedWay(name or ref, refs, lats, lngs, rank))
        if klass is not None and oneway is not None:
            fwd, bwd, tagged = way_speeds_kmh(tags, klass)
            self.c.road_ways.append(RoadWay(way_id, refs, lats, lngs, ROAD_CLASS_CODE[klass], oneway, fwd, bwd,
                                            tagged, name or ref))

    # --- areas (closed ways and multipolygons) -------------------------------------------------
    def _area(self, a: osmium.osm.Area) -> None:
        tags = a.tags
        if "highway" in tags:
            return
        layer = schema.area_layer(tags)
        number = housenumber(tags.get("addr:housenumber"))
        name = clean_text(tags.get("name"))
        poi = schema.poi_kind(tags) if name or tags.get("amenity") in schema.IMPORTANT_POIS else None
        if layer is None and not number and poi is None:
            return
        geometry = self.geojson.create_multipolygon(a)
        if layer is not None:
            kind, detail, zoom = layer
            props: dict[str, Any] = {"kind": kind, "kind_detail": detail, "name": name}
            if kind == "building":
                props["height"] = schema.building_height(tags)
            self.sink.write(schema.layer_of(kind), zoom, props, geometry)
        if number or poi is not None:
            lat, lng = _ring_centre(a)
            if number:
                street = clean_text(tags.get("addr:street") or tags.get("addr:place"))
                if street:
                    self.c.addresses.append((number, street, lat, lng))
                self.sink.address(number, lat, lng)
            if poi is not None:
                self._poi(tags, name, lat, lng)

    # --- relations ---------------------------------------------------------------------------
    def _relation(self, r: osmium.osm.Relation) -> None:
        tags = r.tags
        if tags.get("type") != "restriction":
            return
        kind = tags.get("restriction") or tags.get("restriction:motorcar") or ""
        if not kind.startswith(("no_", "only_")):
            return
        roles: dict[str, list[tuple[str, int]]] = {}
        for m in r.members:
            roles.setdefault(m.role, []).append((m.type, m.ref))
        frm, via, to = roles.get("from", []), roles.get("via", []), roles.get("to", [])
        if len(frm) == 1 and len(via) == 1 and len(to) == 1 and via[0][0] == "n" \
                and frm[0][0] == "w" and to[0][0] == "w":
            self.c.restrictions.append((frm[0][1], via[0][1], to[0][1], clean_text(kind, 32)))


def _ring_centre(a: osmium.osm.Area) -> tuple[float, float]:
    """Mean of the first outer ring's nodes: good enough to place a building's address or a POI."""
    for ring in a.outer_rings():
        lats = [nd.lat for nd in ring]
        lngs = [nd.lon for nd in ring]
        if len(lats) > 1:   # the ring is closed: leave out the repeated first node
            lats, lngs = lats[:-1], lngs[:-1]
        return sum(lats) / len(lats), sum(lngs) / len(lngs)
    raise RuntimeError("area without an outer ring")
