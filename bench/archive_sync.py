"""sync_cycle_*: one 10 s sync cycle of N units, Redis -> secantusd-py, timed as the app runs it.

Setup (untimed): schema, N registered cars (FleetRegistry.seed, as the app seeds them) and
fresh positions in Redis. Timed: LocationSync.capture() + write_one() - read every live
position, then the history insert, the cars' last-known update and the cycle's ledger entry.
A fake sync clock gives consecutive cycle ids without waiting 10 s between cycles.

The cycle gets a bench budget (well above the app's own CYCLE_TIMEOUT_S) so a slow cycle is
still measured; one that does not finish within the budget is reported as not measured
(value null, with the budget as a lower bound), and smaller fleets are then timed to show
how the cycle scales and which step takes the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient

from cartrack_desktop.services.history.buckets import BucketWriter
from cartrack_desktop.services.history.reader import HistoryReader
from cartrack_desktop.services.history.registry import FleetRegistry, default_car_id
from cartrack_desktop.services.history.sync import CYCLE_TIMEOUT_S, LocationSync
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.infra.rejections import RejectionCounter
from cartrack_desktop.services.live.live_store import LiveStore

from .common import Metric, median, rnd
from .fleet import SyntheticFleet

DB = "bench"
SCALING_SIZES = (500, 1000)


def _timed(fn: Callable[..., Awaitable[Any]], sink: dict[str, float], key: str) -> Callable[..., Awaitable[Any]]:
    """Wrap one history-writing step so the cycle can be split into where its time goes."""
    @functools.wraps(fn)
    async def wrapper(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await fn(*a, **kw)
        finally:
            sink[key] = sink.get(key, 0.0) + time.perf_counter() - t0
    return wrapper


async def _cycles(redis: Any, mongo: AsyncMongoClient[dict[str, Any]], db: str, units: int, cycles: int,
                  budget_s: float) -> dict[str, Any]:
    await redis.flushdb()
    await mongo.drop_database(db)
    database = mongo[db]
    rejections = RejectionCounter("mongodb documents")
    registry = FleetRegistry(database, HistoryReader(database, rejections=rejections), rejections=rejections)
    writer = BucketWriter(database, registry)
    t0 = time.perf_counter()
    await registry.ensure_indexes()
    await writer.ensure_indexes()
    cars = await registry.seed(units)
    seed_s = time.perf_counter() - t0
    steps: dict[str, float] = {}
    for owner, attr, key in ((writer, "_insert_buckets", "history_buckets_s"),
                             (writer, "_update_last_known", "update_last_known_s"),
                             (registry, "register_seen", "registry_s"), (writer, "save_totals", "save_totals_s")):
        if hasattr(owner, attr):   # diagnostics only: skipped if the product renames the step
            setattr(owner, attr, _timed(getattr(owner, attr), steps, key))
    store = LiveStore(redis)
    fake_now = [float(int(time.time() // 10) * 10 + 1)]
    sync = LocationSync(store, writer, clock=lambda: fake_now[0], timeout_s=budget_s)
    fleet = SyntheticFleet([default_car_id(i) for i in range(1, units + 1)], seed=13)
    out: dict[str, Any] = {"totals": [], "splits": [], "written": [], "registered": len(cars), "seed_s": seed_s,
                           "failed": None}
    for _ in range(cycles):
        fleet.step(10.0)
        await store.update_car_locations(fleet.positions(time.time()), publish_batch=False)
        fake_now[0] += 10.0
        steps.clear()
        t0 = time.perf_counter()
        cycle = await sync.capture()
        t1 = time.perf_counter()
        ok = await sync.write_one()
        t2 = time.perf_counter()
        split = {"capture_s": rnd(t1 - t0, 3), "write_s": rnd(t2 - t1, 3), **{k: rnd(v, 3) for k, v in steps.items()}}
        if cycle is None or not ok:
            out["failed"] = {"after_s": rnd(t2 - t0, 1), "error": sync.stats.last_error[:200], **split}
            break
        out["totals"].append(t2 - t0)
        out["splits"].append(split)
        out["written"].append(len(cycle.positions))
    return out


async def _bench(params: dict[str, Any]) -> list[dict[str, Any]]:
    units, cycles, budget = int(params["units"]), int(params["cycles"]), float(params["budget_s"])
    redis = make_redis(params["redis_url"], name="bench-sync")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(params["mongo_uri"], tz_aware=True)
    scaling: dict[str, Any] = {}
    try:
        r = await _cycles(redis, mongo, DB, units, cycles, budget)
        if r["failed"] is not None:
            # the server is still chewing on the abandoned write: stop it (the parent started it for this
            # group and passed its pid) so it does not steal CPU from the smaller runs on the second server
            if params.get("mongo_pid"):
                with contextlib.suppress(OSError):
                    os.kill(int(params["mongo_pid"]), signal.SIGKILL)
            small: AsyncMongoClient[dict[str, Any]] | None = None
            if params.get("mongo_uri_small"):
                small = AsyncMongoClient(params["mongo_uri_small"], tz_aware=True)
            if small is not None:
                try:
                    for n in SCALING_SIZES:
                        s = await _cycles(redis, small, f"{DB}_{n}", n, 1, budget)
                        scaling[str(n)] = s["splits"][0] if s["splits"] else s["failed"]
                        scaling[str(n)]["cycle_s"] = rnd(s["totals"][0], 3) if s["totals"] else None
                finally:
                    await small.close()
    finally:
        await redis.aclose()
        await mongo.close()
    cond: dict[str, Any] = {
        "units": units, "cycles_planned": cycles, "cycle_s": [rnd(t, 3) for t in r["totals"]],
        "splits": r["splits"], "positions_per_cycle": r["written"], "registered_cars": r["registered"],
        "fleet_seed_untimed_s": rnd(r["seed_s"], 2),
        "layout": "bucket pattern: 64 history buckets + 64 last-known shard updates per cycle",
        "server": "secantusd-py (private, on-disk storage)", "app_cycle_timeout_s": CYCLE_TIMEOUT_S,
        "bench_budget_s": budget,
        "timed": "LocationSync.capture() + write_one() (history buckets, last-known shards, registry, ledger)",
    }
    if r["failed"] is not None:
        cond.update(failed_cycle=r["failed"], lower_bound_s=budget, smaller_fleets=scaling)
        reason = (f"the first cycle did not finish within the bench budget of {budget:.0f} s "
                  f"(the app itself gives up after {CYCLE_TIMEOUT_S:.0f} s)")
        return [Metric.missing("sync_cycle_s_10k", "s", reason, **cond).as_dict(),
                Metric.missing("sync_cycle_first_s_10k", "s", reason, **cond).as_dict()]
    cond["cycles_over_app_timeout"] = sum(1 for t in r["totals"] if t > CYCLE_TIMEOUT_S)
    return [
        Metric("sync_cycle_s_10k", rnd(median(r["totals"]), 3), "s",
               {**cond, "statistic": f"median of {len(r['totals'])}"}).as_dict(),
        Metric("sync_cycle_first_s_10k", rnd(r["totals"][0], 3), "s", {**cond, "statistic": "first cycle"}).as_dict(),
    ]


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(_bench(params))
