"""Late fixes (cartrack:late) into the history, against a real redis-server and secantusd-py.

The stream is filled exactly as the device ingest's writer fills it (XADD, field `p`); the writer
lands each fix in location_buckets at its own time, exactly once, through MongoDB outages and an
instance that dies between writing and acknowledging.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from pymongo import AsyncMongoClient

from cartrack_desktop.domain.messages import encode_position
from cartrack_desktop.domain.models import Position
from cartrack_desktop.services.history.late import GROUP, LateFixWriter
from cartrack_desktop.services.history.reader import HistoryReader
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.infra.rejections import RejectionCounter
from cartrack_desktop.services.live.keys import LATE_STREAM
from tests.helpers.waiting import async_wait_until


def fixes(car_id: str, t0: float, n: int, step_s: float = 1.0) -> list[Position]:
    return [Position(car_id, 60.17 + i * 1e-4, 24.94, 20.0, 90.0, t0 + i * step_s) for i in range(n)]


async def add_late(redis: Any, ps: list[Position]) -> list[str]:
    """As ingest/writer.py does it."""
    ids = []
    for p in ps:
        eid = await redis.xadd(LATE_STREAM, {"p": orjson.dumps(encode_position(p))}, maxlen=200_000, approximate=True)
        ids.append(eid.decode())
    return ids


@pytest.fixture
async def parts(redis_url: str, mongo_uri: str, mongo_db_name: str):
    redis = make_redis(redis_url)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = mongo[mongo_db_name]
    yield redis, db
    await redis.aclose()
    await mongo.close()


def writer(redis: Any, db: Any, name: str = "a") -> LateFixWriter:
    return LateFixWriter(redis, db, rejections=RejectionCounter("t"), consumer=name)


async def test_late_fixes_land_at_their_own_time_and_fill_the_replay_gap(parts) -> None:
    redis, db = parts
    reader = HistoryReader(db, rejections=RejectionCounter("r"))
    t0 = float(int(time.time()) - 600)
    w = writer(redis, db)
    await w.ensure_indexes()
    await w.ensure_group()
    # a minute of buffered fixes from one phone, another unit's few
    await add_late(redis, fixes("U1", t0, 60) + fixes("U2", t0 + 5, 3, 7.0))
    while await w.step():
        pass
    assert w.stats.landed == 63 and w.stats.duplicates == 0
    track = await reader.track("U1", t0 - 1, t0 + 120)
    assert [p.timestamp for p in track] == [t0 + i for i in range(60)]
    assert track[10].lat == pytest.approx(60.17 + 10 * 1e-4)
    assert [p.timestamp for p in await reader.track("U2", t0, t0 + 60)] == [t0 + 5, t0 + 12, t0 + 19]
    # acknowledged and deleted: nothing left in the stream or pending
    assert await redis.xlen(LATE_STREAM) == 0
    assert (await redis.xpending(LATE_STREAM, GROUP))["pending"] == 0
    # documents in the bucket format, one per (10 s cycle, shard) of the read
    docs = [d async for d in db.location_buckets.find({"late": True})]
    assert sum(d["n"] for d in docs) == 63
    assert all(d["cycle"] == int(max(d["t"]) // 10) and d["ts"].timestamp() == pytest.approx(max(d["t"]), abs=1e-3)
               for d in docs)


async def test_an_instance_dying_before_its_ack_writes_nothing_twice(parts) -> None:
    redis, db = parts
    reader = HistoryReader(db, rejections=RejectionCounter("r"))
    t0 = float(int(time.time()) - 300)
    a = writer(redis, db, "dies")
    await a.ensure_indexes()
    await a.ensure_group()
    await add_late(redis, fixes("U3", t0, 25))
    # instance a reads and writes, then dies before XACK: the entries stay pending under its name
    reply = await redis.xreadgroup(GROUP, "dies", {LATE_STREAM: ">"}, count=1000)
    entries = [(eid.decode(), f) for _n, msgs in reply for eid, f in msgs]
    assert len(entries) == 25
    half = [e for e in map(a._decode, entries[:15]) if e is not None]
    assert await a.land(half) == 15
    # another instance takes the entries over once they have been idle long enough
    b = writer(redis, db, "survivor")
    await redis.xclaim(LATE_STREAM, GROUP, "survivor", 0, [e for e, _ in entries])   # as XAUTOCLAIM after idling
    reply = await redis.xreadgroup(GROUP, "survivor", {LATE_STREAM: "0"}, count=1000)
    again = [e for e in map(b._decode, [(eid.decode(), f) for _n, msgs in reply for eid, f in msgs]) if e]
    assert await b.land(again) == 10
    assert b.stats.duplicates == 15
    assert [p.timestamp for p in await reader.track("U3", t0 - 1, t0 + 60)] == [t0 + i for i in range(25)]
    # and a second landing of the same read is a no-op
    assert await b.land(again) == 0


async def test_claim_takes_over_entries_of_a_stopped_instance(parts, monkeypatch: pytest.MonkeyPatch) -> None:
    from cartrack_desktop.services.history import late

    redis, db = parts
    monkeypatch.setattr(late, "CLAIM_IDLE_S", 0.0)
    t0 = float(int(time.time()) - 200)
    a = writer(redis, db, "gone")
    await a.ensure_group()
    await add_late(redis, fixes("U4", t0, 5))
    await redis.xreadgroup(GROUP, "gone", {LATE_STREAM: ">"}, count=1000)   # read, never acknowledged
    b = writer(redis, db, "live")
    await b.ensure_indexes()
    assert await b.step() == 5
    assert b.stats.claimed == 5 and b.stats.landed == 5
    assert (await redis.xpending(LATE_STREAM, GROUP))["pending"] == 0


async def test_a_fix_sent_twice_is_one_point(parts) -> None:
    redis, db = parts
    w = writer(redis, db)
    await w.prepare()
    t0 = float(int(time.time()) - 500)
    await add_late(redis, fixes("U7", t0, 5) + fixes("U7", t0 + 2, 3))   # the last three again
    assert await w.step() == 8
    await add_late(redis, fixes("U7", t0, 5))                             # and all five again, later
    assert await w.step() == 5
    assert (w.stats.landed, w.stats.duplicates) == (5, 8)
    assert sum([d["n"] async for d in db.location_buckets.find({"late": True})]) == 5


async def test_bad_entries_are_counted_acknowledged_and_never_written(parts) -> None:
    redis, db = parts
    w = writer(redis, db)
    await w.ensure_indexes()
    await w.ensure_group()
    await redis.xadd(LATE_STREAM, {"p": b'{"car_id":"<b>x","lat":1,"lng":2,"speed":0,"heading":0,"timestamp":1}'})
    await redis.xadd(LATE_STREAM, {"p": b"not json"})
    await redis.xadd(LATE_STREAM, {"other": b"1"})
    await add_late(redis, fixes("U5", time.time() - 100, 1))
    assert await w.step() == 4
    assert w.stats.rejected == 3 and w.stats.landed == 1
    assert await redis.xlen(LATE_STREAM) == 0


async def test_mongodb_outage_keeps_the_fixes_and_lands_them_once_back(redis_url: str, own_mongo,
                                                                       mongo_db_name: str) -> None:
    redis = make_redis(redis_url)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(own_mongo.uri, tz_aware=True,
                                                               serverSelectionTimeoutMS=500)
    db = mongo[mongo_db_name]
    w = writer(redis, db)
    await w.prepare()
    t0 = float(int(time.time()) - 400)
    await add_late(redis, fixes("U6", t0, 30))
    own_mongo.kill()
    import asyncio
    task = asyncio.ensure_future(w.run())
    try:
        await async_wait_until(lambda: w.stats.failures >= 1, 20, "a failed attempt")
        assert w.stats.landed == 0 and w.stats.waiting == 30
        assert (await redis.xpending(LATE_STREAM, GROUP))["pending"] == 30   # still in the stream, unacknowledged
        own_mongo.start()
        await async_wait_until(lambda: w.stats.landed == 30, 40, "landed after the outage")
        await async_wait_until(lambda: _stream_empty(redis), 10, "acknowledged")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    reader = HistoryReader(db, rejections=RejectionCounter("r"))
    assert [p.timestamp for p in await reader.track("U6", t0 - 1, t0 + 60)] == [t0 + i for i in range(30)]
    assert sum([d["n"] async for d in db.location_buckets.find({"late": True})]) == 30
    await redis.aclose()
    await mongo.close()


async def _stream_empty(redis: Any) -> bool:
    return await redis.xlen(LATE_STREAM) == 0
