"""api_*, ws_*: the HTTP/WebSocket API as it runs in the app (a runtime, its API thread), loaded from another process.

- api_nearby_p50_ms_10k: POST /police/nearby (3 km) over one keep-alive connection, 10,000 live units.
- ws_track_latency_p95_ms_1k: 1,000 WebSocket clients each tracking one unit; every second the
  1,000 units are written as the simulator and the ingest write (LiveStore: batch, then the seed's
  per-unit copies); latency = receipt by the client - Redis's publish time of that tick (the `sent`
  of its batch message, Redis's clock: the same machine). The latency from the start of the write
  (the positions' timestamp) is in the conditions too.
- ws_clients_rss_mb_1k: the app process's resident memory with those clients connected, minus before.
- ws_runtime_loop_lag_p99_ms_1k (report): lateness of a 20 ms timer on the runtime's loop meanwhile; in
  the window that loop is the Qt thread, so this is what the API's work costs the UI (GIL included).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from cartrack_desktop.api.host import ApiConfig, ApiHost
from cartrack_desktop.config import ApiBind, load_settings
from cartrack_desktop.services.runtime import Runtime

from .common import REPO, Metric, median, percentile, rnd, summary
from .fleet import SyntheticFleet, bench_ids

RADIUS_KM = 3.0
LAG_TICK_S = 0.02


async def _start(params: dict[str, Any]) -> tuple[Runtime, ApiHost]:
    settings = load_settings(["--redis-url", params["redis_url"], "--mongo-uri", params["mongo_uri"],
                              "--data-dir", params["workdir"], "--no-simulator", "--log-level", "WARNING"],
                             environ={})
    rt = Runtime(settings)
    await rt.start()
    await asyncio.wait_for(rt.fleet.loaded.wait(), 30)
    host = ApiHost(rt, ApiConfig(ApiBind("127.0.0.1", 0)))
    await host.prepare()
    rt.supervisor.start("api", host.run)
    deadline = time.monotonic() + 30
    while host.ctx is None or host.ctx.auth.mode.value == "unknown" or not host.ctx.tracks.connected:
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        await asyncio.sleep(0.05)
    return rt, host


async def _load(kind: str, args: dict[str, Any], on_ready: Any = None) -> dict[str, Any]:
    out_file = Path(args["workdir"]) / f"load-{kind}.json"
    out_file.unlink(missing_ok=True)
    args = {**args, "out": str(out_file)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.api_load", kind, orjson.dumps(args).decode(), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    if on_ready is not None:
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        if line.strip() == b"READY":
            await on_ready()
    _out, err = await asyncio.wait_for(proc.communicate(), 600)
    if proc.returncode != 0 or not out_file.is_file():
        raise RuntimeError(f"load process failed ({proc.returncode}): {err.decode(errors='replace')[-400:]}")
    return dict(orjson.loads(out_file.read_bytes()))


async def _publish_times(redis_url: str, sent: dict[float, float], stop: asyncio.Event) -> None:
    """position timestamp of each tick -> Redis's publish time of its batch (the envelope's `sent`)."""
    from cartrack_desktop.services.infra.redis_conn import make_redis
    from cartrack_desktop.services.live.keys import BATCH_CHANNEL

    client = make_redis(redis_url, name="bench-sent", pubsub=True)
    ps = client.pubsub(ignore_subscribe_messages=True)
    await ps.subscribe(BATCH_CHANNEL)
    try:
        while not stop.is_set():
            msg = await ps.get_message(timeout=0.5)
            if msg is not None:
                obj = orjson.loads(msg["data"])
                if obj["cars"]:
                    sent[obj["cars"][0][5]] = obj["sent"]
    finally:
        await ps.aclose()   # type: ignore[no-untyped-call]
        await client.aclose()


async def _publisher(rt: Runtime, fleet: SyntheticFleet, stop: asyncio.Event) -> int:
    """The tracked units, written once a second with the write time as their timestamp."""
    assert rt.store is not None
    ticks = 0
    while not stop.is_set():
        t0 = time.time()
        fleet.step()
        await rt.store.update_car_locations(fleet.positions(time.time()))   # as the simulator and ingest write
        ticks += 1
        with_rest = 1.0 - (time.time() - t0)
        if with_rest > 0:
            try:
                await asyncio.wait_for(stop.wait(), with_rest)
            except TimeoutError:
                pass
    return ticks


async def _lag_sampler(samples: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t = loop.time()
        await asyncio.sleep(LAG_TICK_S)
        samples.append(max(0.0, (loop.time() - t - LAG_TICK_S) * 1000))


async def _nearby(host: ApiHost, params: dict[str, Any], units: int) -> list[dict[str, Any]]:
    res = await _load("nearby", {"url": host.url, "queries": params["queries"], "warmup": 50,
                                 "radius_km": RADIUS_KM, "workdir": params["workdir"]})
    if "error" in res:
        raise RuntimeError(res["error"])
    ms = res["samples_ms"]
    cond = {"units": units, "radius_km": RADIUS_KM, "queries": len(ms), "samples_ms": summary(ms, 3),
            "units_found_per_query": summary([float(x) for x in res["found"]], 0),
            "client": "http.client keep-alive HTTP/1.1, another process",
            "server": "uvicorn+httptools, API thread, uvloop"}
    return [Metric("api_nearby_p50_ms_10k", rnd(median(ms), 3), "ms", cond).as_dict(),
            Metric("api_nearby_p95_ms_10k", rnd(percentile(ms, 95), 3), "ms", {"units": units}).as_dict()]


async def _ws(rt: Runtime, host: ApiHost, fleet: SyntheticFleet, params: dict[str, Any]) -> list[dict[str, Any]]:
    me = psutil.Process()
    rss_before = me.memory_info().rss
    stop = asyncio.Event()
    sent: dict[float, float] = {}
    watcher = asyncio.ensure_future(_publish_times(rt.redis_url, sent, stop))
    await asyncio.sleep(0.5)   # subscribed before the first tick
    publisher = asyncio.ensure_future(_publisher(rt, fleet, stop))
    lag: list[float] = []
    rss: list[int] = []
    sampling: list[asyncio.Task[None]] = []

    async def ready() -> None:
        async def sample_rss() -> None:
            while not stop.is_set():
                rss.append(me.memory_info().rss)
                await asyncio.sleep(0.5)
        sampling.extend([asyncio.ensure_future(_lag_sampler(lag, stop)), asyncio.ensure_future(sample_rss())])

    try:
        res = await _load("ws", {"url": host.url, "ids": fleet.ids, "seconds": params["ws_seconds"],
                                 "workdir": params["workdir"]}, ready)
    finally:
        stop.set()
        ticks = await publisher
        await asyncio.gather(watcher, *sampling)
    from_write = res["latencies_ms"]
    offsets = {ts: (s - ts) * 1000 for ts, s in sent.items()}
    lat = [x - offsets[ts] for x, ts in zip(from_write, res["stamps"], strict=True) if ts in offsets]
    n = len(fleet.ids)
    ctx = host.ctx
    cond = {"clients": n, "connected": res["connected"], "client_errors": res["error_count"],
            "error_examples": res["errors"], "messages_measured": len(lat), "seconds": params["ws_seconds"],
            "publisher_ticks": ticks, "expected_messages": n * params["ws_seconds"],
            "latency_ms": summary(lat, 2), "latency_from_write_start_ms": summary(from_write, 2),
            "write_to_publish_ms": summary(list(offsets.values()), 2),
            "dropped_slow": ctx.ws.dropped_slow if ctx else None,
            "definition": "client receipt time - Redis publish time of the tick (its batch's sent); "
                          "clients: a lean receive-only WebSocket client on uvloop, one process (bench/api_load.py)"}
    if not lat:
        return [Metric.missing(name, unit, "no messages measured", **cond).as_dict()
                for name, unit in (("ws_track_latency_p95_ms_1k", "ms"), ("ws_clients_rss_mb_1k", "MB"),
                                   ("ws_track_latency_p50_ms_1k", "ms"), ("ws_runtime_loop_lag_p99_ms_1k", "ms"))]
    with_clients = median([float(x) for x in rss]) if rss else float(me.memory_info().rss)
    return [
        Metric("ws_track_latency_p95_ms_1k", rnd(percentile(lat, 95), 2), "ms", cond).as_dict(),
        Metric("ws_track_latency_p50_ms_1k", rnd(median(lat), 2), "ms", {"clients": n}).as_dict(),
        Metric("ws_clients_rss_mb_1k", rnd((with_clients - rss_before) / 2**20, 1), "MB", {
            "clients": n, "rss_before_mb": rnd(rss_before / 2**20, 1),
            "rss_with_clients_mb": rnd(with_clients / 2**20, 1),
            "process": "the app process (runtime + API thread)"}).as_dict(),
        Metric("ws_runtime_loop_lag_p99_ms_1k", rnd(percentile(lag, 99), 2) if lag else None, "ms", {
            "clients": n, "tick_ms": LAG_TICK_S * 1000, "samples": len(lag), "lag_ms": summary(lag, 2),
            "meaning": "the runtime's loop (the Qt thread in the window) while the API thread serves the clients"},
        ).as_dict(),
    ]


async def _bench(params: dict[str, Any]) -> list[dict[str, Any]]:
    await asyncio.to_thread(Path(params["workdir"]).mkdir, parents=True, exist_ok=True)
    rt, host = await _start(params)
    try:
        assert rt.store is not None
        units = int(params["units"])
        fleet = SyntheticFleet(bench_ids(units), seed=3)
        await rt.store.update_car_locations(fleet.positions(time.time()), publish_batch=False)
        metrics = await _nearby(host, params, units)
        tracked = SyntheticFleet(fleet.ids[: int(params["ws_clients"])], seed=5)
        metrics += await _ws(rt, host, tracked, params)
        load = [round(x, 2) for x in os.getloadavg()]
        for m in metrics:
            m["conditions"]["loadavg_at_end"] = load
        return metrics
    finally:
        await rt.stop()


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(_bench(params))
