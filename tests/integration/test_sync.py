import asyncio
import datetime as dt
import time

import pytest
from pymongo import AsyncMongoClient

from cartrack_desktop.domain.models import Position, SyncCycle
from cartrack_desktop.services.archive import Archive
from cartrack_desktop.services.live_store import LiveStore
from cartrack_desktop.services.redis_conn import make_redis
from cartrack_desktop.services.sync import LocationSync
from tests.helpers.waiting import async_wait_until

PRODUCER_PERIOD_S = 0.2


def fleet(n: int, t: float) -> list[Position]:
    return [Position(f"PC-{i:03d}", 33.7 + i * 1e-3, -84.4, 30.0, 45.0, t) for i in range(n)]


@pytest.fixture
async def archive(mongo_uri, mongo_db_name):
    client = AsyncMongoClient(mongo_uri, serverSelectionTimeoutMS=3000, tz_aware=True)
    a = Archive(client, mongo_db_name)
    await a.ensure_schema()
    yield a
    await client.drop_database(mongo_db_name)
    await client.close()


@pytest.fixture
async def store(redis_url):
    client = make_redis(redis_url)
    yield LiveStore(client)
    await client.aclose()


async def test_schema_uses_time_series_where_supported(archive):
    infos = [c async for c in await archive.db.list_collections(filter={"name": "location_history"})]
    opts = infos[0]["options"]
    assert opts["timeseries"]["metaField"] == "car_id"
    assert archive.history_is_timeseries


async def test_cycle_writes_cars_and_history(archive, store):
    t = time.time()
    await store.update_car_locations(fleet(12, t))
    sync = LocationSync(store, archive)
    cycle = await sync.capture()
    assert cycle is not None and len(cycle.positions) == 12
    assert await sync.write_one()
    db = archive.db
    assert await db.location_history.count_documents({"cycle": cycle.cycle_id}) == 12
    car = await db.cars.find_one({"_id": "PC-005"})
    assert car["location"]["lat"] == pytest.approx(33.705)
    assert car["location"]["timestamp"] == pytest.approx(t, abs=1e-3)
    assert await db.sync_stats.find_one({"_id": cycle.cycle_id}) is not None
    assert (await db.sync_stats.find_one({"_id": "totals"}))["cycles"] == 1
    assert sync.stats.cycles == 1 and sync.stats.cars_synced == 12 and sync.stats.last_success_at


async def test_retried_cycle_creates_no_duplicates(archive):
    t = time.time()
    cycle = SyncCycle(123456, t, tuple(fleet(20, t)))
    # a failed first attempt left part of the history behind
    await archive.db.location_history.insert_many(
        [{"ts": dt.datetime.fromtimestamp(t, tz=dt.UTC),
          "car_id": f"PC-{i:03d}", "cycle": 123456, "lat": 0.0, "lng": 0.0, "speed": 0.0, "heading": 0.0}
         for i in range(7)])
    assert await archive.write_cycle(cycle, retry=True, attempts=2)
    assert not await archive.write_cycle(cycle, retry=True, attempts=3)  # already committed
    hist = archive.db.location_history
    assert await hist.count_documents({"cycle": 123456}) == 20
    pipeline = [{"$group": {"_id": {"car": "$car_id", "cycle": "$cycle"}, "n": {"$sum": 1}}},
                {"$match": {"n": {"$gt": 1}}}]
    assert [d async for d in await hist.aggregate(pipeline)] == []


async def test_older_cycle_never_moves_a_unit_back(archive):
    t = time.time()
    await archive.write_cycle(SyncCycle(2, t, tuple(fleet(3, t))), retry=False)
    older = [Position(p.car_id, 10.0, 10.0, 1.0, 1.0, t - 30) for p in fleet(3, t)]
    await archive.write_cycle(SyncCycle(1, t - 30, tuple(older)), retry=False)
    car = await archive.db.cars.find_one({"_id": "PC-001"})
    assert car["location"]["lat"] != 10.0


async def test_mongo_outage_loses_no_cycle_and_duplicates_none(store, own_mongo, mongo_db_name):
    client = AsyncMongoClient(own_mongo.uri, serverSelectionTimeoutMS=1000, tz_aware=True)
    archive = Archive(client, mongo_db_name)
    await archive.ensure_schema()
    sync = LocationSync(store, archive, interval_s=0.5, timeout_s=1.0)
    captured: list[int] = []
    real_capture = sync.capture

    async def capture_and_record():
        c = await real_capture()
        if c is not None:
            captured.append(c.cycle_id)
        return c

    sync.capture = capture_and_record  # type: ignore[method-assign]

    async def producer():   # a device fleet reporting at 5 Hz (pacing a producer, not waiting)
        while True:
            await store.update_car_locations(fleet(15, time.time()))
            await asyncio.sleep(PRODUCER_PERIOD_S)

    tasks = [asyncio.create_task(producer()), asyncio.create_task(sync.run_capture()),
             asyncio.create_task(sync.run_writer())]
    try:
        await async_wait_until(lambda: sync.stats.cycles >= 2, 10, "first cycles written")
        own_mongo.stop()
        await async_wait_until(lambda: len(sync.backlog) >= 4, 15, "cycles to pile up")
        assert sync.stats.failures >= 1
        own_mongo.start()
        n_captured = len(captured)
        await async_wait_until(lambda: sync.stats.cycles >= n_captured and not sync.backlog, 30,
                               "backlog written")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    written = sorted([d["_id"] async for d in archive.db.sync_stats.find({"_id": {"$type": "number"}})])
    assert written[: n_captured] == captured[: n_captured], "every captured cycle written, in order"
    hist = archive.db.location_history
    for cid in captured[:n_captured]:
        assert await hist.count_documents({"cycle": cid}) == 15, f"cycle {cid}"
    await client.close()


async def test_backlog_is_bounded(store, mongo_db_name):
    client = AsyncMongoClient("mongodb://127.0.0.1:9/?directConnection=true", serverSelectionTimeoutMS=100)
    sync = LocationSync(store, Archive(client, mongo_db_name), interval_s=10, timeout_s=0.2, backlog_max=3)
    await store.update_car_locations(fleet(2, time.time()))
    clock = [1000.0]
    sync._clock = lambda: clock[0]  # type: ignore[method-assign]
    for _ in range(5):
        clock[0] += 10
        await sync.capture()
    assert len(sync.backlog) == 3 and sync.stats.dropped == 2
    assert [c.cycle_id for c in sync.backlog] == [103, 104, 105]
    assert not await sync.write_one()
    assert sync.stats.failures == 1
    await client.close()
