"""The Foundation acceptance, checked from outside the process with plain clients.

`cartrack-desktop --headless --cars 50 --duration 25` against externally started servers:
keys with TTL, 1 Hz per-unit publishing, speeds and positions, nearby vs a geodesic brute
force, then MongoDB contents and a clean exit.
"""

import asyncio
import itertools
import subprocess
import sys
import time

import orjson
import pytest
from geographiclib.geodesic import Geodesic

from cartrack_desktop.domain.geo import MPH_TO_KMH
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from tests.helpers.waiting import wait_until

CARS = 50
DURATION_S = 25
WGS = Geodesic.WGS84

pytestmark = pytest.mark.slow


def geodesic_km(lat1, lng1, lat2, lng2):
    return WGS.Inverse(lat1, lng1, lat2, lng2)["s12"] / 1000


def test_headless_run_meets_the_foundation_acceptance(own_redis, own_mongo, tmp_path):
    started = time.monotonic()
    app = subprocess.Popen(
        [sys.executable, "-m", "cartrack_desktop.app", "--headless", "--cars", str(CARS), "--duration",
         str(DURATION_S), "--redis-url", own_redis.url, "--mongo-uri", own_mongo.uri, "--data-dir",
         str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    r = own_redis.client()
    try:
        keys = wait_until(lambda: len(list(r.scan_iter("car:location:*", count=1000))) == CARS
                          and list(r.scan_iter("car:location:*", count=1000)), 20, f"{CARS} keys")
        ttls = [r.ttl(k) for k in keys]
        assert all(0 < t <= 300 for t in ttls), ttls

        # every unit publishes about once a second on its own channel
        ps = r.pubsub(ignore_subscribe_messages=True)
        ps.psubscribe("car:location:stream:*")
        fixes: dict[str, list[dict]] = {}
        t_end = time.monotonic() + 6.0
        while time.monotonic() < t_end:
            msg = ps.get_message(timeout=0.5)
            if msg and msg["type"] == "pmessage":
                d = orjson.loads(msg["data"])
                assert msg["channel"].decode() == f"car:location:stream:{d['car_id']}"
                fixes.setdefault(d["car_id"], []).append(d)
        ps.close()
        assert len(fixes) == CARS
        for cid, seq in fixes.items():
            assert 5 <= len(seq) <= 7, (cid, len(seq))
            for f in seq:
                assert 20.0 <= f["speed"] <= 60.0
                assert 33.65 <= f["lat"] <= 33.89 and -84.55 <= f["lng"] <= -84.29
            for a, b in itertools.pairwise(seq):
                dt = b["timestamp"] - a["timestamp"]
                assert 0.8 <= dt <= 1.2, (cid, dt)
                moved = geodesic_km(a["lat"], a["lng"], b["lat"], b["lng"])
                assert moved == pytest.approx(b["speed"] * MPH_TO_KMH / 3600 * dt, rel=0.10), cid

        # nearby == brute force over every key, geodesic distances within 0.5 %
        async def nearby_check():
            client = make_redis(own_redis.url)
            store = LiveStore(client)
            try:
                center = (33.77, -84.42)
                found = await store.get_nearby_cars(*center, 5.0)
            finally:
                await client.aclose()
            snapshot = {orjson.loads(v)["car_id"]: orjson.loads(v) for v in r.mget(keys) if v}
            brute = {cid: geodesic_km(*center, p["lat"], p["lng"]) for cid, p in snapshot.items()}
            sure = {cid for cid, d in brute.items() if d <= 5.0 * 0.99}
            edge = {cid for cid, d in brute.items() if 5.0 * 0.99 < d <= 5.0 * 1.01}
            got = {n.car_id for n in found}
            return found, brute, sure, edge, got

        found, brute, sure, edge, got = asyncio.run(nearby_check())
        assert sure - got == set() and got - sure - edge == set()
        assert [n.distance_km for n in found] == sorted(n.distance_km for n in found)
        for n in found:  # positions moved by < 30 m between the two reads
            assert n.distance_km == pytest.approx(brute[n.car_id], rel=0.005, abs=0.05)

        out, _ = app.communicate(timeout=DURATION_S + 20)
    finally:
        if app.poll() is None:
            app.kill()
        r.close()
    elapsed = time.monotonic() - started
    assert app.returncode == 0, out
    assert elapsed < DURATION_S + 10, elapsed
    assert "Traceback" not in out

    db = own_mongo.client().cartrack
    assert db.cars.count_documents({}) == CARS
    last_known = {cid: u for d in db.last_known.find({}) for cid, u in d["units"].items()}
    assert set(last_known) == {d["_id"] for d in db.cars.find({})}
    assert all(isinstance(u["lat"], float) and isinstance(u["t"], float) for u in last_known.values())
    per_cycle: dict[int, list[str]] = {}
    for d in db.location_buckets.find({}):
        per_cycle.setdefault(d["cycle"], []).extend(d["car_id"])
    assert len(per_cycle) >= 2, per_cycle.keys()
    for cycle_id, ids in per_cycle.items():
        assert len(ids) == len(set(ids)), f"a unit twice in cycle {cycle_id}"
    assert sum(len(ids) for ids in per_cycle.values()) >= 2 * CARS
    assert db.sync_stats.count_documents({}) >= 2
    assert "sync_stats" in db.list_collection_names()
