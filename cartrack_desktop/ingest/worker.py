"""One ingest worker process: `python -m cartrack_desktop.ingest` with a JSON config on stdin.

Protocol with the parent (service.py): the config is the first line of stdin; the worker prints
one JSON line per event on stdout: {"event": "listening", "host", "port"}, then {"event":
"stats", ...} every STATS_EVERY_S. It stops cleanly when stdin closes (the parent stopped or
died) or on SIGTERM/SIGINT. Never imports Qt: it runs beside the window, not inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import threading
from typing import Any

import orjson
from pymongo import AsyncMongoClient

from ..domain.messages import FleetEvent
from ..services.dispatch.events import EventsListener
from ..services.infra.redis_conn import make_redis
from .options import options_from_json
from .server import IngestServer

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0
GC_GEN0_THRESHOLD = 50_000
MONGO_TIMEOUT_MS = 5000


def emit(event: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(event) + b"\n")
    sys.stdout.buffer.flush()


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """A thread blocked on stdin: EOF means the parent is gone."""
    with contextlib.suppress(Exception):
        while sys.stdin.buffer.readline():
            pass
    loop.call_soon_threadsafe(stop.set)


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    return round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 2)


async def run(cfg: dict[str, Any]) -> None:
    opts = options_from_json(cfg["options"])
    redis = make_redis(cfg["redis_url"], name=f"cartrack-ingest-{cfg.get('index', 0)}")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        cfg["mongo_uri"], serverSelectionTimeoutMS=MONGO_TIMEOUT_MS, connectTimeoutMS=MONGO_TIMEOUT_MS,
        appname="cartrack-ingest", tz_aware=True)
    server = IngestServer(opts, redis, mongo[cfg["mongo_db"]], reuse_port=bool(cfg.get("reuse_port")))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    threading.Thread(target=_watch_stdin, args=(loop, stop), daemon=True, name="ingest-stdin").start()

    async def reload() -> None:
        server.request_refresh()

    events = EventsListener(cfg["redis_url"], on_connect=reload, rejections=server.rejections)
    events.received.subscribe(lambda e: server.request_refresh() if isinstance(e, FleetEvent) else None)
    try:
        if opts.exposed and not opts.tls:
            log.warning("ingest listens on %s without TLS: reports (and device tokens) cross the network in "
                        "clear text; use a certificate or a reverse proxy (README, Real devices)", opts.host)
        host, port = await server.start()
        # 10,000 connections are tens of thousands of long-lived objects: a full collection over
        # them paused the loop for 70-230 ms (measured). What start-up built is frozen out of the
        # collector, and the youngest generation is collected less often (a request's objects are
        # freed by reference counting; cycles are rare).
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, 20, 50)
        emit({"event": "listening", "host": host, "port": port})
        events_task = loop.create_task(events.run())
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATS_EVERY_S)
            lat = list(server.latencies_ms)
            server.latencies_ms.clear()
            emit({"event": "stats", **server.snapshot(), "batch_latency_p99_ms": _p99(lat)})
        events_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await events_task
    finally:
        await server.stop()
        await redis.aclose()
        await mongo.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s ingest[%(process)d] %(name)s: %(message)s")
    cfg = orjson.loads(sys.stdin.buffer.readline())
    logging.getLogger().setLevel(cfg.get("log_level", "INFO"))
    try:
        import uvloop
    except ImportError:   # uvloop is optional (not on Windows): the stdlib loop works, slower
        asyncio.run(run(cfg))
    else:
        uvloop.run(run(cfg))
    return 0
