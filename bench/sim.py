"""sim_tick_cpu_*: the patrol simulator driving N units at 1 Hz into Redis, CPU per wall second.

Runs the real Simulator.run() loop (patrol model + LiveStore batch writes) alone in this
worker process, so time.process_time() is the simulator's cost; the redis-server's own CPU
comes from INFO cpu deltas over the same window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from cartrack_desktop.domain.models import Car
from cartrack_desktop.services.history.registry import default_call_sign, default_car_id
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.services.live.simulator import Simulator

from .common import Metric, rnd
from .fleet import SyntheticFleet


async def _redis_cpu(client: Any) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _bench(params: dict[str, Any]) -> list[dict[str, Any]]:
    units, seconds, warmup = int(params["units"]), float(params["seconds"]), float(params["warmup"])
    client = make_redis(params["redis_url"], name="bench-sim")
    probe = make_redis(params["redis_url"], name="bench-sim-probe")
    await client.flushdb()
    sim = Simulator(LiveStore(client), seed=7)
    ids = [default_car_id(i) for i in range(1, units + 1)]
    start = SyntheticFleet(ids, seed=9).positions(time.time())
    for i, p in enumerate(start, 1):
        sim.add_car(Car(p.car_id, default_call_sign(i), location=p))
    task = asyncio.ensure_future(sim.run())
    try:
        await asyncio.sleep(warmup)
        ticks0 = sim.stats.ticks
        cpu0, wall0, r0 = time.process_time(), time.perf_counter(), await _redis_cpu(probe)
        tick_s: list[float] = []
        seen = sim.stats.ticks
        end = wall0 + seconds
        while time.perf_counter() < end:
            await asyncio.sleep(0.25)
            if sim.stats.ticks != seen:
                seen = sim.stats.ticks
                tick_s.append(sim.stats.last_tick_s)
        cpu1, wall1, r1 = time.process_time(), time.perf_counter(), await _redis_cpu(probe)
        ticks = sim.stats.ticks - ticks0
        stats = sim.stats
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        keys = await probe.dbsize()
        await client.aclose()
        await probe.aclose()
    wall = wall1 - wall0
    tick_s.sort()
    cond = {
        "units": units, "rate_hz": 1, "window_s": rnd(wall, 1), "warmup_s": warmup, "ticks_in_window": ticks,
        "skipped_ticks": stats.skipped_ticks, "write_failures": stats.write_failures,
        "tick_compute_plus_write_ms_p50": rnd(tick_s[len(tick_s) // 2] * 1000, 1) if tick_s else None,
        "tick_compute_plus_write_ms_max": rnd(tick_s[-1] * 1000, 1) if tick_s else None,
        "redis_keys": keys, "process": "worker running only Simulator.run() (patrol model + LiveStore writes)",
    }
    return [
        Metric("sim_tick_cpu_10k", rnd((cpu1 - cpu0) / wall, 3), "cpu_s/s",
               {**cond, "measure": "time.process_time() delta / wall delta (all threads of the process)"}).as_dict(),
        Metric("sim_tick_redis_cpu_10k", rnd((r1 - r0) / wall, 3), "cpu_s/s",
               {**cond, "measure": "redis-server INFO cpu (used_cpu_user+used_cpu_sys) delta / wall delta"}).as_dict(),
    ]


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(_bench(params))
