"""WebSockets of the API against a real server: the seed's tracking stream, the fleet stream, close codes,
authentication, and clients that do not read (dropped, nothing buffered without bound)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cartrack_desktop.api.host import ApiConfig
from cartrack_desktop.api.models import PositionOut
from cartrack_desktop.api.tokens import Role, TokenStore
from cartrack_desktop.config import ApiBind
from cartrack_desktop.domain.models import Position
from tests.helpers.api import stack_settings, start_stack
from tests.helpers.waiting import async_wait_until

SEED_KEYS = ["car_id", "lat", "lng", "speed", "heading", "timestamp"]


@pytest.fixture
async def stacks(tmp_path, redis_url, mongo_uri, mongo_db_name):
    started = []

    async def start(*extra, config=None):
        stack = await start_stack(stack_settings(tmp_path, redis_url, mongo_uri, mongo_db_name, *extra), config)
        started.append(stack.runtime)
        return stack

    yield start
    for rt in started:
        await rt.stop()


async def recv_json(ws, timeout=5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def closed_with(ws, timeout=10.0) -> int:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    assert info.value.rcvd is not None, "closed without a close frame"
    return info.value.rcvd.code


async def test_track_sends_the_current_position_then_every_update_as_the_seed_json(stacks):
    stack = await stacks("--no-simulator")
    store = stack.runtime.store
    await store.update_car_location("PC-001", 33.75, -84.39, 20.0, 90.0)
    async with connect(f"{stack.ws_url}/ws/track/PC-001") as ws:
        first = await recv_json(ws)
        assert list(first) == SEED_KEYS and first["car_id"] == "PC-001" and first["speed"] == 20.0
        PositionOut.model_validate(first)                  # the documented model of every message
        for i in range(3):
            await store.update_car_location("PC-001", 33.75 + 0.001 * (i + 1), -84.39, 30.0 + i, 90.0)
            got = await recv_json(ws)
            assert got["lat"] == pytest.approx(33.75 + 0.001 * (i + 1)) and got["speed"] == 30.0 + i
            PositionOut.model_validate(got)
        # other units' updates and hostile messages on its channel never reach it
        await store.update_car_location("PC-002", 33.70, -84.30)
        await store.client.publish("car:location:stream:PC-001", b'{"car_id":"PC-001","lat":"<script>"}')
        await store.client.publish("car:location:stream:PC-001", b'{"car_id":"PC-009","lat":1,"lng":1,'
                                   b'"speed":1,"heading":1,"timestamp":1}')
        await store.update_car_location("PC-001", 33.76, -84.39, 31.0, 91.0)
        got = await recv_json(ws)
        assert got["car_id"] == "PC-001" and got["heading"] == 91.0
        assert stack.host.ctx.tracks.clients == 1
    await async_wait_until(lambda: stack.host.ctx.tracks.clients == 0, 5, "client left")


async def test_track_follows_a_seed_style_producer_set_and_publish_only(stacks):
    stack = await stacks("--no-simulator")
    r = stack.runtime.store.client

    async def seed_write(lat: float) -> None:     # the seed's redis_client.update_car_location
        doc = json.dumps({"car_id": "SEED-1", "lat": lat, "lng": -84.39, "speed": 12.0, "heading": 45.0,
                          "timestamp": time.time()})
        await r.set("car:location:SEED-1", doc, ex=300)
        await r.publish("car:location:stream:SEED-1", doc)

    await seed_write(33.70)
    async with connect(f"{stack.ws_url}/ws/track/SEED-1") as ws:
        assert (await recv_json(ws))["lat"] == 33.70
        for lat in (33.71, 33.72, 33.73):
            await seed_write(lat)
            assert (await recv_json(ws))["lat"] == lat      # each once, in order


async def test_track_close_codes_unknown_unit_removed_unit_server_stopping(stacks):
    stack = await stacks("--cars", "1")
    for path in ("/ws/track/PC-404", "/ws/track/" + "x" * 300, "/ws/track/a%20b"):
        async with connect(f"{stack.ws_url}{path}") as ws:
            assert await closed_with(ws) == 4404, path
    await async_wait_until(lambda: stack.runtime.store.get_car_location("PC-001"), 10, "PC-001 live")
    r = await stack.runtime.dispatch.fleet_edits.add_unit("PC-050", "Victor-50")
    assert r.ok
    async with connect(f"{stack.ws_url}/ws/track/PC-050") as gone:
        await async_wait_until(lambda: stack.host.ctx.tracks.clients == 1, 5, "tracking")
        assert (await stack.runtime.dispatch.fleet_edits.remove_unit("PC-050")).ok
        assert await closed_with(gone) == 4404
    async with connect(f"{stack.ws_url}/ws/track/PC-001") as ws:
        await recv_json(ws)
        stop = asyncio.ensure_future(stack.runtime.supervisor.stop(3.0))
        assert await closed_with(ws) == 1001
        await stop


async def test_websocket_authentication_subprotocol_first_message_and_refusals(stacks):
    stack = await stacks("--no-simulator")
    token, _ = await TokenStore(stack.runtime.records.db).create("wall-1", Role.READ, created_by="t")
    await async_wait_until(lambda: stack.host.ctx.auth.mode.value == "tokens", 5, "tokens in use")
    await stack.runtime.store.update_car_location("PC-001", 33.75, -84.39)
    async with connect(f"{stack.ws_url}/ws/track/PC-001", subprotocols=["cartrack.bearer", token]) as ws:
        assert ws.subprotocol == "cartrack.bearer"
        assert (await recv_json(ws))["car_id"] == "PC-001"
    async with connect(f"{stack.ws_url}/ws/track/PC-001") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert (await recv_json(ws))["car_id"] == "PC-001"
    async with connect(f"{stack.ws_url}/ws/track/PC-001") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token[:-2] + "zz"}))
        assert await closed_with(ws) == 4401
    async with connect(f"{stack.ws_url}/ws/track/PC-001", subprotocols=["cartrack.bearer", "ctk_nope"]) as ws:
        assert await closed_with(ws) == 4401
    async with connect(f"{stack.ws_url}/ws/fleet") as ws:
        await ws.send("not json at all")
        assert await closed_with(ws) == 4401
    # a web page of another site may not open one (cross-site WebSocket hijacking)
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"{stack.ws_url}/ws/track/PC-001", origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403


async def test_fleet_stream_snapshot_batches_and_status(stacks):
    stack = await stacks("--no-simulator")
    store, dispatch = stack.runtime.store, stack.runtime.dispatch
    await store.update_car_location("PC-001", 33.75, -84.39)
    async with connect(f"{stack.ws_url}/ws/fleet") as ws:
        snap = await recv_json(ws)
        assert snap["v"] == 1 and snap["type"] == "snapshot" and [r[0] for r in snap["cars"]] == ["PC-001"]
        await async_wait_until(lambda: stack.host.ctx.fleet.feed_live, 5, "fleet feed subscribed")
        now = time.time()
        await store.update_car_locations([Position(f"PC-{i:03d}", 33.7 + i / 1000, -84.4, 10.0, 5.0, now)
                                          for i in range(1, 51)])
        seen: set[str] = set()
        while len(seen) < 50:
            frame = await recv_json(ws)
            if frame["type"] in ("batch", "snapshot"):
                seen |= {r[0] for r in frame["cars"]}
        inc = await dispatch.create_incident(33.75, -84.39, "Alarm", 3, "")
        assert (await dispatch.dispatch(inc.incident_id, ["PC-001"]))[0].ok
        while True:
            frame = await recv_json(ws)
            if frame["type"] == "status":
                break
        assert frame == {"v": 1, "type": "status", "car_id": "PC-001", "status": "dispatched",
                         "incident_id": inc.incident_id, "by": "disp-api"}


def _handshake(host: str, port: int, path: str, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    s.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)   # only the handshake response, byte by byte: nothing after it is read
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


async def test_a_client_that_never_reads_is_dropped_with_bounded_buffering(stacks):
    stack = await stacks("--no-simulator", config=ApiConfig(ApiBind("127.0.0.1", 0), ws_send_stall_s=1.0))
    store = stack.runtime.store
    await store.update_car_location("PC-001", 33.75, -84.39)
    host, port = stack.host.address
    async with connect(f"{stack.ws_url}/ws/track/PC-001", max_queue=None) as reader:   # a good client beside it
        received = 0
        newest = 0.0      # timestamp of the newest fix the reading client got

        async def read_all() -> None:
            nonlocal received, newest
            async for message in reader:
                received += 1
                newest = json.loads(message)["timestamp"]

        reading = asyncio.ensure_future(read_all())
        stuck = await asyncio.to_thread(_handshake, host, port, "/ws/track/PC-001")
        try:
            ctx = stack.host.ctx
            await async_wait_until(lambda: ctx.tracks.clients == 2, 5, "both tracking")
            sent = 0
            while ctx.ws.dropped_slow == 0 and sent < 400_000:   # ~170 bytes each: until its buffers are full
                async with store.client.pipeline(transaction=False) as pipe:
                    for _ in range(2000):
                        last = _fix(sent)
                        pipe.publish("car:location:stream:PC-001", last)
                        sent += 1
                    await pipe.execute()
                # the burst is through the hub when the reading client has its last fix (queues keep the newest)
                burst_end = json.loads(last)["timestamp"]
                await async_wait_until(lambda t=burst_end: ctx.ws.dropped_slow > 0 or newest >= t, 10,
                                       "the burst reached the reading client")
            assert ctx.ws.dropped_slow == 1, sent
            await async_wait_until(lambda: ctx.tracks.clients == 1, 5, "the stuck client is gone")
            # nothing was kept for it beyond its bounded queue and the transport's buffer; its connection was
            # aborted: after what the kernel buffered, the socket ends
            assert await asyncio.to_thread(_drain_until_closed, stuck)
            # the good client kept its stream to the end
            await async_wait_until(lambda: received >= 100, 10, "the reading client kept receiving")
            assert not reading.done()
        finally:
            stuck.close()
            reading.cancel()


def _fix(i: int) -> bytes:
    return json.dumps({"car_id": "PC-001", "lat": 33.75, "lng": -84.39, "speed": 1.0, "heading": 2.0,
                       "timestamp": time.time() - 1 + i * 1e-6}).encode()


def _drain_until_closed(s: socket.socket) -> bool:
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


async def test_a_client_that_answers_no_ping_is_dropped(stacks):
    stack = await stacks("--no-simulator", config=ApiConfig(ApiBind("127.0.0.1", 0), ws_ping_interval_s=0.5,
                                                            ws_ping_timeout_s=0.5))
    await stack.runtime.store.update_car_location("PC-001", 33.75, -84.39)
    host, port = stack.host.address
    stuck = await asyncio.to_thread(_handshake, host, port, "/ws/track/PC-001", 65536)
    try:
        await async_wait_until(lambda: stack.host.ctx.tracks.clients == 1, 5, "tracking")
        await async_wait_until(lambda: stack.host.ctx.tracks.clients == 0, 5, "dropped after its ping went unanswered")
        stuck.settimeout(5)
        assert await asyncio.to_thread(_drain_until_closed, stuck)
    finally:
        stuck.close()
