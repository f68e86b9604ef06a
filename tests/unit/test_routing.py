"""Routing logic on a small network built in memory (no I/O): one-ways, a turn restriction, the direct case,
the ranking's reasons, and route progress / ETA countdown."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cartrack_desktop.domain.models import Position
from cartrack_desktop.mapdata.reader import RoadWay
from cartrack_desktop.mapdata.roads import network_from_arrays, road_arrays
from cartrack_desktop.mapdata.tags import ROAD_CLASS_CODE, ROAD_CLASSES
from cartrack_desktop.routing.router import Reach, Router
from cartrack_desktop.view.drive_times import reason_text
from cartrack_desktop.view.routes import OFF_ROUTE_M, RouteBook

STEP = 0.001   # degrees between grid nodes (~111 m north, ~92 m east at 33.7 N)


def node_id(r: int, c: int) -> int:
    return 1 + r * 3 + c


def way(wid: int, a: tuple[int, int], b: tuple[int, int], oneway: int = 0) -> RoadWay:
    refs = np.array([node_id(*a), node_id(*b)], dtype=np.int64)
    lat = np.array([33.7 + a[0] * STEP, 33.7 + b[0] * STEP])
    lng = np.array([-84.4 + a[1] * STEP, -84.4 + b[1] * STEP])
    return RoadWay(wid, refs, lat, lng, ROAD_CLASS_CODE["residential"], oneway, 30.0, 30.0, False, f"W{wid}")


def grid(restrict: bool = True) -> Router:
    """3x3 junctions; way 2 ((0,1)-(0,2)) one-way east; no left turn from way 3 ((1,0)-(1,1)) onto way 9 north."""
    ways, wid = [], 0
    for r in range(3):
        for c in range(2):
            wid += 1
            ways.append(way(wid, (r, c), (r, c + 1), oneway=1 if wid == 2 else 0))
    for c in range(3):
        for r in range(2):
            wid += 1
            ways.append(way(wid, (r, c), (r + 1, c)))
    restrictions = [(3, node_id(1, 1), 10, "no_left_turn")] if restrict else []
    arrays, _km = road_arrays(ways, restrictions)
    return Router(network_from_arrays(arrays, ROAD_CLASSES))


def mid(r: float, c: float) -> tuple[float, float]:
    return 33.7 + r * STEP, -84.4 + c * STEP


def snap_one(router: Router, p: tuple[float, float], heading: float, speed: float = 25.0):
    return router.snap(np.array([p[0]]), np.array([p[1]]), np.array([heading]), np.array([speed]))


def test_turn_restriction_sends_the_route_round_the_block():
    scene = mid(1.5, 1)                                   # on way 10, north of the centre junction
    free, restricted = grid(restrict=False), grid()
    unit = mid(1, 0.5)                                    # on way 3, eastbound towards the centre
    a = free.route_from(free.tree(*scene), snap_one(free, unit, 90.0))
    b = restricted.route_from(restricted.tree(*scene), snap_one(restricted, unit, 90.0))
    assert a is not None and b is not None
    assert b.time_s > a.time_s * 2 and b.distance_m > a.distance_m + 150
    net = restricted.net
    ways = [int(net.segment_way_id[net.edge_segment[e]]) for e in b.edges]
    assert (3, 10) not in itertools.pairwise(ways)


def test_one_way_is_driven_only_its_way():
    router = grid()
    scene = mid(0, 1)                                     # the west end of the one-way way 2
    unit = snap_one(router, mid(0, 1.8), 270.0)           # on way 2 heading west (against it): snapped east
    assert router.net.edge_reversed[unit.edge[0]] == False  # noqa: E712 - numpy bool
    route = router.route_from(router.tree(*scene), unit)
    assert route is not None and route.distance_m > 250   # round by the middle row, not 75 m back along it


def test_direct_on_the_same_road_and_reasons():
    router = grid()
    scene = mid(2, 0.8)
    units = router.snap(np.array([mid(2, 0.2)[0], 33.9]), np.array([mid(2, 0.2)[1], -84.2]),
                        np.array([90.0, 0.0]), np.array([25.0, 25.0]))
    d = router.rank(*scene, units)
    assert d.reach[0] == Reach.REACHED and d.reach[1] == Reach.OFF_ROAD
    expected = 0.6 * STEP * 111_195 * np.cos(np.radians(33.7)) / (30 / 3.6)
    assert d.time_s[0] == pytest.approx(expected, rel=0.02)
    assert reason_text(Reach.OFF_ROAD, 123.4, np.inf, 900) == "off-road fix (123 m from a road)"
    assert reason_text(Reach.BEYOND_CUTOFF, 0, 1000, 900) == "more than 15 min 00 s away"
    assert reason_text(Reach.NO_ROUTE, 0, np.inf, 900) == "no road route to the pin"


def test_route_progress_eta_countdown_and_leaving_the_route():
    router = grid()
    scene = mid(2, 2)
    route = router.route_to(scene, *mid(0, 0.1), 90.0, 25.0)
    assert route is not None
    book = RouteBook()
    book.set("U1", "INC", scene, route, at=100.0)
    lat, lng = route.points[len(route.points) // 2]
    assert not book.follow(Position("U1", lat, lng, 25.0, 90.0, 110.0))
    left_m, left_s = book.eta("U1", now=110.0)
    assert 0 < left_m < route.distance_m and 0 < left_s < route.time_s
    assert book.eta("U1", now=115.0)[1] == pytest.approx(left_s - 5.0)      # counts down between fixes
    away = (mid(0, 0)[0] - 3 * OFF_ROUTE_M / 111_195, mid(0, 0)[1])     # south of the grid
    assert not book.follow(Position("U1", *away, 25.0, 90.0, 111.0))        # once may be GPS noise
    assert book.follow(Position("U1", *away, 25.0, 90.0, 112.0))            # twice: it took another way


def brute_force_m(router: Router, lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest road piece, over every piece (no index)."""
    sn = router.snapper
    fx, fy = router.frame.xy(lat, lng)
    p = sn.piece_p.astype(np.int64)
    ax, ay = sn.px[p].astype(np.float64), sn.py[p].astype(np.float64)
    dx, dy = sn.px[p + 1] - ax, sn.py[p + 1] - ay
    l2 = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
    t = np.clip(((fx[:, None] - ax) * dx + (fy[:, None] - ay) * dy) / l2, 0.0, 1.0)
    return np.min(np.hypot(fx[:, None] - ax - t * dx, fy[:, None] - ay - t * dy), axis=1)


@pytest.mark.parametrize("tolerance", [5.0, 60.0, 300.0, 1e6])
def test_the_grid_index_finds_the_nearest_road_within_the_tolerance(tolerance):
    router = grid()
    rng = np.random.default_rng(7)
    lat = rng.uniform(33.7 - 4 * STEP, 33.7 + 6 * STEP, 400)       # around and well beyond the 3x3 grid
    lng = rng.uniform(-84.4 - 4 * STEP, -84.4 + 6 * STEP, 400)
    s = router.snap(lat, lng, tolerance_m=tolerance)
    nearest = brute_force_m(router, lat, lng)
    within = nearest <= tolerance
    assert np.array_equal(s.edge >= 0, within)
    assert np.allclose(s.dist_m[within], nearest[within], atol=1e-3)
    # not snapped: the distance is still reported when a road is within 4x the tolerance (the reason text)
    told = ~within & (nearest <= 4 * tolerance)
    assert np.allclose(s.dist_m[told], nearest[told], atol=1e-3)
    assert np.all(np.isinf(s.dist_m[~within & (nearest > 4 * tolerance)]))
    assert np.allclose(s.lat[~within], lat[~within]) and np.allclose(s.lng[~within], lng[~within])
