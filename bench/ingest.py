"""ingest_*_10k: 10,000 devices at 1 Hz over keep-alive HTTP into the device ingest, load from wrk.

The ingest runs as it does in the app (IngestService: worker process(es) on uvloop) against a
private Redis and MongoDB (10,000 units with device ids). The load comes from another process,
Debian's `wrk` with bench/ingest_load.lua: 10,000 connections, one device each on average, each
waiting ~1 s between reports (OsmAnd query format). A warm-up run connects everything first; the
measured run follows with fix times continuing. Measured:
  ingest_positions_per_s_10k  fixes published on cartrack:batch per second in the measured run
  ingest_latency_p99_ms_10k   wrk's p99 (request sent -> 200 received; a 200 is sent only after
                              Redis acknowledged the batch, so this bounds arrival -> published)
  ingest_cpu_10k              CPU seconds of the worker process(es) per wall second
  ingest_lost_10k             200-answered live fixes (wrk's count minus the worker's filtered
                              count) not published through the tick script (cartrack:batch)
and, first and with the same load, the floor (bench/ingest_floor.py: a do-nothing httptools +
uvloop server): ingest_floor_requests_per_s_10k, ingest_floor_latency_p99_ms_10k,
ingest_floor_cpu_10k - what the machine allows at that moment.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import redis
from pymongo import MongoClient

from cartrack_desktop.ingest.options import IngestOptions
from cartrack_desktop.ingest.service import IngestService
from tests.helpers.servers import free_port

from .common import BENCH_DIR, Metric, rnd

LUA = BENCH_DIR / "ingest_load.lua"


class BatchCounter(threading.Thread):
    """Counts fixes published on cartrack:batch (rows) with the time they arrived."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="batch-counter")
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe("cartrack:batch")
        self.rows: list[tuple[float, int]] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            msg = self.pubsub.get_message(timeout=0.2)
            if msg and isinstance(msg.get("data"), bytes):
                data: bytes = msg["data"]
                n = data.count(b"],[") + 1 if b'"cars":[[' in data else 0
                self.rows.append((time.monotonic(), n))

    def total(self, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(n for t, n in self.rows if since <= t <= until)


def _wrk(port: int, units: int, threads: int, seconds: float, t0: int, delay_ms: int) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    assert wrk is not None
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{units}", f"-d{int(seconds)}s", "--timeout", "5s", "--latency", "-s", str(LUA),
         f"http://127.0.0.1:{port}/", "--", str(units), str(threads), str(t0), str(delay_ms)],
        capture_output=True, text=True, preexec_fn=limits, timeout=seconds + 60, check=False)
    return _parse_wrk(out.stdout + out.stderr)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _parse_wrk(text: str) -> dict[str, Any]:
    res: dict[str, Any] = {"raw_tail": text.strip().splitlines()[-12:]}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    res["socket_errors"] = [int(x) for x in m.groups()] if m else [0, 0, 0, 0]
    for q in ("50", "90", "99"):
        m = re.search(rf"\s{q}(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\b", text)
        if m:
            res[f"p{q}_ms"] = round(_ms(m.group(1), m.group(2)), 2)
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        res["requests_per_s"] = float(m.group(1))
    return res


def _seed_units(mongo_uri: str, units: int) -> str:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    db = client.get_default_database()
    db.cars.delete_many({})
    db.cars.insert_many([{"_id": f"D{i:05d}", "car_id": f"D{i:05d}", "call_sign": f"Dev-{i}", "status": "available",
                          "simulated": False, "device_id": f"dev{i:05d}"} for i in range(units)])
    name = db.name
    client.close()
    return name


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


async def _floor(units: int, threads: int, seconds: float, warmup: float, delay_ms: int) -> list[dict[str, Any]]:
    """The do-nothing server under the same load (its own warm-up), in this run."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.ingest_floor", str(port),
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        await proc.stdout.readline()
        t0 = int(time.time())
        await asyncio.to_thread(_wrk, port, units, threads, warmup, t0, delay_ms)
        load0 = os.getloadavg()[0]
        cpu0, w0 = _cpu([proc.pid]), time.monotonic()
        run = await asyncio.to_thread(_wrk, port, units, threads, seconds, t0 + 100, delay_ms)
        cpu1, w1 = _cpu([proc.pid]), time.monotonic()
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    cond = {"devices": units, "server": "bench/ingest_floor.py (httptools + uvloop, answers 200, no work)",
            "wrk_measured": run, "loadavg_1m_at_measure_start": rnd(load0, 2), "measured_s": rnd(w1 - w0, 1),
            "load_generator": "the ingest's: wrk, bench/ingest_load.lua, keep-alive"}
    wall = w1 - w0
    return [
        Metric("ingest_floor_requests_per_s_10k", run.get("requests_per_s"), "requests/s",
               {**cond, "measure": "wrk Requests/sec"}).as_dict(),
        Metric("ingest_floor_latency_p99_ms_10k", run.get("p99_ms"), "ms", {**cond, "measure": "wrk p99"}).as_dict(),
        Metric("ingest_floor_cpu_10k", rnd((cpu1 - cpu0) / wall, 3), "cores",
               {**cond, "measure": "CPU s of the floor server / wall s"}).as_dict(),
    ]


async def _bench(params: dict[str, Any]) -> list[dict[str, Any]]:
    units, seconds, warmup = int(params["units"]), float(params["seconds"]), float(params["warmup"])
    threads, workers, delay_ms = int(params.get("threads", 2)), int(params.get("workers", 1)), int(params["delay_ms"])
    db_name = _seed_units(params["mongo_uri"], units)
    r = redis.Redis.from_url(params["redis_url"])
    r.flushdb()
    port = free_port()
    svc = IngestService(IngestOptions(port=port, workers=workers), redis_url=params["redis_url"],
                        mongo_uri=params["mongo_uri"], mongo_db=db_name, log_level="WARNING")
    await svc.start()
    counter = BatchCounter(params["redis_url"])
    counter.start()
    try:
        await asyncio.sleep(1.0)  # registry loaded, subscriber subscribed
        t0 = int(time.time()) - 5
        warm = await asyncio.to_thread(_wrk, port, units, threads, warmup, t0, delay_ms)
        t1 = t0 + int(warmup) + 3
        pids = svc.pids()
        load0 = os.getloadavg()[0]
        cpu0, w0 = _cpu(pids), time.monotonic()
        run = await asyncio.to_thread(_wrk, port, units, threads, seconds, t1, delay_ms)
        cpu1, w1 = _cpu(pids), time.monotonic()
        await asyncio.sleep(1.5)  # the last batches land
        stats = svc.stats()
    finally:
        await svc.stop()
        counter.stop_flag.set()
        counter.join(2)
    wall = w1 - w0
    published_window = counter.total(w0 + 1.0, w1)
    ok = sum(x.get("requests", 0) - x.get("non_2xx", 0) for x in (warm, run))
    filtered = int(stats.totals.get("filtered", 0))
    published = counter.total()
    late = int(r.xlen("cartrack:late"))   # 200-answered fixes older than the unit's newest: in the stream
    r.close()
    lost = max(0, ok - filtered - published - late)
    cond = {"devices": units, "rate_per_device_hz": f"~1 (wrk delay {delay_ms} ms + response time)",
            "workers": workers, "wrk_threads": threads, "warmup_s": warmup, "measured_s": rnd(wall, 1),
            "wrk_measured": run, "wrk_warmup": {k: v for k, v in warm.items() if k != "raw_tail"},
            "published_total": published, "late_in_stream": late, "ok_200_total": ok, "filtered": filtered,
            "ingest_totals": stats.totals, "ingest_rejections": stats.rejections,
            "loadavg_1m_at_measure_start": rnd(load0, 2), "loadavg_1m_at_end": rnd(os.getloadavg()[0], 2),
            "load_generator": "wrk (another process), bench/ingest_load.lua, OsmAnd query, keep-alive"}
    m_rate = "rows published on cartrack:batch in the measured run (after its 1st s) / s"
    m_lost = "200 answers (both wrk runs) - filtered - rows published on cartrack:batch - fixes in cartrack:late"
    return [
        Metric("ingest_positions_per_s_10k", rnd(published_window / max(0.1, wall - 1.0), 1), "positions/s",
               {**cond, "measure": m_rate}).as_dict(),
        Metric("ingest_latency_p99_ms_10k", run.get("p99_ms"), "ms",
               {**cond, "measure": "wrk --latency p99: request sent -> 200 (sent after the Redis ack)"}).as_dict(),
        Metric("ingest_cpu_10k", rnd((cpu1 - cpu0) / wall, 3), "cores",
               {**cond, "measure": "user+system CPU s of the ingest worker process(es) / wall s"}).as_dict(),
        Metric("ingest_lost_10k", float(lost), "fixes",
               {**cond, "measure": m_lost}).as_dict(),
    ]


async def _both(params: dict[str, Any]) -> list[dict[str, Any]]:
    floor = await _floor(int(params["units"]), int(params.get("threads", 2)), float(params["seconds"]),
                         float(params["warmup"]), int(params["delay_ms"]))
    return await _bench(params) + floor


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(_both(params))


if __name__ == "__main__":   # a manual run: python -m bench.ingest REDIS_URL MONGO_URI
    import sys

    import orjson
    print(orjson.dumps(run({"redis_url": sys.argv[1], "mongo_uri": sys.argv[2], "units": 10_000, "seconds": 10,
                            "warmup": 5, "delay_ms": 950, "workers": int(sys.argv[3]) if len(sys.argv) > 3 else 1}),
                       option=orjson.OPT_INDENT_2).decode())
