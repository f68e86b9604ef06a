"""Routing on real imported maps (issue 14 §6): the Helsinki extract and the synthetic city, imported through
the real import process; networkx is the reference for shortest paths."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from cartrack_desktop.domain.dispatch import ARRIVAL_RADIUS_M, next_status_from_fix
from cartrack_desktop.domain.geo import haversine_km
from cartrack_desktop.domain.models import Car, Position, UnitStatus
from cartrack_desktop.domain.patrol import Mode
from cartrack_desktop.mapdata.roads import RoadNetwork, load_road_network
from cartrack_desktop.routing.driving import RoadPatrolModel
from cartrack_desktop.routing.frame import angle_between
from cartrack_desktop.routing.router import Reach, Router
from cartrack_desktop.routing.snap import Snapped
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.infra.road_network import RoadNetworkSource
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.services.live.simulator import Simulator
from cartrack_desktop.view.drive_times import reached_beyond
from cartrack_desktop.view.fleet_view import UnitView
from cartrack_desktop.view.routes import ActiveRoute
from tests.helpers.mapdata import import_map
from tests.helpers.osm_data import helsinki_pbf
from tests.helpers.synthetic_city import CityInfo, build_city, grid_point


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> Router:
    installed = import_map(helsinki_pbf(), tmp_path_factory.mktemp("hel-roads"))
    return Router(load_road_network(installed.roads_path))


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[CityInfo, Router]:
    tmp = tmp_path_factory.mktemp("city-roads")
    info = build_city(tmp / "city.osm.pbf", rows=16, cols=16, buildings=False, addresses=False)
    installed = import_map(info.path, tmp / "data")
    return info, Router(load_road_network(installed.roads_path))


def turn_graph(net: RoadNetwork) -> nx.DiGraph:
    """The reference: a line graph (a node per directed edge, an arc per allowed turn) in networkx, a formulation
    independent of ours (which splits restricted junctions) that honours one-ways and turn restrictions."""
    w = np.maximum(net.edge_time_s.astype(float), 0.01)
    forbidden, only = set(), {}
    for f, t, o in zip(net.restriction_from_edge.tolist(), net.restriction_to_edge.tolist(),
                       net.restriction_only.tolist(), strict=True):
        (only.setdefault(f, set()).add(t) if o else forbidden.add((f, t)))
    g = nx.DiGraph()
    g.add_nodes_from(range(net.n_edges))
    for e in range(net.n_edges):
        for f in net.out_edges(int(net.edge_target[e])):
            if (f in only[e]) if e in only else (e, f) not in forbidden:
                g.add_edge(e, f, weight=float(w[f]))
    return g


def reference_time(g: nx.DiGraph, w: np.ndarray, start: int, frac: float, scene: dict[int, float]) -> float:
    lengths = nx.single_source_dijkstra_path_length(g, start, weight="weight")
    best = np.inf
    for se, sf in scene.items():
        if se == start and frac <= sf:
            best = min(best, (sf - frac) * w[start])
        elif se == start:      # round a block back onto its own edge
            back = min((lengths[p] + w[start] for p in g.predecessors(start) if p in lengths), default=np.inf)
            best = min(best, (1 - frac) * w[start] + back - w[start] + sf * w[start])
        elif se in lengths:
            best = min(best, (1 - frac) * w[start] + lengths[se] - w[se] + sf * w[se])
    return best


def test_helsinki_routes_agree_with_networkx_one_ways_and_turn_restrictions(helsinki):
    net = helsinki.net
    assert net.restriction_from_edge.size > 0 and np.any(np.diff(net.indptr) > 0)
    g = turn_graph(net)
    w = np.maximum(net.edge_time_s.astype(float), 0.01)
    rng = np.random.default_rng(14)
    checked = 0
    for _ in range(150):
        target, start, frac = int(rng.integers(net.n_edges)), int(rng.integers(net.n_edges)), float(rng.random())
        tree = helsinki.tree(*helsinki.snapper.edge_points(target, 0.5, 0.5)[0])
        ours = helsinki.drive_times(tree, _one(start, frac))[0]
        ref = reference_time(g, w, start, frac, tree.scene_edges)
        assert (np.isinf(ours) and np.isinf(ref)) or ours == pytest.approx(ref, abs=0.05), (start, target)
        route = helsinki.route(tree, start, frac)
        if np.isfinite(ours):
            assert route is not None and route.time_s == pytest.approx(ours, rel=0.03, abs=0.5)
            for a, b in zip(route.edges, route.edges[1:]):       # every step a legal turn between directed edges
                assert g.has_edge(a, b)
            checked += 1
    assert checked > 100


def _one(edge: int, frac: float) -> Snapped:
    z = np.zeros(1)
    return Snapped(np.array([edge]), np.array([frac]), np.array([-1]), z, z, z, z)


def test_city_one_way_street_is_never_driven_the_wrong_way(city):
    info, router = city
    net = router.net
    col = next(c for c in range(info.cols) if c % 6 == 3)        # a northbound one-way avenue
    north, south = grid_point(8.5, col, info.river_row), grid_point(7.5, col, info.river_row)
    route = router.route_to(south, *north, heading=180.0, speed_mph=25.0)    # from the north end, southwards
    assert route is not None
    name = info.col_name(col)
    on_avenue = [e for e in route.edges if net.edge_name(e) == name]
    for e in on_avenue:                                           # on it only northbound (the way's direction)
        assert not net.edge_reversed[e]
    assert route.distance_m > 3 * 110                             # round the block, not the 110 m against it


def test_city_drive_time_ranks_a_unit_across_the_river_below_a_farther_one(city):
    info, router = city
    r = info.river_row
    pin = grid_point(r, info.cols - 1, r)
    across, same = grid_point(r + 1, info.cols - 1.5, r), grid_point(r, info.cols - 5.5, r)
    assert haversine_km(*pin, *across) < haversine_km(*pin, *same)
    units = router.snap(np.array([across[0], same[0]]), np.array([across[1], same[1]]), np.array([90.0, 90.0]),
                        np.array([25.0, 25.0]))
    d = router.rank(*pin, units)
    assert list(d.reach) == [Reach.REACHED, Reach.REACHED]
    assert d.time_s[1] < d.time_s[0]
    route = router.route_from(router.tree(*pin), units, 0)          # the across unit's way goes by a bridge
    bridge_lngs = [grid_point(0, c, r)[1] for c in info.bridge_cols]
    crossing = [lng for lat, lng in route.points
                if grid_point(r + 0.3, 0, r)[0] < lat < grid_point(r + 0.7, 0, r)[0]]
    assert crossing and all(min(abs(lng - b) for b in bridge_lngs) < 1e-5 for lng in crossing)


def test_units_beyond_the_radius_reached_by_road_quickest_first_within_the_limit(city):
    info, router = city
    r = info.river_row
    pin = grid_point(r, info.cols - 1, r)
    now = 1.7e9
    spots = {"LISTED": (r, info.cols - 2.5), "NEAR": (r, info.cols - 4.5), "MID": (r - 2, info.cols - 6.5),
             "FAR": (r - 5, 2.5), "HIDDEN": (r, info.cols - 3.5), "LOST": (r, info.cols - 5.5)}
    units = [UnitView(cid, cid, UnitStatus.AVAILABLE, Position(cid, *grid_point(row, col, r), 25.0, 90.0, now),
                      lost=cid == "LOST") for cid, (row, col) in spots.items()]
    got = reached_beyond(router, pin, units, {"LISTED"}, lambda u: u.car_id != "HIDDEN", limit=10)
    assert [u.car_id for u, _t in got] == ["NEAR", "MID", "FAR"]           # quickest first; listed, filtered, lost out
    assert all(t.order == 0 and t.seconds is not None for _u, t in got)
    assert [u.car_id for u, _t in reached_beyond(router, pin, units, {"LISTED"}, lambda u: True, limit=2)] == [
        "HIDDEN", "NEAR"]                                                   # kept by the filter: the quickest
    two = reached_beyond(router, pin, units, {"LISTED"}, lambda u: u.car_id != "HIDDEN", limit=2)
    assert [u.car_id for u, _t in two] == ["NEAR", "MID"]
    none = reached_beyond(router, pin, units, {"LISTED"}, lambda u: True, limit=10, cutoff_s=1.0)
    assert none == []                                                        # nothing within a second by road


def test_simulated_patrols_stay_on_roads_heading_along_them_and_are_deterministic(helsinki):
    def run(seed: int) -> list[tuple[float, float, float, float]]:
        model = RoadPatrolModel(random.Random(seed), helsinki)
        units = [model.spawn(f"U{i}") for i in range(150)]
        out = []
        for _ in range(90):
            for u in units:
                model.step(u, 1.0)
                out.append((u.lat, u.lng, u.heading, u.speed))
        return out

    fixes = run(5)
    assert run(5) == fixes and run(6) != fixes
    a = np.array(fixes)
    s = helsinki.snap(a[:, 0], a[:, 1], a[:, 2], a[:, 3], tolerance_m=50.0)
    assert np.all(s.edge >= 0) and float(s.dist_m.max()) < 1.0           # on the road geometry (metres)
    assert float(np.percentile(angle_between(a[:, 2], s.bearing), 99)) < 1.0   # heading along the road, legally
    assert a[:, 3].min() >= 20.0 and a[:, 3].max() <= 60.0


async def test_dispatched_simulated_unit_follows_its_route_and_arrives_on_scene(city, redis_url):
    info, router = city
    client = make_redis(redis_url)
    store = LiveStore(client)
    sim = Simulator(store, seed=3)
    sim.use_router(router)
    start = Position("PC-001", *grid_point(2, 3.5, info.river_row), 25.0, 90.0, 0.0)
    sim.add_car(Car("PC-001", "Adam-1", location=start))
    unit = sim.units["PC-001"]
    scene = grid_point(info.river_row + 3, 12, info.river_row)          # across the river
    expected = router.route_to(scene, unit.lat, unit.lng, unit.heading, unit.speed)
    assert expected is not None
    sim.dispatch("PC-001", *scene)
    drawn = ActiveRoute("PC-001", "INC", scene, expected, expected.distance_m, expected.time_s, 0.0)
    status = UnitStatus.DISPATCHED
    for _ in range(600):
        positions = await sim.step_all(2.0)
        await store.update_car_locations(positions)
        p = (await store.get_car_locations(["PC-001"]))[0]
        along, off = drawn.project(p.lat, p.lng)
        assert off < 1.0 or unit.edge < 0, (p, off)    # on the route drawn for it (until the scene's own bit)
        drawn.done_m = along
        status = next_status_from_fix(status, p, scene) or status
        if unit.mode is Mode.HOLDING:
            break
    assert unit.mode is Mode.HOLDING and status is UnitStatus.ON_SCENE
    assert haversine_km(unit.lat, unit.lng, *scene) * 1000 <= ARRIVAL_RADIUS_M
    await client.aclose()


async def test_road_network_source_loads_off_the_loop_and_follows_imports(tmp_path: Path):
    data = tmp_path / "data"
    src = RoadNetworkSource(data)
    seen: list[object] = []
    src.changed.subscribe(seen.append)
    await src.refresh()
    assert src.router is None and seen == [] and src.checked.is_set()     # no map: straight-line behaviour
    small = build_city(tmp_path / "a.osm.pbf", rows=6, cols=6, buildings=False, addresses=False)
    await asyncio.to_thread(import_map, small.path, data)
    await src.refresh()
    assert src.router is not None and seen == [src.router]
    first = src.router
    await src.refresh()
    assert src.router is first and len(seen) == 1                     # unchanged: not reloaded
    bigger = build_city(tmp_path / "b.osm.pbf", rows=8, cols=8, buildings=False, addresses=False)
    await asyncio.to_thread(import_map, bigger.path, data)
    await src.refresh()
    assert src.router is not first and src.router.net.n_nodes > first.net.n_nodes and len(seen) == 2
