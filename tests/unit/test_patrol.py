import itertools
import random

import pytest

from cartrack_desktop.domain import geo, patrol
from cartrack_desktop.domain.patrol import ATLANTA, Mode, PatrolModel


def make(seed: int = 7) -> PatrolModel:
    return PatrolModel(random.Random(seed))


def run(model: PatrolModel, unit: patrol.UnitState, steps: int, dt: float = 1.0):
    fixes = [(unit.lat, unit.lng, unit.speed, unit.heading)]
    for _ in range(steps):
        model.step(unit, dt)
        fixes.append((unit.lat, unit.lng, unit.speed, unit.heading))
    return fixes


def test_spawn_inside_area():
    m = make()
    for i in range(200):
        u = m.spawn(f"PC-{i}")
        assert ATLANTA.contains(u.lat, u.lng)
        assert u.mode is Mode.PATROL


def test_spawn_at_given_position():
    u = make().spawn("PC-1", 33.75, -84.39)
    assert (u.lat, u.lng) == (33.75, -84.39)


def test_patrol_speeds_within_bounds_and_area_kept():
    m = make(1)
    units = [m.spawn(f"PC-{i}") for i in range(30)]
    for u in units:
        for lat, lng, speed, _ in run(m, u, 600)[1:]:
            assert patrol.PATROL_MIN_MPH <= speed <= patrol.PATROL_MAX_MPH
            assert ATLANTA.contains(lat, lng)


def test_speed_changes_gradually_and_varies():
    m = make(2)
    u = m.spawn("PC-1")
    fixes = run(m, u, 900)
    speeds = [f[2] for f in fixes[1:]]
    jumps = [abs(b - a) for a, b in itertools.pairwise(speeds)]
    assert max(jumps) <= patrol.MAX_ACCEL_MPH_PER_S + 5 * patrol.SPEED_JITTER_MPH
    assert max(speeds) - min(speeds) > 10, "speed should vary over 15 minutes"


def test_each_step_moves_speed_times_time_along_reported_heading():
    m = make(3)
    for i in range(20):
        u = m.spawn(f"PC-{i}")
        prev = (u.lat, u.lng)
        for _ in range(300):
            dt = 1.0
            m.step(u, dt)
            moved_km = geo.haversine_km(*prev, u.lat, u.lng)
            assert moved_km == pytest.approx(u.speed * geo.MPH_TO_KMH / 3600 * dt, rel=1e-6)
            bearing = geo.initial_bearing_deg(*prev, u.lat, u.lng)
            assert min(abs(bearing - u.heading), 360 - abs(bearing - u.heading)) < 1e-3
            prev = (u.lat, u.lng)


def test_waypoints_are_reached_and_renewed():
    m = make(4)
    u = m.spawn("PC-1")
    targets = {(u.target_lat, u.target_lng)}
    for _ in range(1800):
        before = (u.target_lat, u.target_lng)
        m.step(u, 1.0)
        if (u.target_lat, u.target_lng) != before:
            # a new leg starts within one step of the old waypoint
            assert geo.haversine_km(u.lat, u.lng, *before) <= 60 * geo.MPH_TO_KMH / 3600 + 1e-6
            targets.add((u.target_lat, u.target_lng))
    assert len(targets) >= 5


def test_deterministic_with_seed():
    a, b = make(42), make(42)
    ua, ub = a.spawn("PC-1"), b.spawn("PC-1")
    assert run(a, ua, 200) == run(b, ub, 200)
    c = make(43)
    assert run(c, c.spawn("PC-1"), 200) != run(make(42), make(42).spawn("PC-1"), 200)


def test_respond_drives_to_scene_at_response_speed_and_holds():
    m = make(5)
    u = m.spawn("PC-1", 33.70, -84.40)
    scene = geo.destination_point(33.70, -84.40, 60.0, 2.0)
    m.respond(u, *scene)
    for _ in range(400):
        m.step(u, 1.0)
        if u.mode is Mode.HOLDING:
            break
        assert patrol.RESPONSE_MIN_MPH <= u.speed <= patrol.RESPONSE_MAX_MPH
    assert u.mode is Mode.HOLDING
    assert geo.haversine_km(u.lat, u.lng, *scene) < 0.001
    m.step(u, 1.0)
    assert u.speed == 0.0 and geo.haversine_km(u.lat, u.lng, *scene) < 0.001
    m.resume_patrol(u)
    m.step(u, 1.0)
    assert u.mode is Mode.PATROL and u.speed >= patrol.PATROL_MIN_MPH


def test_parked_unit_stays():
    m = make(6)
    u = m.spawn("PC-1")
    m.park(u)
    pos = (u.lat, u.lng)
    run(m, u, 10)
    assert (u.lat, u.lng) == pos and u.speed == 0.0


def test_long_gap_is_capped():
    m = make(8)
    u = m.spawn("PC-1")
    prev = (u.lat, u.lng)
    m.step(u, 3600.0)
    assert geo.haversine_km(*prev, u.lat, u.lng) <= 60 * geo.MPH_TO_KMH / 3600 * patrol.MAX_STEP_S + 1e-6


def test_simulator_moves_units_to_a_new_patrol_area_and_keeps_the_parked_parked():
    from cartrack_desktop.domain.models import Car, UnitStatus
    from cartrack_desktop.services.live.simulator import Simulator

    sim = Simulator(None, seed=3)   # type: ignore[arg-type]  (no ticks: the store is never used)
    for i in range(20):
        sim.add_car(Car(f"PC-{i}", f"Adam-{i}", UnitStatus.OUT_OF_SERVICE if i == 0 else UnitStatus.AVAILABLE))
    helsinki = patrol.PatrolArea(60.164, 24.935, 60.179, 24.953)
    assert all(ATLANTA.contains(u.lat, u.lng) for u in sim.units.values())
    assert sim.set_area(helsinki) == 20
    assert all(helsinki.contains(u.lat, u.lng) for u in sim.units.values())
    assert sim.units["PC-0"].mode is Mode.PARKED and sim.units["PC-1"].mode is Mode.PATROL
    assert sim.set_area(helsinki) == 0          # already inside: nobody moves
    for u in sim.units.values():                # and they keep patrolling inside it
        for _ in range(300):
            sim.model.step(u, 1.0)
        assert helsinki.contains(u.lat, u.lng)


def test_a_small_area_is_patrolled_all_over_not_only_in_its_middle():
    helsinki = patrol.PatrolArea(60.164, 24.935, 60.179, 24.953)     # ~1.7 x 1 km: smaller than two margins
    model = PatrolModel(random.Random(5), helsinki)
    units = [model.spawn(f"U{i}") for i in range(400)]
    lats = [u.lat for u in units]
    assert all(helsinki.contains(u.lat, u.lng) for u in units)
    assert max(lats) - min(lats) > 0.7 * (helsinki.north - helsinki.south)
