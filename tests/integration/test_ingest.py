"""Device ingest against a real redis-server and secantusd-py, from real HTTP clients.

httpx for the apps' requests, raw sockets for the `?`-only request target and for malformed
requests. The server runs in-process (IngestServer on the test's loop) except in the last test,
which starts it as the app does: IngestService with a worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest
import redis.asyncio as aioredis
import trustme
from pymongo import AsyncMongoClient, MongoClient

from cartrack_desktop.domain.messages import AlarmRaised, FleetEvent, decode_event
from cartrack_desktop.ingest.devices import list_unknown
from cartrack_desktop.ingest.keys import ALARMS_KEY, LATE_STREAM, UNKNOWN_KEY
from cartrack_desktop.ingest.options import IngestOptions
from cartrack_desktop.ingest.server import IngestServer
from cartrack_desktop.ingest.service import IngestError, IngestService
from cartrack_desktop.services.infra.redis_conn import make_redis
from tests.helpers.servers import RedisServer, free_port
from tests.helpers.waiting import async_wait_until
from tests.unit.test_ingest_protocols import FORWARDED, OWNTRACKS, TRACCAR_JSON

UNITS = {  # car_id -> device id
    "U1": "353861053849681", "U2": "8737767034", "U3": "jane-phone", "U4": "860000000000007", "U5": "JJ",
    "U6": "123456",
}
SECRET = "s3cret-token"


@dataclass
class Ingest:
    server: IngestServer
    url: str
    port: int
    redis: aioredis.Redis

    async def live(self, car_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(f"car:location:{car_id}")
        return None if raw is None else orjson.loads(raw)


def seed(mongo_uri: str, db: str) -> None:
    c: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    docs = [{"_id": cid, "car_id": cid, "call_sign": f"Sign {cid}", "status": "available", "simulated": False,
             "device_id": dev} for cid, dev in UNITS.items()]
    docs.append({"_id": "U7", "car_id": "U7", "call_sign": "Sign U7", "status": "available", "simulated": False,
                 "device_id": "secret-dev", "device_secret_sha256": hashlib.sha256(SECRET.encode()).hexdigest()})
    c[db].cars.insert_many(docs)
    c.close()


IngestFactory = Callable[..., Awaitable[Ingest]]


@pytest.fixture
async def make_ingest(redis_url: str, mongo_uri: str, mongo_db_name: str) -> AsyncIterator[IngestFactory]:
    seed(mongo_uri, mongo_db_name)
    started: list[tuple[IngestServer, aioredis.Redis, AsyncMongoClient[dict[str, Any]]]] = []

    async def start(url: str | None = None, **opts: Any) -> Ingest:
        redis = make_redis(url or redis_url)
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
        srv = IngestServer(IngestOptions(port=0, **opts), redis, mongo[mongo_db_name])
        host, port = await srv.start()
        started.append((srv, redis, mongo))
        scheme = "https" if opts.get("cert_file") else "http"
        return Ingest(srv, f"{scheme}://{host if scheme == 'http' else 'localhost'}:{port}", port, redis)

    yield start
    for srv, redis, mongo in started:
        await srv.stop()
        await redis.aclose()
        await mongo.close()


@pytest.fixture
async def ingest(make_ingest: IngestFactory) -> Ingest:
    return await make_ingest()


async def raw(port: int, data: bytes, *, read_all: bool = True) -> bytes:
    """Send bytes on a fresh connection; what came back until the server closed (or 5 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if not read_all:
            return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(5):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
        return b"".join(chunks)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


NOW = lambda: int(time.time())  # noqa: E731


async def test_osmand_query_reaches_redis_like_the_simulator(ingest: Ingest) -> None:
    sub = ingest.redis.pubsub()
    await sub.subscribe("cartrack:batch", "car:location:stream:U1")
    await sub.get_message(timeout=1)
    await sub.get_message(timeout=1)
    async with httpx.AsyncClient() as client:
        t = NOW()
        r = await client.get(f"{ingest.url}/?id=353861053849681&lat=60.17&lon=24.94&timestamp={t}&speed=10"
                             "&bearing=90&altitude=12&accuracy=8&batt=87&ignition=true")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
    assert "close" not in r.headers.get("connection", "")
    live = await ingest.live("U1")
    assert live == {"car_id": "U1", "lat": 60.17, "lng": 24.94, "speed": 11.51, "heading": 90.0, "timestamp": t}
    assert await ingest.redis.geopos("cartrack:geo", "car:location:U1") != [None]
    assert await ingest.redis.zscore("cartrack:seen", "U1") is not None
    got = []
    async with asyncio.timeout(5):
        while len(got) < 2:
            msg = await sub.get_message(timeout=1)
            if msg:
                got.append(msg["channel"])
    assert set(got) == {b"cartrack:batch", b"car:location:stream:U1"}
    await sub.aclose()


@pytest.mark.parametrize("variant", ["post_query", "post_form", "traccar_json", "owntracks_headers",
                                     "owntracks_query", "forwarder", "absolute_target"])
async def test_every_protocol_variant(ingest: Ingest, variant: str) -> None:
    t = NOW()
    async with httpx.AsyncClient() as client:
        if variant == "post_query":
            r = await client.post(f"{ingest.url}/gps/report?deviceid=123456&location=60.5,24.5&timestamp={t}000")
            car, want = "U6", {"lat": 60.5, "lng": 24.5, "timestamp": t}
        elif variant == "post_form":
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
            r = await client.post(f"{ingest.url}/", data={"id": "123456", "lat": "60.6", "lon": "24.6",
                                                          "timestamp": stamp, "speed": "20", "heading": "180"})
            car, want = "U6", {"lat": 60.6, "speed": 23.02, "heading": 180.0, "timestamp": t}
        elif variant == "traccar_json":
            body = orjson.loads(TRACCAR_JSON[3])
            body["location"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.500Z", time.gmtime(t))
            r = await client.post(f"{ingest.url}/", json=body)
            car, want = "U2", {"lat": -6.1148096, "lng": 106.6837015, "speed": 41.76, "heading": 63.0,
                               "timestamp": t + 0.5}
        elif variant.startswith("owntracks"):
            body = {**OWNTRACKS["full"], "tst": t}
            if variant == "owntracks_headers":
                r = await client.post(f"{ingest.url}/owntracks", json=body,
                                      headers={"X-Limit-U": "jane", "X-Limit-D": "phone"})
            else:
                r = await client.post(f"{ingest.url}/pub?u=jane&d=phone", json=body)
            assert r.content == b"[]" and r.headers["content-type"] == "application/json"
            car, want = "U3", {"lat": 48.85833, "lng": 2.29513, "speed": 37.9, "heading": 271.0, "timestamp": t}
        elif variant == "forwarder":
            body = orjson.loads(orjson.dumps(FORWARDED))
            body["position"]["fixTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(t))
            body["position"]["attributes"].pop("alarm")
            r = await client.post(f"{ingest.url}/", json=body)
            car, want = "U4", {"lat": 52.5162, "speed": 24.85, "heading": 359.5, "timestamp": t}
        else:
            r = await client.request("GET", f"{ingest.url}/?id=123456&lat=1.5&lon=2.5&timestamp={t}",
                                     headers={"Host": "example"})
            car, want = "U6", {"lat": 1.5, "lng": 2.5, "timestamp": t}
    assert r.status_code == 200, r.content
    live = await ingest.live(car)
    assert live is not None
    assert {k: live[k] for k in want} == want


async def test_question_mark_target_and_keep_alive_on_a_raw_socket(ingest: Ingest) -> None:
    t = NOW()
    reader, writer = await asyncio.open_connection("127.0.0.1", ingest.port)
    for i in range(3):   # Traccar's own tools: a target that is only "?query", several on one connection
        writer.write(f"GET ?id=123456&lat=60.{i}1&lon=24.0&timestamp={t - 1200 + i * 600} HTTP/1.1\r\n"
                     "Host: x\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    live = await ingest.live("U6")
    assert live is not None and live["lat"] == 60.21
    # pipelined: two requests in one write, two answers in order
    writer.write(f"GET /?id=123456&lat=60.22&lon=24&timestamp={t + 30} HTTP/1.1\r\n\r\n"
                 f"GET /?id=nobody&lat=1&lon=1 HTTP/1.1\r\n\r\n".encode())
    data = b""
    async with asyncio.timeout(5):
        while data.count(b"HTTP/1.1") < 2 or not data.endswith(b"unknown device\n"):
            data += await reader.read(4096)
    assert data.index(b"200 OK") < data.index(b"400 Bad Request")
    writer.close()
    assert status_of(await raw(ingest.port, b"GET /?id=123456&lat=60.4&lon=24 HTTP/1.0\r\n\r\n")) == 200
    # Expect: 100-continue (curl, for larger bodies): the interim answer first, then the real one
    body = f"id=123456&lat=60.41&lon=24&timestamp={t + 60}".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", ingest.port)
    writer.write(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    assert status_of(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)) == 200
    writer.close()


async def test_unknown_device_refused_and_listed(ingest: Ingest) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            r = await client.get(f"{ingest.url}/?id=999000111&lat=60.1&lon=24.9&timestamp={NOW()}")
            assert r.status_code == 400
    listed = await async_wait_until(lambda: list_unknown(ingest.redis), 10, "unknown device listed")
    assert len(listed) == 1
    entry = listed[0]
    assert (entry["device_id"], entry["protocol"], entry["count"], entry["lat"]) == ("999000111", "osmand", 2, 60.1)
    assert entry["last_seen"] >= entry["first_seen"]
    assert ingest.server.rejections.snapshot()["unknown_device"] == 2
    assert await ingest.redis.get("car:location:999000111") is None


async def test_unknown_devices_registered_automatically(make_ingest: IngestFactory, mongo_uri: str,
                                                         mongo_db_name: str) -> None:
    ing = await make_ingest(register_unknown=True)
    sub = ing.redis.pubsub()
    await sub.subscribe("cartrack:events")
    await sub.get_message(timeout=1)
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{ing.url}/?id=new.device:42&lat=60.2&lon=24.8&timestamp={NOW()}")
    assert r.status_code == 200
    c: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    doc = c[mongo_db_name].cars.find_one({"device_id": "new.device:42"})
    c.close()
    assert doc is not None and doc["_id"] == "new-device-42" and doc["simulated"] is False
    assert (await ing.live("new-device-42"))["lat"] == 60.2  # type: ignore[index]
    msg = await async_wait_until(lambda: sub.get_message(timeout=0.2), 5, "fleet event")
    assert decode_event(msg["data"]) == FleetEvent("add", "new-device-42")
    await sub.aclose()
    assert await ing.redis.hlen(UNKNOWN_KEY) == 0


async def test_device_secret_checked(ingest: Ingest) -> None:
    q = f"{ingest.url}/?id=secret-dev&lat=60.1&lon=24.9&timestamp={NOW()}"
    async with httpx.AsyncClient() as client:
        assert (await client.get(q)).status_code == 401
        assert (await client.get(q + "&token=wrong")).status_code == 401
        assert (await client.get(q + f"&token={SECRET}")).status_code == 200
        q2 = f"{ingest.url}/?id=secret-dev&lat=60.1&lon=24.9&timestamp={NOW() + 5}"
        assert (await client.get(q2, headers={"X-Device-Token": SECRET})).status_code == 200
    assert ingest.server.rejections.snapshot()["bad_token"] == 2


async def test_filters_count_and_late_fixes_kept_for_history(ingest: Ingest) -> None:
    t = NOW()
    base = f"{ingest.url}/?id=123456&lon=24.9"
    async with httpx.AsyncClient() as client:
        for q in (f"&lat=60.1&timestamp={t}", f"&lat=60.1&timestamp={t}",      # live, duplicate
                  f"&lat=60.1001&timestamp={t - 30}",                            # late (buffered fix)
                  "&lat=0&lon=0", f"&lat=61.5&timestamp={t + 2}",               # zero, teleport
                  f"&lat=60.1&timestamp={t + 500}",                               # future
                  f"&lat=60.1002&timestamp={t + 1}&accuracy=5000",                # accuracy
                  f"&lat=60.1002&timestamp={t + 1}&valid=false"):                 # invalid
            assert (await client.get(base + q)).status_code == 200
    live = await ingest.live("U6")
    assert live is not None and live["timestamp"] == t and live["lat"] == 60.1   # never moved back or away
    late = await ingest.redis.xrange(LATE_STREAM)
    assert [orjson.loads(f[b"p"]) for _, f in late] == [
        {"car_id": "U6", "lat": 60.1001, "lng": 24.9, "speed": 0.0, "heading": 0.0, "timestamp": t - 30}]
    counts = ingest.server.rejections.snapshot()
    assert {k: counts.get(k) for k in ("duplicate", "zero", "teleport", "future", "accuracy", "invalid")} == {
        "duplicate": 1, "zero": 1, "teleport": 1, "future": 1, "accuracy": 1, "invalid": 1}


async def test_sos_raises_one_alarm_event(ingest: Ingest) -> None:
    sub = ingest.redis.pubsub()
    await sub.subscribe("cartrack:events")
    await sub.get_message(timeout=1)
    t = NOW()
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{ingest.url}/?id=353861053849681&lat=60.17&lon=24.94&timestamp={t}&alarm=sos")
        assert r.status_code == 200
        # the forwarder's alarm attribute, for another unit
        body = orjson.loads(orjson.dumps(FORWARDED))
        body["position"]["fixTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))
        assert (await client.post(f"{ingest.url}/", json=body)).status_code == 200
        # a repeat within the window is not raised again
        r = await client.get(f"{ingest.url}/?id=353861053849681&lat=60.17&lon=24.94&timestamp={t + 1}&alarm=sos")
        assert r.status_code == 200
    events = []
    async with asyncio.timeout(5):
        while len(events) < 2:
            msg = await sub.get_message(timeout=1)
            if msg:
                event = decode_event(msg["data"])
                assert isinstance(event, AlarmRaised)
                events.append(event.alarm)
    assert sorted(e.car_id for e in events) == ["U1", "U4"]
    a = next(e for e in events if e.car_id == "U1")
    assert (a.kind, a.lat, a.lng, a.at) == ("sos", 60.17, 24.94, t)
    assert (a.device_id, a.protocol) == ("353861053849681", "osmand")
    assert await sub.get_message(timeout=0.5) is None
    assert len(await ingest.redis.hgetall(ALARMS_KEY)) == 2
    await sub.aclose()


async def test_redis_down_answers_503_and_the_retry_lands(make_ingest: IngestFactory, tmp_path: Path) -> None:
    own = RedisServer(tmp_path / "r").start()
    try:
        ing = await make_ingest(url=own.url)
        t = NOW()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{ing.url}/?id=123456&lat=60.1&lon=24.9&timestamp={t}")).status_code == 200
            own.kill()
            q = f"{ing.url}/?id=123456&lat=60.1001&lon=24.9&timestamp={t + 1}&alarm=sos"
            r = await client.get(q)
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            own.start()
            events = make_redis(own.url).pubsub()
            await events.subscribe("cartrack:events")

            async def retried() -> bool:
                return (await client.get(q)).status_code == 200
            await async_wait_until(retried, 20, "the retried report accepted")
        live = await ing.live("U6")
        assert live is not None and live["timestamp"] == t + 1
        # the SOS of the refused attempt is raised by the retry that landed
        msg = await async_wait_until(lambda: events.get_message(ignore_subscribe_messages=True, timeout=0.2), 5,
                                     "alarm event")
        event = decode_event(msg["data"])
        assert isinstance(event, AlarmRaised) and event.alarm.car_id == "U6"
        await events.aclose()
    finally:
        own.stop()


def post(body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body


HOSTILE: list[tuple[str, bytes, int]] = [
    ("request line too long", b"GET /?id=1&x=" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    ("too many headers", b"GET /?id=1 HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"\r\n", 431),
    ("header too large", b"GET /?id=1 HTTP/1.1\r\nX-Big: " + b"v" * 20000 + b"\r\n\r\n", 431),
    ("declared body too large", b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413),
    ("chunked body too large", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20000\r\n" + b"a" * 0x20000
     + b"\r\n0\r\n\r\n", 413),
    ("invalid UTF-8 escape", b"GET /?id=123456&lat=1&lon=1&note=%FF%FE HTTP/1.1\r\n\r\n", 400),
    ("raw non-ASCII in the query", b"GET /?id=123456&lat=1&lon=\xff HTTP/1.1\r\n\r\n", 400),
    ("malformed JSON", post(b'{"a":[1,'), 400),
    ("JSON NaN", post(b'{"device_id":"8737767034","location":{"coords":{"latitude":NaN,"longitude":1}}}'), 400),
    ("JSON huge number", post(b'{"device_id":"8737767034","location":{"coords":{"latitude":1e999,"longitude":1}}}'),
     400),
    ("JSON deep nesting", post(b"[" * 5000 + b"]" * 5000), 400),
    ("NaN latitude", b"GET /?id=123456&lat=NaN&lon=1 HTTP/1.1\r\n\r\n", 400),
    ("huge latitude", b"GET /?id=123456&lat=1e999&lon=1 HTTP/1.1\r\n\r\n", 400),
    ("latitude out of range", b"GET /?id=123456&lat=91&lon=1&timestamp=%d HTTP/1.1\r\n\r\n", 400),
    ("markup id", b"GET /?id=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&lat=1&lon=1 HTTP/1.1\r\n\r\n", 400),
    ("quote id", b"GET /?id=a%22b%27c&lat=1&lon=1 HTTP/1.1\r\n\r\n", 400),
    ("glob id", b"GET /?id=car*%3F%5B1%5D&lat=1&lon=1 HTTP/1.1\r\n\r\n", 400),
    ("5,000-char id", b"GET /?id=" + b"x" * 5000 + b"&lat=1&lon=1 HTTP/1.1\r\n\r\n", 400),
    ("binary garbage", b"\x00\x01\x02\x03 garbage\r\n\r\n", 400),
    ("no parameters", b"GET / HTTP/1.1\r\n\r\n", 400),
]


@pytest.mark.parametrize(("label", "data", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_requests_get_a_clear_4xx(ingest: Ingest, label: str, data: bytes, expected: int) -> None:
    if b"%d" in data:
        data = data.replace(b"%d", str(NOW()).encode())
    before = ingest.server.rejections.total
    assert status_of(await raw(ingest.port, data)) == expected, label
    assert ingest.server.rejections.total == before + 1, label
    # nothing of it became a unit or an unknown device, and everyone else is unaffected
    await ingest.server.unknown.flush()
    assert await ingest.redis.hlen(UNKNOWN_KEY) == 0
    assert status_of(await raw(ingest.port, f"GET /?id=123456&lat=60&lon=24&timestamp={NOW()} "
                                            "HTTP/1.1\r\n\r\n".encode(), read_all=False)) == 200


async def test_glitches_are_dropped_with_200_so_queues_move_on(ingest: Ingest) -> None:
    """A speed spike or a fix buffered for days: counted and dropped, but answered 200 (the apps
    retry a refused report forever, and everything queued behind it would wait)."""
    t = NOW()
    async with httpx.AsyncClient() as client:
        for q in (f"lat=60.1&lon=24.9&speed=99999&timestamp={t}", f"lat=60.1&lon=24.9&timestamp={t - 3 * 86400}"):
            assert (await client.get(f"{ingest.url}/?id=123456&{q}")).status_code == 200
    counts = ingest.server.rejections.snapshot()
    assert (counts["speed_range"], counts["stale_timestamp"]) == (1, 1)
    assert await ingest.live("U6") is None and await ingest.redis.xlen(LATE_STREAM) == 0


async def test_slow_clients_and_idle_connections_are_closed(make_ingest: IngestFactory) -> None:
    ing = await make_ingest(request_timeout_s=0.5, idle_timeout_s=0.5)
    slow_r, slow_w = await asyncio.open_connection("127.0.0.1", ing.port)
    slow_w.write(b"GET /?id=123456&lat=60")   # ... and never the rest
    idle_r, idle_w = await asyncio.open_connection("127.0.0.1", ing.port)
    async with asyncio.timeout(10):
        assert status_of(await slow_r.read()) == 408
        assert await idle_r.read() == b""
    assert ing.server.rejections.snapshot()["slow_client"] == 1
    assert ing.server.http.idle_closed == 1
    slow_w.close()
    idle_w.close()


async def test_connection_cap_and_thousands_of_idle_connections(make_ingest: IngestFactory) -> None:
    ing = await make_ingest(max_connections=1500)
    conns = [await asyncio.open_connection("127.0.0.1", ing.port) for _ in range(1600)]
    try:
        await async_wait_until(lambda: ing.server.rejections.snapshot().get("too_many_connections", 0) >= 100, 10,
                               "connections beyond the cap refused")
        assert len(ing.server.http.connections) == 1500
        for r, _ in conns[-100:]:   # the ones beyond the cap were closed at once
            assert await asyncio.wait_for(r.read(), 5) == b""
        w = conns[0][1]
        w.write(f"GET /?id=123456&lat=60&lon=24&timestamp={NOW()} HTTP/1.1\r\n\r\n".encode())
        assert status_of(await asyncio.wait_for(conns[0][0].readuntil(b"\r\n\r\n"), 5)) == 200
    finally:
        for _, w in conns:
            w.close()


async def test_tls(make_ingest: IngestFactory, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ing = await make_ingest(cert_file=tmp_path / "cert.pem", key_file=tmp_path / "key.pem")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    async with httpx.AsyncClient(verify=ctx) as client:
        r = await client.get(f"{ing.url}/?id=123456&lat=60.3&lon=24.3&timestamp={NOW()}")
    assert r.status_code == 200
    assert (await ing.live("U6"))["lat"] == 60.3  # type: ignore[index]
    assert status_of(await raw(ing.port, b"GET /?id=123456&lat=1&lon=1 HTTP/1.1\r\n\r\n")) == 0  # no plain HTTP


async def test_service_runs_the_ingest_in_a_worker_process(redis_url: str, mongo_uri: str,
                                                           mongo_db_name: str) -> None:
    seed(mongo_uri, mongo_db_name)
    port = free_port()
    svc = IngestService(IngestOptions(port=port), redis_url=redis_url, mongo_uri=mongo_uri, mongo_db=mongo_db_name)
    assert await svc.start() == [f"127.0.0.1:{port}"]
    pids = svc.pids()
    try:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{port}/?id=123456&lat=60.5&lon=24.5&timestamp={NOW()}")
            assert r.status_code == 200
            assert (await client.get(f"http://127.0.0.1:{port}/?id=ghost&lat=1&lon=1")).status_code == 400
        stats = await async_wait_until(lambda: (s := svc.stats()).totals.get("live") == 1 and s, 10, "stats")
        assert stats.state == "running" and stats.workers == 1 and stats.devices == 7
        assert stats.rejections == {"unknown_device": 1} and stats.listening == [f"127.0.0.1:{port}"]
        # a dispatcher attaches the device to a new unit elsewhere: the fleet event refreshes the map
        c: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
        c[mongo_db_name].cars.insert_one({"_id": "G1", "call_sign": "Ghost 1", "device_id": "ghost"})
        c.close()
        r8 = make_redis(redis_url)
        await r8.publish("cartrack:events", orjson.dumps({"v": 1, "type": "fleet", "action": "update",
                                                          "car_id": "G1"}))
        await r8.aclose()
        async with httpx.AsyncClient() as client:
            async def attached() -> bool:
                q = f"http://127.0.0.1:{port}/?id=ghost&lat=1&lon=1&timestamp={NOW()}"
                return (await client.get(q)).status_code == 200
            await async_wait_until(attached, 10, "device known after the fleet event")
    finally:
        await svc.stop()
    assert svc.stats().state == "off" and svc.pids() == []
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)


async def test_service_reports_a_port_it_cannot_take(redis_url: str, mongo_uri: str, mongo_db_name: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        svc = IngestService(IngestOptions(port=port), redis_url=redis_url, mongo_uri=mongo_uri, mongo_db=mongo_db_name)
        with pytest.raises(IngestError):
            await svc.start()
    assert svc.stats().state == "failed"


async def test_real_unit_goes_on_scene_from_its_own_reports(make_ingest: IngestFactory, tmp_path: Path,
                                                            redis_url: str, mongo_uri: str,
                                                            mongo_db_name: str) -> None:
    """Dispatch flow with a real (non-simulated) unit: en route and on scene from its device's fixes."""
    from cartrack_desktop.config import load_settings
    from cartrack_desktop.domain.models import UnitStatus
    from cartrack_desktop.services.runtime import Runtime

    ing = await make_ingest()
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    rt = Runtime(load_settings(["--redis-url", redis_url, "--mongo-uri", uri, "--data-dir", str(tmp_path / "app"),
                                "--no-simulator"], environ={}))
    await rt.start()
    try:
        await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
        assert rt.dispatch is not None
        scene = (60.1700, 24.9400)
        inc = await rt.dispatch.create_incident(*scene, "Robbery", 1, "")
        assert (await rt.dispatch.dispatch(inc.incident_id, ["U6"]))[0].ok
        t = NOW()
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{ing.url}/?id=123456&lat=60.1600&lon=24.9400&timestamp={t - 20}&speed=30")
            assert r.status_code == 200
            await async_wait_until(lambda: rt.dispatch.status_of("U6") is UnitStatus.EN_ROUTE, 10, "en route")
            r = await client.get(f"{ing.url}/?id=123456&lat=60.1701&lon=24.9400&timestamp={t}&speed=2")
            assert r.status_code == 200
        await async_wait_until(lambda: rt.dispatch.status_of("U6") is UnitStatus.ON_SCENE, 10, "on scene")
    finally:
        await rt.stop()


async def test_registry_not_loaded_yet_answers_503_not_400(redis_url: str) -> None:
    """MongoDB unreachable at start: devices are told to retry, never that they are unknown."""
    redis = make_redis(redis_url)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(f"mongodb://127.0.0.1:{free_port()}/",
                                                                serverSelectionTimeoutMS=300)
    srv = IngestServer(IngestOptions(port=0), redis, mongo["cartrack"])
    _, port = await srv.start()
    try:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{port}/?id=123456&lat=1&lon=1")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert await redis.hlen(UNKNOWN_KEY) == 0
    finally:
        await srv.stop()
        await redis.aclose()
        await mongo.close()


async def test_auto_registration_is_rate_limited(make_ingest: IngestFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from cartrack_desktop.ingest import options
    monkeypatch.setattr(options, "MAX_REGISTRATIONS_PER_MIN", 2)
    ing = await make_ingest(register_unknown=True)
    async with httpx.AsyncClient() as client:
        codes = [(await client.get(f"{ing.url}/?id=flood{i}&lat=1&lon=1")).status_code for i in range(4)]
    assert codes == [200, 200, 400, 400]
    assert ing.server.rejections.snapshot()["registration_rate"] == 2


async def test_service_restarts_a_worker_that_dies(redis_url: str, mongo_uri: str, mongo_db_name: str) -> None:
    seed(mongo_uri, mongo_db_name)
    port = free_port()
    svc = IngestService(IngestOptions(port=port), redis_url=redis_url, mongo_uri=mongo_uri, mongo_db=mongo_db_name)
    task = asyncio.ensure_future(svc.run())
    try:
        await async_wait_until(lambda: svc.stats().state == "running", 20, "worker listening")
        first = svc.pids()
        psutil.Process(first[0]).kill()
        await async_wait_until(lambda: svc.pids() and svc.pids() != first and svc.stats().state == "running", 20,
                               "worker restarted")
        async with httpx.AsyncClient() as client:
            async def answered() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    q = f"http://127.0.0.1:{port}/?id=123456&lat=60.5&lon=24.5&timestamp={NOW()}"
                    return (await client.get(q)).status_code == 200
                return False
            await async_wait_until(answered, 20, "the new worker answers")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert svc.pids() == []
