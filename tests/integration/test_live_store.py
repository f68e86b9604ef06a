import asyncio
import time

import orjson
import pytest
import redis.asyncio as aioredis
from geographiclib.geodesic import Geodesic

from cartrack_desktop.domain import geo
from cartrack_desktop.domain.models import Position
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live import keys as ls
from cartrack_desktop.services.live.live_store import LiveStore
from tests.helpers.waiting import async_wait_until

ATL = (33.7490, -84.3880)


@pytest.fixture
async def store(redis_url):
    client = make_redis(redis_url)
    s = LiveStore(client)
    yield s
    await client.aclose()


def around(n: int, radius_km: float = 8.0, t: float | None = None) -> list[Position]:
    t = time.time() if t is None else t
    out = []
    for i in range(n):
        lat, lng = geo.destination_point(*ATL, (i * 137.5) % 360, radius_km * ((i % 97) / 97))
        out.append(Position(f"PC-{i:04d}", lat, lng, 20.0 + i % 40, (i * 7.0) % 360, t))
    return out


async def test_update_and_get_one_with_ttl(store):
    p = await store.update_car_location("PC-001", 33.75, -84.39, 35.5, 180.0)
    got = await store.get_car_location("PC-001")
    assert got is not None and got.car_id == "PC-001"
    assert (got.lat, got.lng, got.speed, got.heading) == pytest.approx((33.75, -84.39, 35.5, 180.0))
    assert got.timestamp == pytest.approx(p.timestamp, abs=1e-3)
    ttl = await store.client.ttl("car:location:PC-001")
    assert 0 < ttl <= 300
    raw = orjson.loads(await store.client.get("car:location:PC-001"))
    assert set(raw) == {"car_id", "lat", "lng", "speed", "heading", "timestamp"}  # seed-compatible JSON


async def test_update_validates_input(store):
    with pytest.raises(ValueError):
        await store.update_car_location("PC-001", 95.0, 0.0)
    with pytest.raises(ValueError):
        await store.update_car_location("bad id*", 33.0, -84.0)
    assert await store.get_car_location("bad id*") is None


async def test_get_all_and_missing(store):
    await store.update_car_locations(around(50))
    allp = await store.get_all_car_locations()
    assert sorted(p.car_id for p in allp) == [f"PC-{i:04d}" for i in range(50)]
    assert await store.get_car_location("PC-9999") is None


async def test_batch_write_is_one_script_call_per_chunk(store, redis_server):
    await store.update_car_locations(around(1))  # loads the script
    admin = redis_server.client()
    admin.config_resetstat()
    await store.update_car_locations(around(2500))
    stats = admin.info("commandstats")
    admin.close()
    client_calls = stats.get("cmdstat_evalsha", {}).get("calls", 0) + stats.get("cmdstat_eval", {}).get("calls", 0)
    assert client_calls == 6  # per 1000-unit chunk: write + batch, then the per-unit publishes; one pipeline
    assert stats["cmdstat_set"]["calls"] == 2500  # ... which did the per-unit work server-side
    assert len(await store.get_all_car_locations()) == 2500


async def test_every_update_is_published_on_its_channel(store, redis_url):
    sub = aioredis.Redis.from_url(redis_url)
    ps = sub.pubsub(ignore_subscribe_messages=True)
    await ps.psubscribe("car:location:stream:*")
    await ps.subscribe(ls.BATCH_CHANNEL)
    await store.update_car_locations(around(20))
    got: dict[str, int] = {}

    async def drained():
        msg = await ps.get_message(timeout=1.0)
        if msg is not None:
            got[msg["channel"].decode()] = got.get(msg["channel"].decode(), 0) + 1
        return len(got) == 21

    order: list[str] = []
    real_drained = drained

    async def drained_in_order():
        before = dict(got)
        done = await real_drained()
        order.extend(k for k in got if k not in before)
        return done

    await async_wait_until(drained_in_order, 5, "21 channels")
    assert got[ls.BATCH_CHANNEL] == 1
    assert all(got[f"car:location:stream:PC-{i:04d}"] == 1 for i in range(20))
    assert order[0] == ls.BATCH_CHANNEL  # the whole tick first, then the per-unit copies
    await ps.aclose()
    await sub.aclose()


async def test_nearby_sorted_and_matches_geodesic_brute_force(store):
    positions = around(400, radius_km=8)
    await store.update_car_locations(positions)
    found = await store.get_nearby_cars(*ATL, 3.0)
    wgs = Geodesic.WGS84
    brute = sorted(
        (wgs.Inverse(*ATL, p.lat, p.lng)["s12"] / 1000, p.car_id) for p in positions
    )
    inside = [cid for d, cid in brute if d <= 3.0 * 0.995]
    maybe = {cid for d, cid in brute if 3.0 * 0.995 < d <= 3.0 * 1.005}
    got_ids = [n.car_id for n in found]
    assert set(inside) <= set(got_ids) <= set(inside) | maybe
    dists = [n.distance_km for n in found]
    assert dists == sorted(dists)
    ref = {cid: d for d, cid in brute}
    for n in found:
        assert n.distance_km == pytest.approx(ref[n.car_id], rel=0.005, abs=1e-6)
        assert set(n.as_dict()) == {"car_id", "lat", "lng", "speed", "heading", "timestamp", "distance_km"}


async def test_nearby_limit_and_validation(store):
    await store.update_car_locations(around(100, radius_km=2))
    five = await store.get_nearby_cars(*ATL, 3.0, limit=5)
    full = await store.get_nearby_cars(*ATL, 3.0)
    assert [n.car_id for n in five] == [n.car_id for n in full[:5]]
    for bad in ((float("nan"), 0, 1), (0, 0, -1), (91, 0, 1), (0, 0, float("inf"))):
        with pytest.raises(ValueError):
            await store.get_nearby_cars(*bad)


async def test_expired_units_leave_nearby_results_and_are_pruned(redis_url):
    client = make_redis(redis_url)
    store = LiveStore(client, ttl_s=1)
    await store.update_car_locations(around(10, radius_km=1))
    await store.update_car_location("PC-LIVE", *ATL)
    assert len(await store.get_nearby_cars(*ATL, 3.0)) == 11

    async def only_live_left():
        await store.update_car_location("PC-LIVE", *ATL)  # keeps one unit fresh
        return [n.car_id for n in await store.get_nearby_cars(*ATL, 3.0)] == ["PC-LIVE"]

    await async_wait_until(only_live_left, 5, "expired units to drop out")
    # the GEO members are still there until pruned...
    assert await client.zcard(ls.GEO_KEY) == 11

    async def pruned():
        await store.update_car_location("PC-LIVE", *ATL)
        await store.prune_expired()
        return await client.zcard(ls.GEO_KEY) == 1 and await client.zcard(ls.SEEN_KEY) == 1

    await async_wait_until(pruned, 5, "GEO members pruned")
    await client.aclose()


async def test_prune_keeps_units_written_by_seed_style_producers(store):
    client = store.client
    await store.update_car_location("PC-1", *ATL)
    # a seed-style producer refreshes only the key, with its own TTL
    await client.zadd(ls.SEEN_KEY, {"PC-1": 1.0})  # looks long expired in the index
    assert await store.prune_expired() == 0
    assert await client.zscore(ls.GEO_KEY, "car:location:PC-1") is not None


async def test_corrupt_stored_values_are_skipped_and_counted(store):
    await store.update_car_locations(around(3))
    await store.client.set("car:location:PC-0001", b"{not json")
    await store.client.set("car:location:PC-0002", orjson.dumps({"car_id": "PC-0002", "lat": 1e308 * 10}))
    got = await store.get_all_car_locations()
    assert [p.car_id for p in got] == ["PC-0000"]
    assert store.rejections.total >= 2
    assert await store.get_car_location("PC-0001") is None


async def test_polar_positions_are_stored_but_not_indexed(store):
    await store.update_car_location("POLAR", 89.0, 10.0)
    assert (await store.get_car_location("POLAR")) is not None
    assert await store.get_nearby_cars(89.0, 10.0, 5.0) == []


async def test_concurrent_writes_and_reads(store):
    batches = [around(200, t=time.time() + i * 0.001) for i in range(5)]
    await asyncio.gather(*(store.update_car_locations(b) for b in batches), store.get_nearby_cars(*ATL, 3))
    assert len(await store.get_all_car_locations()) == 200


async def test_packed_write_stores_exactly_the_documented_json_and_survives_a_script_flush(store):
    """The write path frames its arguments itself (services/live/resp.py): values and batch rows are
    encode_position's, and a Redis that lost its scripts (restart, SCRIPT FLUSH) gets them again."""
    from cartrack_desktop.domain.messages import encode_position

    t = time.time()
    ps = [Position("PC-1", 33.123456789, -84.98765432, 12.345, 359.999, t + 0.1234),
          Position("PC-2", -12.5, 130.25, 0.0, 0.0, t), Position("PC-3", 60.1, 24.9, 200.0, 359.994, t)]
    sub = store.client.pubsub()
    await sub.subscribe(ls.BATCH_CHANNEL)
    await sub.get_message(timeout=1)
    assert await store.update_car_locations(ps) == 3
    for p in ps:
        assert await store.client.get(ls.location_key(p.car_id)) == orjson.dumps(encode_position(p))
    msg = await async_wait_until(lambda: sub.get_message(timeout=0.2), 5, "batch message")
    rows = orjson.loads(msg["data"])["cars"]
    assert rows == [[e["car_id"], e["lat"], e["lng"], e["speed"], e["heading"], e["timestamp"]]
                    for e in map(encode_position, ps)]
    await store.client.script_flush()
    assert await store.update_car_locations(ps[:1]) == 1
    await sub.aclose()


async def test_newest_only_never_moves_a_unit_back_and_keeps_the_older_fix_for_history(store):
    """The device ingest's writes: a fix older than the stored one (it came through another ingest
    process) leaves the unit where it is and goes to the late stream."""
    t = time.time()
    assert await store.update_car_locations([Position("DEV-1", 60.2, 24.9, 5.0, 90.0, t)], newest_only=True) == 1
    older = Position("DEV-1", 60.1, 24.8, 5.0, 90.0, t - 30)
    assert await store.update_car_locations([older, Position("DEV-2", 1.0, 2.0, 0.0, 0.0, t)],
                                            newest_only=True) == 1
    assert (await store.get_car_location("DEV-1")).timestamp == pytest.approx(t, abs=1e-3)
    entries = await store.client.xrange(ls.LATE_STREAM)
    assert [orjson.loads(f[b"p"])["timestamp"] for _id, f in entries] == [round(t - 30, 3)]
    # without the flag (the simulator) a write is taken as it comes
    assert await store.update_car_locations([older]) == 1
    assert (await store.get_car_location("DEV-1")).timestamp == pytest.approx(t - 30, abs=1e-3)
