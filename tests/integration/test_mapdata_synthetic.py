"""Import of the synthetic city (known layout): US-style search, interpolation, the road network's rules, clipping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cartrack_desktop.mapdata.geocoder import Geocoder
from cartrack_desktop.mapdata.job import ImportJob, ProgressEvent
from cartrack_desktop.mapdata.manifest import BBox
from cartrack_desktop.mapdata.pipeline import STAGES
from cartrack_desktop.mapdata.roads import RoadNetwork, load_road_network
from cartrack_desktop.mapdata.store import InstalledMap
from cartrack_desktop.mapdata.tags import KMH_PER_MPH
from tests.helpers.mapdata import IMPORT_TIMEOUT_S, import_map
from tests.helpers.synthetic_city import PEACHTREE, CityInfo, build_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> CityInfo:
    return build_city(tmp_path_factory.mktemp("city") / "city.osm.pbf", rows=14, cols=14)


@pytest.fixture(scope="module")
def installed(city: CityInfo, tmp_path_factory: pytest.TempPathFactory) -> InstalledMap:
    return import_map(city.path, tmp_path_factory.mktemp("city-data"))


@pytest.fixture(scope="module")
def geocoder(installed: InstalledMap) -> Iterator[Geocoder]:
    g = Geocoder(installed.search_path)
    yield g
    g.close()


@pytest.fixture(scope="module")
def network(installed: InstalledMap) -> RoadNetwork:
    return load_road_network(installed.roads_path)


def test_intersection_in_us_style(geocoder: Geocoder, city: CityInfo) -> None:
    lat, lng = city.intersection(9, city.cols // 2)
    for text in ("Peachtree & 10th", "10th St NE at Peachtree St NE", "peachtree st ne and 10th street northeast",
                 "10TH ST. N.E. @ PEACHTREE", "Peachtre & 10th"):
        r = geocoder.search(text)[0]
        assert (r.kind, r.label) == ("intersection", f"10th St NE & {PEACHTREE}"), text
        assert abs(r.lat - lat) < 1e-5 and abs(r.lng - lng) < 1e-5


def test_mapped_and_interpolated_addresses(geocoder: Geocoder, city: CityInfo) -> None:
    r = geocoder.search("103 1st St NE")[0]
    assert (r.kind, r.label, r.approximate) == ("address", "103 1st St NE", False)
    row, col = city.interpolated_blocks[0]
    base = (col + 1) * 100
    r = geocoder.search(f"{base + 8} {city.row_name(row)}")[0]   # only the ends (+2, +16) are mapped
    assert (r.kind, r.label, r.approximate) == ("address", f"{base + 8} {city.row_name(row)}", True)
    a, b = city.intersection(row, col), city.intersection(row, col + 1)
    assert min(a[1], b[1]) < r.lng < max(a[1], b[1])
    # a number that is not in the map at all: placed between its neighbours, flagged approximate
    r = geocoder.search("150 1st St NE")[0]
    assert r.kind == "address" and r.approximate


def test_places(geocoder: Geocoder) -> None:
    assert geocoder.search("Zone 1 Police")[0].label == "Zone 1 Police Precinct"
    assert geocoder.search("police")[0].detail == "police"
    assert geocoder.search("Grady hospital")[0].label == "Grady Memorial Hospital"


def test_reverse_names_the_corner_or_the_house(geocoder: Geocoder, city: CityInfo) -> None:
    lat, lng = city.intersection(9, city.cols // 2)
    r = geocoder.reverse(lat + 0.00005, lng)
    assert r is not None and r.label == f"10th St NE & {PEACHTREE}"
    r = geocoder.search("105 2nd St NE")[0]
    near = geocoder.reverse(r.lat, r.lng + 0.00001)
    assert near is not None and near.label == "105 2nd St NE"


def _edges_of(network: RoadNetwork, way_id: int) -> np.ndarray:
    return np.flatnonzero(network.segment_way_id[network.edge_segment] == way_id)


def test_network_one_ways_both_ways_round_and_implied(network: RoadNetwork, city: CityInfo) -> None:
    names = [network.edge_name(e) for e in range(network.n_edges)]
    by_name: dict[str, set[bool]] = {}
    for e, name in enumerate(names):
        by_name.setdefault(name, set()).add(bool(network.edge_reversed[e]))
    assert by_name[city.col_name(3)] == {False}          # oneway=yes
    assert by_name[city.col_name(4)] == {True}           # oneway=-1: only against the way
    assert by_name[city.row_name(2)] == {False}          # oneway=yes east-west
    assert by_name[city.col_name(1)] == {False, True}    # two-way
    assert by_name["Downtown Connector"] == {False}      # motorway: implied one-way
    classes = {network.edge_class_name(e) for e in range(network.n_edges) if names[e] == ""}
    assert classes == {"motorway_link"}
    links = [e for e in range(network.n_edges) if names[e] == ""]
    assert not network.edge_reversed[links].any()        # links: implied one-way too


def test_network_speeds(network: RoadNetwork, city: CityInfo) -> None:
    primary = [e for e in range(network.n_edges) if network.edge_name(e) == PEACHTREE]
    assert np.allclose(network.edge_speed_kmh[primary], 35 * KMH_PER_MPH)
    residential = [e for e in range(network.n_edges) if network.edge_name(e) == city.col_name(2)]
    assert np.allclose(network.edge_speed_kmh[residential], 30.0) and not network.edge_speed_tagged[residential].any()


def test_river_is_crossed_only_at_bridges(network: RoadNetwork, city: CityInfo) -> None:
    south = city.intersection(city.river_row, 0)[0]
    north = city.intersection(city.river_row + 1, 0)[0]
    src, dst = network.edge_source, network.edge_target
    crossing = ((network.node_lat[src] <= south + 1e-7) & (network.node_lat[dst] >= north - 1e-7)) | \
               ((network.node_lat[dst] <= south + 1e-7) & (network.node_lat[src] >= north - 1e-7))
    crossing &= network.edge_class != network.class_names.index("motorway")
    lngs = sorted({round(float(network.node_lng[s]), 6) for s in src[crossing]})
    assert lngs == sorted({round(city.intersection(0, c)[1], 6) for c in city.bridge_cols})


def test_turn_restriction_kept(network: RoadNetwork, city: CityInfo) -> None:
    assert city.restriction is not None
    from_way, _via, to_way = city.restriction
    assert network.restriction_from_edge.size == 1 and not network.restriction_only[0]
    e_in, e_out = int(network.restriction_from_edge[0]), int(network.restriction_to_edge[0])
    assert network.segment_way_id[network.edge_segment[e_in]] == from_way
    assert network.segment_way_id[network.edge_segment[e_out]] == to_way
    assert network.edge_target[e_in] == network.edge_source[e_out]


def test_bbox_clips_the_import(city: CityInfo, tmp_path: Path) -> None:
    (s, w), (n, e) = city.intersection(1, 1), city.intersection(4, 5)
    bbox = BBox(s - 0.0001, w - 0.0001, n + 0.0001, e + 0.0001)
    job = ImportJob(city.path, tmp_path, bbox).start()
    clipped = job.wait(IMPORT_TIMEOUT_S)
    events = [e.progress for e in job.poll() if isinstance(e, ProgressEvent)]
    order = [name for name, _w in STAGES]
    stages = list(dict.fromkeys(p.stage for p in events))
    assert stages == order, stages                     # every stage, in order
    fractions = [p.fraction for p in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(0.0 <= p.stage_fraction <= 1.0 for p in events)
    m = clipped.manifest
    assert m.source["clip_bbox"] == bbox.as_list()
    assert bbox.south <= m.bbox.south and m.bbox.north <= bbox.north
    assert bbox.west <= m.bbox.west and m.bbox.east <= bbox.east
    net = load_road_network(clipped.roads_path)
    # complete ways: roads reach one junction beyond the box, not further
    assert net.node_lat.min() >= city.intersection(0, 0)[0] - 1e-9
    assert net.node_lat.max() <= city.intersection(5, 0)[0] + 1e-9
    g = Geocoder(clipped.search_path)
    assert g.search("3rd St NE & " + city.col_name(2))[0].kind == "intersection"
    assert all(r.label != "13th St NE" for r in g.search("13th St NE"))
    g.close()
