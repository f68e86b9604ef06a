"""The API benchmark's load, in a process of its own: `python -m bench.api_load nearby|ws ARGS_JSON`.

nearby: one keep-alive HTTP/1.1 connection (the standard library's client: the least client-side
cost) posting POST /police/nearby for random points, timing each request.
ws: N WebSocket clients (a lean receive-only client on uvloop, `_LeanClient`), each tracking one unit; every
message's latency from the position's timestamp (when the publisher started writing it) is recorded
with that timestamp; the server side subtracts the tick's Redis publish time (bench/api.py).
Writes one JSON object to the file named by args["out"].
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import random
import struct
import sys
import time
from typing import Any
from urllib.parse import urlsplit

LAT = (33.65, 33.89)
LNG = (-84.55, -84.29)
CONNECT_PARALLEL = 50


def nearby(args: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(args["url"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    rnd = random.Random(7)
    samples: list[float] = []
    found: list[int] = []
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    for i in range(args["warmup"] + args["queries"]):
        body = json.dumps({"lat": rnd.uniform(*LAT), "lng": rnd.uniform(*LNG), "radius_km": args["radius_km"]})
        t0 = time.perf_counter()
        conn.request("POST", "/police/nearby", body, headers)
        resp = conn.getresponse()
        data = resp.read()
        dt = (time.perf_counter() - t0) * 1000
        if resp.status != 200:
            return {"error": f"HTTP {resp.status}: {data[:200]!r}"}
        if i >= args["warmup"]:
            samples.append(dt)
            found.append(len(json.loads(data)["cars"]))
    conn.close()
    return {"samples_ms": samples, "found": found}


class _LeanClient(asyncio.Protocol):
    """A WebSocket client that only receives: the upgrade, then unmasked server frames parsed by hand
    (text frames of one position; pings answered). The load generator must cost little, or the
    figure measures the client: websockets' own client spent about as much CPU per message as the
    server (measured here), and 1,000 of them share the machine with the server."""

    def __init__(self, path: str, host: str, on_text: Any, opened: asyncio.Future[None]) -> None:
        self._path, self._host, self._on_text, self._opened = path, host, on_text, opened
        self._buf = b""
        self._upgraded = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:   # uvloop's transports are not asyncio.Transport
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self._path} HTTP/1.1\r\nHost: {self._host}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                         ).encode())

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._opened.set_exception(RuntimeError(buf[:40].decode(errors="replace")))
                return
            self._upgraded = True
            self._opened.set_result(None)
            buf = buf[end + 4:]
        now = time.time()
        i = 0
        while len(buf) - i >= 2:
            op, n = buf[i] & 0x0F, buf[i + 1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) - i < 4:
                    break
                n, head = struct.unpack_from("!H", buf, i + 2)[0], 4
            elif n == 127:
                if len(buf) - i < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, i + 2)[0], 10
            if len(buf) - i < head + n:
                break
            payload = buf[i + head:i + head + n]
            i += head + n
            if op == 0x1:
                self._on_text(payload, now)
            elif op == 0x9 and self.transport is not None:   # ping: pong with the same payload, masked
                mask = os.urandom(4)
                masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
        self._buf = buf[i:]


async def _ws(args: dict[str, Any]) -> dict[str, Any]:
    """Connect every client, say READY on stdout, measure for args["seconds"], return the figures."""
    url = urlsplit(args["url"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    ids: list[str] = args["ids"]
    latencies: list[float] = []
    stamps: list[float] = []     # the position timestamp of each latency (which tick it belongs to)
    window = {"start": float("inf"), "stop": float("inf")}
    counts = {"received": 0}
    errors: list[str] = []
    gate = asyncio.Semaphore(CONNECT_PARALLEL)
    loop = asyncio.get_running_loop()

    def on_text(payload: bytes, now: float) -> None:
        counts["received"] += 1
        ts = json.loads(payload)["timestamp"]
        if window["start"] <= ts <= window["stop"]:
            latencies.append((now - ts) * 1000)
            stamps.append(ts)

    async def open_one(car_id: str) -> Any:
        try:
            async with gate:
                opened: asyncio.Future[None] = loop.create_future()
                transport, _ = await loop.create_connection(
                    lambda: _LeanClient(f"/ws/track/{car_id}", f"{host}:{port}", on_text, opened), host, port)
                await asyncio.wait_for(opened, 60)
                return transport
        except Exception as exc:   # counted: a client that failed is part of the result
            errors.append(f"{type(exc).__name__}: {exc}"[:160])
            return None

    transports = [t for t in await asyncio.gather(*(open_one(c) for c in ids)) if t is not None]
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    window["start"] = time.time() + 1.0
    window["stop"] = window["start"] + args["seconds"]
    await asyncio.sleep(window["stop"] - time.time() + 0.5)
    lost = sum(1 for t in transports if t.is_closing())
    for t in transports:
        t.close()
    return {"latencies_ms": latencies, "stamps": stamps, "received": counts["received"], "connected": len(transports),
            "closed_by_server": lost, "errors": errors[:5], "error_count": len(errors),
            "window": [window["start"], window["stop"]]}


def ws(args: dict[str, Any]) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_ws(args))
    with contextlib.suppress(AttributeError):
        return uvloop.run(_ws(args))
    return asyncio.run(_ws(args))


def main(argv: list[str]) -> int:
    kind, raw = argv
    args = json.loads(raw)
    result = {"nearby": nearby, "ws": ws}[kind](args)
    with open(args["out"], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
