import asyncio
import itertools
import time

import orjson
import pytest
import redis.asyncio as aioredis

from cartrack_desktop.domain import geo, patrol
from cartrack_desktop.domain.models import Car, UnitStatus
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.services.live.simulator import Simulator
from tests.helpers.waiting import async_wait_until


@pytest.fixture
async def store(redis_url):
    client = make_redis(redis_url)
    yield LiveStore(client)
    await client.aclose()


async def test_each_unit_publishes_about_once_a_second(store, redis_url):
    sim = Simulator(store, seed=1)
    for i in range(1, 6):
        sim.add_car(Car(f"PC-{i:03d}", f"Adam-{i}"))
    sub = aioredis.Redis.from_url(redis_url)
    ps = sub.pubsub(ignore_subscribe_messages=True)
    await ps.psubscribe("car:location:stream:*")
    task = asyncio.create_task(sim.run())
    fixes: dict[str, list[dict]] = {}

    async def four_each():
        msg = await ps.get_message(timeout=1.0)
        if msg is not None:
            d = orjson.loads(msg["data"])
            fixes.setdefault(d["car_id"], []).append(d)
        return len(fixes) == 5 and all(len(v) >= 4 for v in fixes.values())

    try:
        await async_wait_until(four_each, 10, "four fixes per unit")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ps.aclose()
        await sub.aclose()
    for cid, seq in fixes.items():
        gaps = [b["timestamp"] - a["timestamp"] for a, b in itertools.pairwise(seq)]
        assert all(0.8 <= g <= 1.2 for g in gaps), (cid, gaps)
        for a, b in itertools.pairwise(seq):
            assert patrol.PATROL_MIN_MPH <= b["speed"] <= patrol.PATROL_MAX_MPH
            moved = geo.haversine_km(a["lat"], a["lng"], b["lat"], b["lng"])
            expected = b["speed"] * geo.MPH_TO_KMH / 3600 * (b["timestamp"] - a["timestamp"])
            assert moved == pytest.approx(expected, rel=0.10)


async def test_add_remove_and_out_of_service_while_running(store):
    sim = Simulator(store, seed=2)
    sim.add_car(Car("PC-001", "Adam-1"))
    task = asyncio.create_task(sim.run())
    try:
        await async_wait_until(lambda: store.get_car_location("PC-001"), 5, "PC-001 live")
        sim.add_car(Car("PC-002", "Boy-1"))
        await async_wait_until(lambda: store.get_car_location("PC-002"), 5, "PC-002 live")
        assert sim.remove_car("PC-001")
        sim.add_car(Car("PC-003", "Charles-1", UnitStatus.OUT_OF_SERVICE))
        first = await async_wait_until(lambda: store.get_car_location("PC-003"), 5, "PC-003 live")

        async def two_more_ticks():
            p = await store.get_car_location("PC-003")
            return p if p and p.timestamp > first.timestamp + 1.5 else None

        later = await async_wait_until(two_more_ticks, 5, "two more ticks")
        assert later.speed == 0.0 and (later.lat, later.lng) == (first.lat, first.lng)
        # a removed unit's live position is deleted after its last write, and stays deleted
        assert await store.get_car_location("PC-001") is None
        assert "PC-001" not in await store.live_car_ids()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_same_seed_same_start(store):
    a, b = Simulator(store, seed=9), Simulator(store, seed=9)
    for s in (a, b):
        for i in range(3):
            s.add_car(Car(f"PC-{i}", f"S{i}"))
    pa = [(p.lat, p.lng, p.speed) for p in await a.step_all(1.0)]
    pb = [(p.lat, p.lng, p.speed) for p in await b.step_all(1.0)]
    assert pa == pb


async def test_units_resume_from_last_known_location(store):
    from cartrack_desktop.domain.models import Position

    sim = Simulator(store, seed=3)
    sim.add_car(Car("PC-001", "Adam-1", location=Position("PC-001", 33.8, -84.4, 30, 0, time.time())))
    assert (sim.units["PC-001"].lat, sim.units["PC-001"].lng) == (33.8, -84.4)


async def test_redis_outage_does_not_stop_the_simulator(own_redis):
    client = make_redis(own_redis.url)
    store = LiveStore(client)
    sim = Simulator(store, seed=4)
    sim.add_car(Car("PC-001", "Adam-1"))
    task = asyncio.create_task(sim.run())
    try:
        await async_wait_until(lambda: store.get_car_location("PC-001"), 5, "live")
        own_redis.stop()
        await async_wait_until(lambda: sim.stats.write_failures >= 2, 10, "failed writes")
        assert not task.done()
        own_redis.start()
        ticks = sim.stats.ticks
        await async_wait_until(lambda: store.get_car_location("PC-001"), 10, "live again")
        assert sim.stats.ticks > ticks
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
