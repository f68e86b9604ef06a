"""`python -m bench.crosscheck`: measure the same quantities as `make bench` another way, from outside.

The benchmark times code paths from inside (its own workers, its own sampler). This runs the
real app as a user would (`cartrack-desktop --headless`, or the window with `--gui`) against
private servers and measures it only from outside:

- CPU and memory of each process from /proc (utime+stime ticks, VmRSS), not through the app;
- the sync cycle from what it left in MongoDB (`sync_stats`: written_at - taken_at per cycle);
- nearby search from a second Redis client in this process while the app's simulator keeps
  writing at 1 Hz (not a static data set), plus Redis's own server-side accounting
  (INFO commandstats) of the calls that client made.

Prints a table and writes bench/crosscheck-headless.json (or bench/crosscheck-gui.json).
Numbers to compare with bench/results.json:
sim_tick_cpu_10k + sim_tick_redis_cpu_10k (the app here also runs the sync and a stats line),
sync_cycle_s_10k, nearby_p50_ms_10k, rss_mb_10k (with --gui).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from tests.helpers.servers import MongoServer, RedisServer

from .common import REPO, machine_info, median, percentile, rnd
from .fleet import LAT_MAX, LAT_MIN, LNG_MAX, LNG_MIN

TICK_S = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat (fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S


def proc_rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB / 1024


def tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc/<pid>/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return out


async def nearby_probe(redis_url: str, queries: int) -> tuple[list[float], int]:
    client = make_redis(redis_url, name="crosscheck")
    store = LiveStore(client)
    rnd_ = random.Random(7)
    times, found = [], 0
    try:
        for _ in range(queries):
            lat, lng = rnd_.uniform(LAT_MIN, LAT_MAX), rnd_.uniform(LNG_MIN, LNG_MAX)
            t0 = time.perf_counter()
            res = await store.get_nearby_cars(lat, lng, 3.0)
            times.append((time.perf_counter() - t0) * 1000)
            found += len(res)
            await asyncio.sleep(0.01)   # spread over several simulator ticks
    finally:
        await client.aclose()
    return times, found // max(1, queries)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cars", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window after the warm-up")
    ap.add_argument("--warmup", type=float, default=25.0)
    ap.add_argument("--gui", action="store_true", help="run the window (needs a display) and measure memory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cartrack-crosscheck-"))
    redis_srv = RedisServer(work / "redis").start()
    mongo_srv = MongoServer(work / "mongo").start()
    cmd = [sys.executable, str(REPO / "main.py"), "--cars", str(args.cars), "--redis-url", redis_srv.url,
           "--mongo-uri", f"mongodb://127.0.0.1:{mongo_srv.port}/crosscheck?directConnection=true",
           "--data-dir", str(work / "data"), "--duration", str(args.warmup + args.seconds + 15)]
    if not args.gui:
        cmd.append("--headless")
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    app = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, Any] = {"machine": machine_info(), "cars": args.cars, "gui": args.gui, "command": cmd[1:]}
    try:
        started = time.monotonic()
        rc = redis_srv.client()
        while rc.zcard("cartrack:geo") < args.cars:
            if app.poll() is not None or time.monotonic() - started > 120:
                raise SystemExit("the app did not bring its units live")
            time.sleep(0.5)
        time.sleep(args.warmup)
        redis_pid = int(rc.info("server")["process_id"])
        rc.config_resetstat()
        t0 = time.monotonic()
        cpu0 = {p: proc_cpu_s(p) for p in tree(app.pid)}
        redis_cpu0 = proc_cpu_s(redis_pid)
        rss: list[float] = []
        times, per_query = asyncio.run(nearby_probe(redis_srv.url, 300))
        stats = rc.info("commandstats")
        while time.monotonic() - t0 < args.seconds:
            rss.append(sum(proc_rss_mb(p) for p in tree(app.pid)))
            time.sleep(1.0)
        wall = time.monotonic() - t0
        cpu1 = {p: proc_cpu_s(p) for p in tree(app.pid) if p in cpu0}
        app_cpu = sum(cpu1[p] - cpu0[p] for p in cpu1)
        out["app_tree_cpu_s_per_s"] = rnd(app_cpu / wall, 3)
        out["app_main_cpu_s_per_s"] = rnd((cpu1[app.pid] - cpu0[app.pid]) / wall, 3)
        out["redis_cpu_s_per_s"] = rnd((proc_cpu_s(redis_pid) - redis_cpu0) / wall, 3)
        out["rss_mb_tree_median"] = rnd(median(rss), 1)
        out["nearby_p50_ms"] = rnd(median(times), 3)
        out["nearby_p95_ms"] = rnd(percentile(times, 95), 3)
        out["nearby_units_per_query"] = per_query
        evalsha = stats.get("cmdstat_evalsha", {})
        out["redis_server_usec_per_evalsha"] = evalsha.get("usec_per_call")
        out["redis_calls_in_window"] = {k.removeprefix("cmdstat_"): v.get("calls") for k, v in stats.items()}
    finally:
        app.terminate()
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
    db = MongoClient(f"mongodb://127.0.0.1:{mongo_srv.port}/?directConnection=true", tz_aware=True).crosscheck
    cycles = [d for d in db.sync_stats.find({"_id": {"$type": "number"}}) if d.get("cars") == args.cars]
    durations = [(d["written_at"] - d["taken_at"]).total_seconds() for d in cycles]
    out["sync_cycles_full_fleet"] = len(durations)
    out["sync_cycle_s_median"] = rnd(median(durations), 3) if durations else None
    out["sync_cycle_s_max"] = rnd(max(durations), 3) if durations else None
    redis_srv.stop()
    mongo_srv.stop()
    for k, v in out.items():
        if k not in ("machine", "command", "redis_calls_in_window"):
            print(f"{k:32s} {v}")
    path = REPO / "bench" / f"crosscheck-{'gui' if args.gui else 'headless'}.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
