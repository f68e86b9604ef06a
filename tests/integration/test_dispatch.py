"""Dispatch against real servers: incidents, atomic claims between two instances, arrival, fleet, outbox."""

import asyncio
import itertools

import pytest
from pymongo import MongoClient

from cartrack_desktop.config import load_settings
from cartrack_desktop.domain import geo
from cartrack_desktop.domain.models import UnitStatus
from cartrack_desktop.domain.patrol import Mode
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.waiting import async_wait_until


def settings(tmp_path, redis_url, mongo_uri, db, *extra, name="a"):
    uri = mongo_uri.replace("/?", f"/{db}?")
    return load_settings(["--redis-url", redis_url, "--mongo-uri", uri, "--data-dir", str(tmp_path / name),
                          "--dispatcher", f"disp-{name}", *extra], environ={})


@pytest.fixture
async def stacks(tmp_path, redis_url, mongo_uri, mongo_db_name):
    started: list[Runtime] = []

    async def start(*extra, name="a"):
        rt = Runtime(settings(tmp_path, redis_url, mongo_uri, mongo_db_name, *extra, name=name))
        await rt.start()
        started.append(rt)
        await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
        await async_wait_until(lambda: rt.events.connected, 10, "events subscribed")
        return rt

    yield start
    for rt in started:
        await rt.stop()


def db(mongo_uri, name):
    return MongoClient(mongo_uri)[name]


async def outbox_drained(rt):
    return await async_wait_until(lambda: not rt.outbox.pending, 15, "outbox written")


async def test_incident_is_stored_and_seen_by_another_instance(stacks, mongo_uri, mongo_db_name):
    a = await stacks("--no-simulator", name="a")
    b = await stacks("--no-simulator", name="b")
    inc = await a.dispatch.create_incident(33.75, -84.39, "Burglary", 2, "rear door forced")
    seen = await async_wait_until(lambda: b.dispatch.incidents.get(inc.incident_id), 2.0, "incident on B")
    assert seen.kind == "Burglary" and seen.priority == 2 and seen.created_by == "disp-a"
    await outbox_drained(a)
    doc = db(mongo_uri, mongo_db_name).incidents.find_one({"_id": inc.incident_id})
    assert doc["type"] == "Burglary" and doc["status"] == "open"
    assert [e["kind"] for e in doc["timeline"]] == ["created"]
    audit = list(db(mongo_uri, mongo_db_name).audit_log.find({"action": "incident.create"}))
    assert audit and audit[0]["dispatcher"] == "disp-a" and audit[0]["details"]["incident"] == inc.incident_id


async def test_bad_incident_input_is_refused(stacks):
    a = await stacks("--no-simulator")
    for args in (("", 2, ""), ("Burglary", 5, ""), ("Burglary", 1, "x" * 3000), ("Burg\x00lary", 1, "")):
        with pytest.raises(ValueError):
            await a.dispatch.create_incident(33.75, -84.39, *args)
    assert a.dispatch.incidents == {}


async def test_two_dispatchers_cannot_assign_one_unit_twice(stacks):
    a = await stacks("--cars", "3", "--seed", "1", name="a")
    b = await stacks("--cars", "3", "--seed", "1", name="b")
    inc_a = await a.dispatch.create_incident(33.75, -84.39, "Robbery", 1, "")
    inc_b = await b.dispatch.create_incident(33.76, -84.40, "Assault", 1, "")
    await async_wait_until(lambda: inc_a.incident_id in b.dispatch.incidents
                           and inc_b.incident_id in a.dispatch.incidents, 2.0, "incidents shared")
    ra, rb = await asyncio.gather(a.dispatch.dispatch(inc_a.incident_id, ["PC-001"]),
                                  b.dispatch.dispatch(inc_b.incident_id, ["PC-001"]))
    results = ra + rb
    winners = [r for r in results if r.ok]
    losers = [r for r in results if not r.ok]
    assert len(winners) == 1 and len(losers) == 1
    won_incident = inc_a.incident_id if ra[0].ok else inc_b.incident_id
    assert won_incident in losers[0].message and "Adam-1" in losers[0].message
    # both see the winner's status within 2 s
    for rt in (a, b):
        st = await async_wait_until(lambda rt=rt: rt.dispatch.statuses.get("PC-001"), 2.0, "status")
        await async_wait_until(lambda rt=rt: rt.dispatch.statuses["PC-001"].incident_id == won_incident, 2.0,
                               "winner's status everywhere")
        assert st.status in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE)


async def test_out_of_service_unit_cannot_be_dispatched(stacks):
    a = await stacks("--cars", "2")
    r = await a.dispatch.set_out_of_service("PC-002", True)
    assert r.ok
    inc = await a.dispatch.create_incident(33.75, -84.39, "Alarm", 3, "")
    res = await a.dispatch.dispatch(inc.incident_id, ["PC-002"])
    assert not res[0].ok and "out of service" in res[0].message
    assert a.dispatch.status_of("PC-002") is UnitStatus.OUT_OF_SERVICE
    await async_wait_until(lambda: a.simulator.units["PC-002"].mode is Mode.PARKED, 3, "simulated unit parks")
    assert (await a.dispatch.set_out_of_service("PC-002", False)).ok
    await async_wait_until(lambda: a.simulator.units["PC-002"].mode is Mode.PATROL, 3, "back on patrol")


@pytest.mark.slow
async def test_simulated_unit_drives_to_the_scene_and_arrives(stacks, mongo_uri, mongo_db_name):
    a = await stacks("--cars", "2", "--seed", "5")
    pos = await async_wait_until(lambda: a.store.get_car_location("PC-001"), 10, "live")
    scene = geo.destination_point(pos.lat, pos.lng, 45.0, 0.15)   # 150 m away: ~6-10 s at 35-60 mph
    inc = await a.dispatch.create_incident(*scene, "Traffic collision", 2, "two cars")
    res = await a.dispatch.dispatch(inc.incident_id, ["PC-001"])
    assert res[0].ok, res
    await async_wait_until(lambda: a.dispatch.status_of("PC-001") is UnitStatus.EN_ROUTE
                           or a.dispatch.status_of("PC-001") is UnitStatus.ON_SCENE, 5, "en route")
    unit = a.simulator.units["PC-001"]
    assert unit.mode in (Mode.RESPONDING, Mode.HOLDING)
    assert 35.0 <= unit.speed <= 60.0 or unit.mode is Mode.HOLDING
    await async_wait_until(lambda: a.dispatch.status_of("PC-001") is UnitStatus.ON_SCENE, 30, "on scene")
    arrived = await a.store.get_car_location("PC-001")
    assert geo.haversine_km(arrived.lat, arrived.lng, *scene) * 1000 <= 50
    kinds = [e.kind for e in a.dispatch.incidents[inc.incident_id].timeline]
    assert kinds == ["created", "unit assigned", "en route", "on scene"]
    # clear: available again and back on patrol
    assert (await a.dispatch.clear_unit("PC-001")).ok
    await async_wait_until(lambda: a.simulator.units["PC-001"].mode is Mode.PATROL, 3, "patrol again")
    assert (await a.dispatch.close_incident(inc.incident_id)).ok
    await outbox_drained(a)
    doc = db(mongo_uri, mongo_db_name).incidents.find_one({"_id": inc.incident_id})
    assert [e["kind"] for e in doc["timeline"]] == ["created", "unit assigned", "en route", "on scene", "cleared",
                                                    "closed"]
    assert doc["status"] == "closed" and doc["units"] == ["PC-001"]
    car = db(mongo_uri, mongo_db_name).cars.find_one({"_id": "PC-001"})
    assert car["status"] == "available"
    audit = list(db(mongo_uri, mongo_db_name).audit_log.find().sort("at", 1))
    expected = ["incident.create", "unit.dispatch", "unit.en_route", "unit.arrive", "unit.clear", "incident.close"]
    assert sorted(d["action"] for d in audit) == sorted(expected)
    at = {d["action"]: d["at"] for d in audit}   # BSON dates hold milliseconds: steps may share one
    assert all(at[a] <= at[b] for a, b in itertools.pairwise(expected)), audit


async def test_real_device_goes_through_statuses_from_its_positions(stacks):
    a = await stacks("--no-simulator")
    store = a.store
    start = (33.75, -84.39)
    scene = geo.destination_point(*start, 90.0, 0.5)
    await store.update_car_location("DEV-7", *start, 0.0, 90.0)
    inc = await a.dispatch.create_incident(*scene, "Alarm", 3, "")
    assert (await a.dispatch.dispatch(inc.incident_id, ["DEV-7"]))[0].ok
    assert a.dispatch.status_of("DEV-7") is UnitStatus.DISPATCHED
    p = geo.destination_point(*start, 90.0, 0.1)
    await store.update_car_location("DEV-7", *p, 30.0, 90.0)
    await async_wait_until(lambda: a.dispatch.status_of("DEV-7") is UnitStatus.EN_ROUTE, 5, "en route")
    p = geo.destination_point(*scene, 270.0, 0.03)   # 30 m short of the scene
    await store.update_car_location("DEV-7", *p, 10.0, 90.0)
    await async_wait_until(lambda: a.dispatch.status_of("DEV-7") is UnitStatus.ON_SCENE, 5, "on scene")


async def test_automatic_transitions_are_the_systems_and_peoples_actions_stay_theirs(stacks, mongo_uri,
                                                                                     mongo_db_name):
    """Issue 17 §5: alice dispatches; the en route / on scene that bob's instance observes are recorded
    as the system's (with bob's instance), never as bob's; alice's dispatch and bob's clear stay theirs."""
    from cartrack_desktop.domain.models import Position

    a = await stacks("--no-simulator", name="a")
    b = await stacks("--no-simulator", name="b")
    assert a.instance != b.instance and a.instance.startswith("disp-a@") and b.instance.startswith("disp-b@")
    start = (33.75, -84.39)
    scene = geo.destination_point(*start, 90.0, 0.5)
    await a.store.update_car_location("DEV-9", *start, 0.0, 90.0)   # parked: no instance advances it on its own
    inc = await a.dispatch.create_incident(*scene, "Alarm", 2, "")
    assert (await a.dispatch.dispatch(inc.incident_id, ["DEV-9"]))[0].ok
    await async_wait_until(lambda: b.dispatch.status_of("DEV-9") is UnitStatus.DISPATCHED, 2.0, "status on bob's")
    await async_wait_until(lambda: inc.incident_id in b.dispatch.incidents, 2.0, "incident on bob's")
    # bob's instance sees the unit move, then arrive (fixes handed to it directly, so it is the observer)
    moving = Position("DEV-9", *geo.destination_point(*start, 90.0, 0.1), 30.0, 90.0, 0.0)
    assert [x.status for x in await b.dispatch.advance([moving])] == [UnitStatus.EN_ROUTE]
    there = Position("DEV-9", *geo.destination_point(*scene, 270.0, 0.02), 5.0, 90.0, 0.0)
    assert [x.status for x in await b.dispatch.advance([there])] == [UnitStatus.ON_SCENE]
    # the status record still names who assigned the unit (a lost claim tells that name)
    await async_wait_until(lambda: a.dispatch.status_of("DEV-9") is UnitStatus.ON_SCENE, 2.0, "on scene on alice's")
    assert a.dispatch.statuses["DEV-9"].by == "disp-a" and b.dispatch.statuses["DEV-9"].by == "disp-a"
    assert (await b.dispatch.clear_unit("DEV-9")).ok
    await outbox_drained(a)
    await outbox_drained(b)
    doc = db(mongo_uri, mongo_db_name).incidents.find_one({"_id": inc.incident_id})
    who = {e["kind"]: (e["by"], e.get("instance", "")) for e in doc["timeline"]}
    assert who == {"created": ("disp-a", ""), "unit assigned": ("disp-a", ""), "en route": ("system", b.instance),
                   "on scene": ("system", b.instance), "cleared": ("disp-b", "")}
    audit = {d["action"]: d for d in db(mongo_uri, mongo_db_name).audit_log.find()}
    assert audit["unit.dispatch"]["dispatcher"] == "disp-a" and audit["unit.clear"]["dispatcher"] == "disp-b"
    for action in ("unit.en_route", "unit.arrive"):
        assert audit[action]["dispatcher"] == "system"
        assert audit[action]["details"]["instance"] == b.instance and audit[action]["details"]["unit"] == "DEV-9"
    # both windows read the same timeline back (validated), the system's entries with their instance
    reread = await a.records.open_incidents()
    entries = {e.kind: e for e in next(i for i in reread if i.incident_id == inc.incident_id).timeline}
    assert entries["en route"].by == "system" and entries["en route"].instance == b.instance


async def test_fleet_add_remove_validated_and_followed_by_the_simulator(stacks, mongo_uri, mongo_db_name):
    a = await stacks("--cars", "2", name="a")
    b = await stacks("--cars", "2", name="b")
    for car_id, sign, expected in (("bad id!", "X-1", "Unit id"), ("PC-009", "", "Call sign"),
                                   ("PC-001", "New-1", "already registered"), ("PC-010", "Adam-1", "in use")):
        r = await a.dispatch.fleet_edits.add_unit(car_id, sign)
        assert not r.ok and expected in r.message, (car_id, r.message)
    r = await a.dispatch.fleet_edits.add_unit("PC-050", "Victor-9")
    assert r.ok, r.message
    leader = a if a.simulator.stats.ticks else b
    await async_wait_until(lambda: "PC-050" in leader.simulator.units, 3, "simulator picked the unit up")
    await async_wait_until(lambda: "PC-050" in b.fleet and b.fleet["PC-050"].call_sign == "Victor-9", 3,
                           "other instance sees it")
    await async_wait_until(lambda: a.store.get_car_location("PC-050"), 5, "new unit live")
    r = await b.dispatch.fleet_edits.remove_unit("PC-050")
    assert r.ok
    await async_wait_until(lambda: "PC-050" not in leader.simulator.units and "PC-050" not in a.fleet, 3,
                           "removed everywhere")
    assert db(mongo_uri, mongo_db_name).cars.find_one({"_id": "PC-050"}) is None
    # its live position is gone too (deleted after the simulator's last write), not left to expire
    await async_wait_until(lambda: _none(a.store.get_car_location("PC-050")), 3, "live position deleted")
    assert "PC-050" not in {p.car_id for p in await a.store.get_nearby_cars(33.77, -84.42, 50)}


async def _none(aw):
    return (await aw) is None


async def test_only_one_instance_simulates(stacks):
    a = await stacks("--cars", "2", name="a")
    b = await stacks("--cars", "2", name="b")
    t0a, t0b = a.simulator.stats.ticks, b.simulator.stats.ticks
    await async_wait_until(lambda: a.simulator.stats.ticks + b.simulator.stats.ticks >= t0a + t0b + 3, 6, "ticks")
    moving = [rt for rt in (a, b) if rt.simulator.stats.ticks > (t0a if rt is a else t0b)]
    assert len(moving) == 1


async def test_dispatcher_writes_wait_for_mongodb_and_survive_a_restart(tmp_path, redis_url, own_mongo,
                                                                      mongo_db_name):
    s = settings(tmp_path, redis_url, own_mongo.uri, mongo_db_name, "--no-simulator", name="x")
    rt = Runtime(s)
    await rt.start()
    await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
    await async_wait_until(lambda: rt.events.connected, 10, "events")
    own_mongo.stop()
    inc = await rt.dispatch.create_incident(33.75, -84.39, "Theft", 4, "bike")
    await rt.dispatch.close_incident(inc.incident_id)
    assert len(rt.outbox.pending) >= 4      # insert, audit x2, timeline, close
    await rt.stop()                          # MongoDB still down: kept in the journal
    assert list((s.data_dir / "outbox").glob("outbox-*.jsonl"))
    own_mongo.start()
    rt2 = Runtime(s)
    await rt2.start()
    try:
        await async_wait_until(lambda: not rt2.outbox.pending and rt2.outbox.written >= 4, 20, "replayed")
        doc = MongoClient(own_mongo.uri)[mongo_db_name].incidents.find_one({"_id": inc.incident_id})
        assert doc is not None and doc["status"] == "closed"
        assert [e["kind"] for e in doc["timeline"]] == ["created", "closed"]
    finally:
        await rt2.stop()
