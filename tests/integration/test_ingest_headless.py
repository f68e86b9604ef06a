"""Issue 15's acceptance from outside: `cartrack-desktop --headless --ingest PORT` as a real process.

Real HTTP clients (httpx, and raw sockets) speak the apps' own formats to it; what they report is
checked in Redis (nearby search, the batch channel), in MongoDB (history, fleet, audit) and in the
dispatch flow, with a desktop's runtime in this process as the dispatcher. One process serves the
module's tests (each uses its own devices); the Redis outage test restarts Redis last.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from pymongo import AsyncMongoClient, MongoClient

from cartrack_desktop.config import load_settings
from cartrack_desktop.domain import geo
from cartrack_desktop.domain.models import UnitStatus
from cartrack_desktop.services.history.reader import HistoryReader
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.infra.rejections import RejectionCounter
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.servers import MongoServer, RedisServer, free_port
from tests.helpers.waiting import async_wait_until, wait_until
from tests.unit.test_ingest_protocols import FORWARDED, OWNTRACKS, TRACCAR_JSON

pytestmark = pytest.mark.slow

DB = "ingestacc"
FLEET = 200                          # devices reporting at 1 Hz
HOLD_S = 10                          # ... for this long
HEL = (60.1699, 24.9384)
KNOT_MPH = 1.852 / 1.609344


@dataclass
class Headless:
    proc: subprocess.Popen[str]
    port: int
    redis: RedisServer
    mongo: MongoServer
    log: Path
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mongo_uri(self) -> str:
        return self.mongo.uri.replace("/?", f"/{DB}?")


def _seed(mongo: MongoServer) -> None:
    db = MongoClient(mongo.uri)[DB]
    docs = [{"_id": f"D{i:03d}", "car_id": f"D{i:03d}", "call_sign": f"Dev-{i}", "status": "available",
             "simulated": False, "device_id": f"imei{i:012d}"} for i in range(FLEET)]
    docs += [{"_id": cid, "car_id": cid, "call_sign": sign, "status": "available", "simulated": False,
              "device_id": dev} for cid, sign, dev in (
        ("OSM", "Osm-1", "353861053849681"), ("TJS", "Tcj-1", "8737767034"), ("OWN", "Own-1", "jane-phone"),
        ("FWD", "Fwd-1", "860000000000007"), ("R-1", "Real-1", "real-tracker-1"), ("LATE", "Late-1", "late-phone"),
        ("OUT", "Out-1", "outage-phone"))]
    db.cars.insert_many(docs)


@pytest.fixture(scope="module")
def headless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Headless]:
    tmp = tmp_path_factory.mktemp("headless-ingest")
    rs = RedisServer(tmp / "redis").start()
    ms = MongoServer(tmp / "mongo").start()
    _seed(ms)
    port = free_port()
    log = tmp / "app.log"
    app = Headless(None, port, rs, ms, log, tmp / "data")  # type: ignore[arg-type]
    with open(log, "w") as out:
        app.proc = subprocess.Popen(
            [sys.executable, "-m", "cartrack_desktop.app", "--headless", "--ingest", str(port), "--cars", "3",
             "--redis-url", rs.url, "--mongo-uri", app.mongo_uri, "--data-dir", str(app.data_dir),
             "--dispatcher", "svc"], stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: _answers(port) or app.proc.poll() is not None, 60, "the ingest answering")
        assert app.proc.poll() is None, log.read_text()[-3000:]
        yield app
    finally:
        app.proc.terminate()
        try:
            app.proc.wait(20)
        except subprocess.TimeoutExpired:
            app.proc.kill()
            app.proc.wait()
        rs.stop()
        ms.stop()


def _answers(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/?id=probe&lat=1&lon=1", timeout=2).status_code in (400, 200)
    return False


@pytest.fixture
async def desk(headless: Headless, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A dispatcher's desktop (its Qt-free runtime) on the same servers, without a simulator."""
    rt = Runtime(load_settings(["--redis-url", headless.redis.url, "--mongo-uri", headless.mongo_uri,
                                "--data-dir", str(tmp_path / "desk"), "--no-simulator", "--dispatcher", "desk"],
                               environ={}))
    await rt.start()
    await asyncio.wait_for(rt.fleet.loaded.wait(), 20)
    await async_wait_until(lambda: rt.events is not None and rt.events.connected, 10, "events subscribed")
    yield rt
    await rt.stop()


def now_s() -> int:
    return int(time.time())


async def test_the_apps_formats_reach_nearby_search_in_mph(headless: Headless) -> None:
    t = now_s()
    lat, lng = HEL
    tj = orjson.loads(TRACCAR_JSON[3])
    tj["location"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    tj["location"]["coords"].update(latitude=lat + 0.002, longitude=lng, speed=10.0, heading=45)
    own = {**OWNTRACKS["full"], "tst": t, "lat": lat + 0.003, "lon": lng, "vel": 50, "cog": 90}
    fwd = orjson.loads(orjson.dumps(FORWARDED))
    fwd["position"].update(latitude=lat + 0.004, longitude=lng, speed=20.0, course=180.0,
                           fixTime=time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(t)))
    fwd["position"]["attributes"].pop("alarm")
    async with httpx.AsyncClient(base_url=headless.url) as c:
        answers = [
            await c.get(f"/?id=353861053849681&lat={lat + 0.001}&lon={lng}&timestamp={t}000&speed=30&bearing=10"),
            await c.post("/", json=tj),
            await c.post("/owntracks", json=own, headers={"X-Limit-U": "jane", "X-Limit-D": "phone"}),
            await c.post("/", json=fwd),
        ]
    assert [r.status_code for r in answers] == [200] * 4, [r.content for r in answers]
    client = make_redis(headless.redis.url)
    try:
        found = {n.car_id: n for n in await LiveStore(client).get_nearby_cars(lat, lng, 1.0)}
    finally:
        await client.aclose()
    assert {"OSM", "TJS", "OWN", "FWD"} <= set(found)
    speeds = {cid: found[cid].position.speed for cid in ("OSM", "TJS", "OWN", "FWD")}
    assert speeds["OSM"] == pytest.approx(30 * KNOT_MPH, abs=0.01)          # OsmAnd query: knots
    assert speeds["TJS"] == pytest.approx(10 * 3.6 / 1.609344, abs=0.01)    # Traccar Client JSON: m/s
    assert speeds["OWN"] == pytest.approx(50 / 1.609344, abs=0.01)          # OwnTracks: km/h
    assert speeds["FWD"] == pytest.approx(20 * KNOT_MPH, abs=0.01)          # forwarder: knots
    assert found["OSM"].distance_km == pytest.approx(geo.haversine_km(lat, lng, lat + 0.001, lng), rel=0.01)
    assert [found[c].position.heading for c in ("OSM", "TJS", "OWN", "FWD")] == [10.0, 45.0, 90.0, 180.0]


async def _device(url: str, tls: ssl.SSLContext, i: int, t0: int, stop: float, ok: list[int],
                  other: list[int]) -> None:
    """One device (its own keep-alive connection, as a phone): a report a second, until `stop`.

    A client per device: one httpx client shared by 200 connections spends its time in its
    connection pool (quadratic in the connections), and each client creating its own TLS context
    would block the loop for seconds; so one context for all."""
    await asyncio.sleep((i % 100) / 100)   # not all in step, as real devices
    k = 0
    async with httpx.AsyncClient(base_url=url, verify=tls, timeout=10) as client:
        while time.monotonic() < stop:
            k += 1
            lat = HEL[0] + (i % 20) * 0.001 + k * 1e-5
            lng = HEL[1] + (i // 20) * 0.001
            sent = time.monotonic()
            r = await client.get(f"/?id=imei{i:012d}&lat={lat:.6f}&lon={lng:.6f}&timestamp={t0 + k}&speed=20")
            (ok if r.status_code == 200 else other).append(i)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - sent)))


async def test_200_devices_at_1hz_hold_with_no_loss(headless: Headless) -> None:
    r = redis.Redis.from_url(headless.redis.url)
    sub = r.pubsub(ignore_subscribe_messages=True)
    sub.subscribe("cartrack:batch")
    published: dict[str, int] = {}
    counting = True

    def count() -> None:
        while counting:
            msg = sub.get_message(timeout=0.2)
            if msg and isinstance(msg.get("data"), bytes):
                for row in orjson.loads(msg["data"])["cars"]:
                    if str(row[0]).startswith("D"):
                        published[row[0]] = published.get(row[0], 0) + 1

    counter = asyncio.get_running_loop().run_in_executor(None, count)
    ok: list[int] = []
    other: list[int] = []
    t0 = now_s() - HOLD_S - 5
    tls = ssl.create_default_context()
    started = time.monotonic()
    await asyncio.gather(*(_device(headless.url, tls, i, t0, started + HOLD_S, ok, other) for i in range(FLEET)))
    elapsed = time.monotonic() - started
    await async_wait_until(lambda: sum(published.values()) >= len(ok), 10, "every 200 published")
    counting = False
    await counter
    sub.close()
    print(f"\n200 devices for {elapsed:.1f} s: {len(ok)} answered 200 ({len(ok) / elapsed:.0f}/s), "
          f"{len(other)} other, {sum(published.values())} published")
    assert other == []
    assert len(ok) >= FLEET * HOLD_S * 0.6        # about one a second each (at this client's pace)
    per_device = {f"D{i:03d}": ok.count(i) for i in range(FLEET)}
    assert published == per_device                # every 200 is in Redis, once; nothing else
    # the last fix of each is the live position (TTL) in Redis
    for i in (0, 57, FLEET - 1):
        live = orjson.loads(r.get(f"car:location:D{i:03d}"))
        assert live["timestamp"] == t0 + per_device[f"D{i:03d}"]
        assert 0 < r.ttl(f"car:location:D{i:03d}") <= 300
    r.close()


async def test_unknown_device_is_listed_and_attached_by_a_dispatcher(headless: Headless, desk: Runtime) -> None:
    t = now_s()
    async with httpx.AsyncClient(base_url=headless.url) as c:
        r = await c.get(f"/?id=new-phone-77&lat={HEL[0]}&lon={HEL[1]}&timestamp={t}")
        assert r.status_code == 400 and b"unknown device" in r.content
        listed = await async_wait_until(lambda: _listed(desk, "new-phone-77"), 5, "listed as unknown")
        assert listed.protocol == "osmand" and listed.lat == pytest.approx(HEL[0]) and listed.count == 1
        assert desk.dispatch is not None
        added = await desk.dispatch.fleet_edits.add_unit("P-77", "Paul-77", device_id="new-phone-77", simulated=False)
        assert added.ok
        # the ingest follows the fleet event at once: the device's next report moves the new unit
        await async_wait_until(lambda: _status(c, f"/?id=new-phone-77&lat={HEL[0]}&lon={HEL[1]}&timestamp={t + 1}",
                                               200), 5, "accepted once attached")
    assert await _listed(desk, "new-phone-77") is None
    p = await desk.store.get_car_location("P-77")
    assert p is not None and p.timestamp == t + 1
    assert "P-77" in desk.fleet and not desk.fleet["P-77"].simulated


async def _listed(rt: Runtime, device_id: str) -> Any:
    return next((d for d in await rt.unknown_devices() if d.device_id == device_id), None)


async def _status(c: httpx.AsyncClient, url: str, want: int) -> bool:
    return (await c.get(url)).status_code == want


def test_auto_registration_creates_the_unit(headless: Headless, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cartrack_desktop.app", "--headless", "--no-simulator", "--ingest", str(port),
         "--ingest-register", "--redis-url", headless.redis.url, "--mongo-uri", headless.mongo_uri,
         "--data-dir", str(tmp_path / "reg")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _answers(port), 60, "second ingest up")
        t = now_s()
        r = httpx.post(f"http://127.0.0.1:{port}/", json={"_type": "location", "lat": 60.2, "lon": 24.9,
                                                          "tst": t, "tid": "ZZ"},
                       headers={"X-Limit-U": "anna", "X-Limit-D": "pixel"})
        assert r.status_code == 200 and r.content == b"[]"
        doc = MongoClient(headless.mongo.uri)[DB].cars.find_one({"device_id": "anna-pixel"})
        assert doc is not None and doc["simulated"] is False and doc["registered_by"] == "ingest"
        live = orjson.loads(redis.Redis.from_url(headless.redis.url).get(f"car:location:{doc['_id']}"))
        assert live["timestamp"] == t
    finally:
        proc.terminate()
        proc.wait(20)


async def test_late_fixes_land_in_history_exactly_once(headless: Headless) -> None:
    t = now_s()
    async with httpx.AsyncClient(base_url=headless.url) as c:
        assert (await c.get(f"/?id=late-phone&lat=60.2&lon=24.9&timestamp={t}")).status_code == 200
        # back in coverage: five minutes of buffered fixes, every 10 s, sent twice (a retry after a lost answer)
        for _ in range(2):
            for k in range(30, 0, -1):
                r = await c.get(f"/?id=late-phone&lat={60.2 - k * 1e-4:.6f}&lon=24.9&timestamp={t - k * 10}")
                assert r.status_code == 200
    live = orjson.loads(redis.Redis.from_url(headless.redis.url).get("car:location:LATE"))
    assert live["timestamp"] == t                 # the marker never moved back
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(headless.mongo.uri, tz_aware=True)
    reader = HistoryReader(mongo[DB], rejections=RejectionCounter("t"))
    try:
        r = redis.Redis.from_url(headless.redis.url)
        wait_until(lambda: r.xlen("cartrack:late") == 0, 30, "every late fix landed and acknowledged")
        r.close()
        track = await async_wait_until(lambda: _track_len(reader, t, 30), 10, "late fixes in the history")
        assert [p.timestamp for p in track] == [t - k * 10 for k in range(30, 0, -1)]
        assert track[0].lat == pytest.approx(60.2 - 30e-4)
        # exactly once: 30 fixes in the history although each was sent twice
        n = sum([d["n"] async for d in mongo[DB].location_buckets.find({"late": True, "car_id": "LATE"})])
        assert n == 30
    finally:
        await mongo.close()


async def _track_len(reader: HistoryReader, t: int, n: int) -> Any:
    track = await reader.track("LATE", t - 400, t - 1)
    return track if len(track) >= n else None


async def test_real_unit_goes_on_scene_from_its_reports_and_is_never_simulated(headless: Headless,
                                                                               desk: Runtime) -> None:
    assert desk.dispatch is not None
    seen: list[dict[str, Any]] = []
    r = redis.Redis.from_url(headless.redis.url)
    sub = r.pubsub(ignore_subscribe_messages=True)
    sub.subscribe("car:location:stream:R-1")
    start = (60.17, 24.90)
    scene = geo.destination_point(*start, 90.0, 0.6)
    t = now_s() - 30
    sent: list[tuple[float, float, int]] = []
    async with httpx.AsyncClient(base_url=headless.url) as c:

        async def report(lat: float, lng: float, ts: int, speed_kn: float) -> None:
            resp = await c.get(f"/?id=real-tracker-1&lat={lat:.6f}&lon={lng:.6f}&timestamp={ts}&speed={speed_kn}")
            assert resp.status_code == 200
            sent.append((round(lat, 6), round(lng, 6), ts))

        await report(*start, t, 0)
        inc = await desk.dispatch.create_incident(*scene, "Robbery", 1, "real unit test")
        assert (await desk.dispatch.dispatch(inc.incident_id, ["R-1"]))[0].ok
        for k in range(1, 6):                      # it drives there, 120 m per report
            p = geo.destination_point(*start, 90.0, 0.12 * k - 0.01)
            await report(*p, t + 10 * k, 25)
            if k == 1:
                await async_wait_until(lambda: desk.dispatch.status_of("R-1") is UnitStatus.EN_ROUTE, 10,
                                       "en route")
        await async_wait_until(lambda: desk.dispatch.status_of("R-1") is UnitStatus.ON_SCENE, 10, "on scene")
    # every position ever published for it is one it reported: the simulator never moved it
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        msg = sub.get_message(timeout=0.2)
        if msg:
            seen.append(orjson.loads(msg["data"]))
    sub.close()
    r.close()
    assert seen, "no position published"
    assert all((round(s["lat"], 6), round(s["lng"], 6), int(s["timestamp"])) in sent for s in seen), seen


async def test_redis_outage_answers_503_and_the_retry_lands(headless: Headless) -> None:
    """Last in the module: it restarts Redis."""
    t = now_s()
    url = f"{headless.url}/?id=outage-phone&lat=60.3&lon=24.9&timestamp={t}"
    headless.redis.kill()
    try:
        async with httpx.AsyncClient(timeout=10) as c:
            (r,) = await async_wait_until(lambda: _non_200(c, url), 15, "503 while Redis is down")
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
    finally:
        headless.redis.start()                      # the same port, empty
    async with httpx.AsyncClient(timeout=10) as c:
        await async_wait_until(lambda: _status(c, url, 200), 30, "the device's retry is taken")
    live = orjson.loads(redis.Redis.from_url(headless.redis.url).get("car:location:OUT"))
    assert live["timestamp"] == t
    assert headless.proc.poll() is None


async def _non_200(c: httpx.AsyncClient, url: str) -> tuple[httpx.Response] | None:
    r = await c.get(url)
    return (r,) if r.status_code != 200 else None
