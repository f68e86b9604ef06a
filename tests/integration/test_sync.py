import asyncio
import datetime as dt
import time

import pytest
from pymongo import AsyncMongoClient

from cartrack_desktop.domain.models import Position, SyncCycle
from cartrack_desktop.services.history.buckets import BucketWriter
from cartrack_desktop.services.history.shards import SHARDS, shard_of
from cartrack_desktop.services.history.sync import LocationSync
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from tests.helpers.history import history_on
from tests.helpers.waiting import async_wait_until

PRODUCER_PERIOD_S = 0.2


def fleet(n: int, t: float) -> list[Position]:
    return [Position(f"PC-{i:03d}", 33.7 + i * 1e-3, -84.4, 30.0, 45.0, t) for i in range(n)]


@pytest.fixture
async def hist(mongo_uri, mongo_db_name):
    client = AsyncMongoClient(mongo_uri, serverSelectionTimeoutMS=3000, tz_aware=True)
    h = history_on(client, mongo_db_name)
    await h.ensure_indexes()
    yield h
    await client.drop_database(mongo_db_name)
    await client.close()


@pytest.fixture
async def store(redis_url):
    client = make_redis(redis_url)
    yield LiveStore(client)
    await client.aclose()


async def test_history_is_bucketed_by_cycle_and_shard(hist):
    t = time.time()
    positions = fleet(200, t)
    assert await hist.writer.write_cycle(SyncCycle(77, t, tuple(positions)), retry=False)
    docs = [d async for d in hist.db.location_buckets.find({"cycle": 77})]
    assert len(docs) == len({shard_of(p.car_id) for p in positions}) <= SHARDS
    for d in docs:
        assert d["_id"] == f"77:{d['shard']}" and d["n"] == len(d["car_id"]) == len(d["lat"]) == len(d["t"])
        assert all(shard_of(cid) == d["shard"] for cid in d["car_id"])
    assert await hist.positions_in_cycle(77) == 200
    shards = [d async for d in hist.db.last_known.find({})]
    assert sum(len(d["units"]) for d in shards) == 200 and all(d["cycle"] == 77 for d in shards)
    indexes = [ix["key"] async for ix in await hist.db.location_buckets.list_indexes()]
    assert {"shard": 1, "ts": 1} in [dict(k) for k in indexes]


async def test_history_reads_one_units_track_without_repeats(hist):
    t0 = time.time() - 100
    for i in range(6):   # PC-001 stops reporting after the 3rd cycle: its last fix is captured again
        t_fix = t0 + min(i, 2) * 10
        ps = [Position("PC-001", 33.7 + min(i, 2) * 1e-3, -84.4, 30.0, 90.0, t_fix),
              *[Position(f"X-{j}", 33.8, -84.3, 10.0, 0.0, t0 + i * 10) for j in range(40)]]
        assert await hist.writer.write_cycle(SyncCycle(1000 + i, t0 + i * 10 + 1, tuple(ps)), retry=False)
    track = await hist.reader.track("PC-001", t0 - 1, t0 + 100)
    assert [round(p.lat, 4) for p in track] == [33.7, 33.701, 33.702]
    assert [p.timestamp for p in track] == sorted(p.timestamp for p in track)
    assert await hist.reader.track("PC-001", t0 + 5, t0 + 15) == track[1:2]
    assert await hist.reader.track("NOBODY", t0 - 1, t0 + 100) == []


async def test_hostile_bucket_documents_are_skipped_and_counted(hist):
    t = time.time()
    sh = shard_of("PC-001")
    await hist.db.location_buckets.insert_many([
        {"_id": "bad1", "cycle": 1, "shard": sh, "ts": dt.datetime.fromtimestamp(t, tz=dt.UTC),
         "car_id": ["PC-001"], "t": [t], "lat": [float("nan")], "lng": [-84.4], "speed": [1.0], "heading": [1.0]},
        {"_id": "bad2", "cycle": 2, "shard": sh, "ts": dt.datetime.fromtimestamp(t, tz=dt.UTC),
         "car_id": ["PC-001"], "t": [t], "lat": "33.7", "lng": [-84.4], "speed": [1.0], "heading": [1.0]},
        {"_id": "bad3", "cycle": 3, "shard": sh, "ts": dt.datetime.fromtimestamp(t, tz=dt.UTC),
         "car_id": ["PC-001", "PC-002"], "t": [t], "lat": [33.7], "lng": [-84.4], "speed": [1.0], "heading": [1.0]},
    ])
    await hist.db.last_known.insert_one({"_id": sh, "cycle": 1, "units": {
        "PC-001": {"t": t, "lat": 95.0, "lng": 0.0, "speed": 0.0, "heading": 0.0}, "<script>": {"t": t}}})
    before = hist.rejections.total
    assert await hist.reader.track("PC-001", t - 10, t + 10) == []
    assert await hist.reader.last_known("PC-001") is None
    assert await hist.reader.last_known_positions() == {}
    assert hist.rejections.total >= before + 4


async def test_cycle_writes_cars_and_history(hist, store):
    t = time.time()
    await store.update_car_locations(fleet(12, t))
    sync = LocationSync(store, hist.writer)
    cycle = await sync.capture()
    assert cycle is not None and len(cycle.positions) == 12
    assert await sync.write_one()
    db = hist.db
    assert await hist.positions_in_cycle(cycle.cycle_id) == 12
    car = await hist.registry.get("PC-005")
    assert car is not None and car.location is not None
    assert car.location.lat == pytest.approx(33.705)
    assert car.location.timestamp == pytest.approx(t, abs=1e-3)
    assert await db.cars.count_documents({}) == 12, "units seen live are registered"
    assert await db.sync_stats.find_one({"_id": cycle.cycle_id}) is not None
    assert (await db.sync_stats.find_one({"_id": "totals"}))["cycles"] == 1
    assert sync.stats.cycles == 1 and sync.stats.cars_synced == 12 and sync.stats.last_success_at


async def test_retried_cycle_creates_no_duplicates(hist):
    t = time.time()
    cycle = SyncCycle(123456, t, tuple(fleet(20, t)))
    # a failed first attempt left part of the history behind (some buckets, not the ledger)
    by_shard: dict[int, list[Position]] = {}
    for p in cycle.positions:
        by_shard.setdefault(shard_of(p.car_id), []).append(p)
    some = sorted(by_shard.items())[:3]
    await hist.db.location_buckets.insert_many([BucketWriter.bucket_doc(cycle, sh, ps) for sh, ps in some])
    assert await hist.writer.write_cycle(cycle, retry=True, attempts=2)
    assert not await hist.writer.write_cycle(cycle, retry=True, attempts=3)  # already committed
    assert await hist.positions_in_cycle(123456) == 20
    ids = [cid async for d in hist.db.location_buckets.find({"cycle": 123456}) for cid in d["car_id"]]
    assert sorted(ids) == sorted(p.car_id for p in cycle.positions)


async def test_older_cycle_never_moves_a_unit_back(hist):
    t = time.time()
    await hist.writer.write_cycle(SyncCycle(2, t, tuple(fleet(3, t))), retry=False)
    older = [Position(p.car_id, 10.0, 10.0, 1.0, 1.0, t - 30) for p in fleet(3, t)]
    await hist.writer.write_cycle(SyncCycle(1, t - 30, tuple(older)), retry=False)
    pos = await hist.reader.last_known("PC-001")
    assert pos is not None and pos.lat != 10.0 and pos.timestamp == pytest.approx(t)


async def test_mongo_outage_loses_no_cycle_and_duplicates_none(store, own_mongo, mongo_db_name):
    client = AsyncMongoClient(own_mongo.uri, serverSelectionTimeoutMS=1000, tz_aware=True)
    hist = history_on(client, mongo_db_name)
    await hist.ensure_indexes()
    sync = LocationSync(store, hist.writer, interval_s=0.5, timeout_s=1.0)
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
    written = sorted([d["_id"] async for d in hist.db.sync_stats.find({"_id": {"$type": "number"}})])
    assert written[: n_captured] == captured[: n_captured], "every captured cycle written, in order"
    for cid in captured[:n_captured]:
        assert await hist.positions_in_cycle(cid) == 15, f"cycle {cid}"
    await client.close()


async def test_backlog_is_bounded(store, mongo_db_name):
    client = AsyncMongoClient("mongodb://127.0.0.1:9/?directConnection=true", serverSelectionTimeoutMS=100)
    sync = LocationSync(store, history_on(client, mongo_db_name).writer, interval_s=10, timeout_s=0.2, backlog_max=3)
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


async def test_every_instance_reads_the_last_cycle_and_who_wrote_it(hist, store):
    """Issue 17 §6: the sync is shared state. A cycle written by one instance is what any other reads back
    (time, duration, units, instance); a newer but hostile record is skipped and counted once."""
    from cartrack_desktop.services.history.sync_status import SyncStatusReader
    from cartrack_desktop.services.infra.rejections import RejectionCounter

    writer = BucketWriter(hist.db, hist.registry, instance="alice@ws-1:4242")
    other = SyncStatusReader(hist.db, rejections=RejectionCounter("bob's"))
    assert await other.latest() is None
    t = time.time()
    await store.update_car_locations(fleet(7, t))
    sync = LocationSync(store, writer)
    cycle = await sync.capture()
    assert cycle is not None and await sync.write_one()
    seen: list = []
    other.changed.subscribe(seen.append)
    await other.refresh()
    rec = other.last
    assert rec is not None and seen == [rec]
    assert (rec.cycle_id, rec.cars, rec.instance) == (cycle.cycle_id, 7, "alice@ws-1:4242")
    assert rec.taken_at == pytest.approx(cycle.taken_at, abs=1e-3) and rec.written_at >= rec.taken_at
    assert rec.duration_s is not None and 0 <= rec.duration_s < 30
    assert (await hist.db.sync_stats.find_one({"_id": "totals"}))["instance"] == "alice@ws-1:4242"
    # newer records another (broken or hostile) writer left: skipped, counted once, the good one stands
    later = dt.datetime.fromtimestamp(t + 60, tz=dt.UTC)
    await hist.db.sync_stats.insert_many([
        {"_id": cycle.cycle_id + 5, "taken_at": later, "written_at": later, "cars": "7", "instance": "x"},
        {"_id": cycle.cycle_id + 6, "taken_at": later, "written_at": later, "cars": 1, "instance": "evil\x1b[2J"},
    ])
    for _ in range(3):
        await other.refresh()
    assert other.last == rec and seen == [rec]
    assert other.rejections.total == 2
    # a record from before instances were recorded still reads (no instance, no duration)
    await hist.db.sync_stats.insert_one({"_id": cycle.cycle_id + 9, "taken_at": later,
                                         "written_at": dt.datetime.fromtimestamp(t + 70, tz=dt.UTC), "cars": 3})
    await other.refresh()
    assert other.last is not None and (other.last.cars, other.last.instance, other.last.duration_s) == (3, "", None)
