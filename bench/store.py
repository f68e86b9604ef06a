"""nearby_*: LiveStore.get_nearby_cars (GEO index + one Lua call) vs. the seed's way, same data, same run.

The seed's way, as its design note builds it: get_nearby_cars() = get_all_car_locations() (SCAN
every car:location:* key, then get_car_location() = one GET per key) + json.loads + Haversine in
Python over all of them, keep <= radius, sort. A batched variant of it (SCAN + MGET in 1,000-key
chunks: what a careful port of the seed would do) is reported beside it, with its own ratio, so
the comparison does not rest on the seed's round trips alone. All go through the same asyncio
Redis client.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from typing import Any

from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.keys import KEY_PREFIX
from cartrack_desktop.services.live.live_store import LiveStore

from .common import Metric, median, percentile, rnd, summary
from .fleet import LAT_MAX, LAT_MIN, LNG_MAX, LNG_MIN, SyntheticFleet, bench_ids

RADIUS_KM = 3.0


def _haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _filter(raws: list[Any], lat: float, lng: float, radius_km: float) -> list[tuple[float, dict[str, Any]]]:
    out: list[tuple[float, dict[str, Any]]] = []
    for raw in raws:
        if raw is None:
            continue
        pos = json.loads(raw)
        d = _haversine_km(lat, lng, pos["lat"], pos["lng"])
        if d <= radius_km:
            out.append((d, pos))
    out.sort(key=lambda x: x[0])
    return out


async def seed_nearby(client: Any, lat: float, lng: float, radius_km: float) -> list[tuple[float, dict[str, Any]]]:
    """The seed's way: all keys, one GET each (get_all_car_locations over get_car_location), filter."""
    keys = [k async for k in client.scan_iter(match=KEY_PREFIX + "*", count=1000)]
    return _filter([await client.get(k) for k in keys], lat, lng, radius_km)


async def seed_nearby_batched(client: Any, lat: float, lng: float,
                              radius_km: float) -> list[tuple[float, dict[str, Any]]]:
    """The seed's way with its round trips batched: SCAN + MGET per 1,000 keys, filter."""
    keys = [k async for k in client.scan_iter(match=KEY_PREFIX + "*", count=1000)]
    raws: list[Any] = []
    for start in range(0, len(keys), 1000):
        raws.extend(await client.mget(keys[start:start + 1000]))
    return _filter(raws, lat, lng, radius_km)


async def _bench(params: dict[str, Any]) -> list[dict[str, Any]]:
    units, queries, seed_queries = int(params["units"]), int(params["queries"]), int(params["seed_queries"])
    batched_queries = int(params["batched_queries"])
    client = make_redis(params["redis_url"], name="bench-nearby")
    try:
        await client.flushdb()
        store = LiveStore(client)
        fleet = SyntheticFleet(bench_ids(units), seed=3)
        await store.update_car_locations(fleet.positions(time.time()), publish_batch=False)
        rnd_ = random.Random(42)
        points = [(rnd_.uniform(LAT_MIN, LAT_MAX), rnd_.uniform(LNG_MIN, LNG_MAX)) for _ in range(queries)]
        for lat, lng in points[:20]:   # warm-up: connections, script cache
            await store.get_nearby_cars(lat, lng, RADIUS_KM)
        ours: list[float] = []
        found: list[int] = []
        for lat, lng in points:
            t0 = time.perf_counter()
            res = await store.get_nearby_cars(lat, lng, RADIUS_KM)
            ours.append((time.perf_counter() - t0) * 1000)
            found.append(len(res))
        # where ours spends its time: the Redis side alone (GEOSEARCH, MGET of the hits, transfer)
        script_ms: list[float] = []
        for lat, lng in points[:100]:
            t0 = time.perf_counter()
            await store.nearby_candidates(lat, lng, RADIUS_KM)
            script_ms.append((time.perf_counter() - t0) * 1000)
        seed: list[float] = []
        batched: list[float] = []
        mismatches = 0
        mismatch_detail: list[dict[str, Any]] = []
        for fn, samples, n in ((seed_nearby, seed, seed_queries), (seed_nearby_batched, batched, batched_queries)):
            await fn(client, *points[0], RADIUS_KM)   # warm-up
            for lat, lng in points[:n]:
                t0 = time.perf_counter()
                res_seed = await fn(client, lat, lng, RADIUS_KM)
                samples.append((time.perf_counter() - t0) * 1000)
                ids_ours = {n.car_id for n in await store.get_nearby_cars(lat, lng, RADIUS_KM)}
                seed_d = {p["car_id"]: d for d, p in res_seed}
                if ids_ours != set(seed_d):
                    mismatches += 1
                    mismatch_detail.append({"only_seed": {c: rnd(seed_d[c], 5) for c in set(seed_d) - ids_ours},
                                            "only_ours": sorted(ids_ours - set(seed_d))[:5]})
        live_keys = await client.dbsize()
    finally:
        await client.aclose()
    cond = {"units": units, "radius_km": RADIUS_KM, "area": "Atlanta 33.65-33.89 N, 84.29-84.55 W, uniform",
            "redis_keys": live_keys, "client": "redis.asyncio via make_redis (hiredis), loopback TCP",
            "units_found_per_query": summary([float(x) for x in found], 0)}
    o50, o95, s50, b50 = median(ours), percentile(ours, 95), median(seed), median(batched)
    return [
        Metric("nearby_p50_ms_10k", rnd(o50, 3), "ms", {
            **cond, "queries": queries, "samples_ms": summary(ours, 3),
            "redis_calls_only_ms": summary(script_ms, 3),
            "split": "the rest of get_nearby_cars is Python: decode + validate each position (msgspec fast path), "
                     "Haversine, sort",
        }).as_dict(),
        Metric("nearby_p95_ms_10k", rnd(o95, 3), "ms", {**cond, "queries": queries}).as_dict(),
        Metric("nearby_seed_p50_ms_10k", rnd(s50, 2), "ms", {
            **cond, "queries": seed_queries,
            "method": "SCAN car:location:* + one GET per key (the seed's get_all_car_locations over "
                      "get_car_location) + json.loads + Haversine + sort",
            "samples_ms": summary(seed, 2), "result_mismatches_vs_ours": mismatches,
            "mismatch_detail": mismatch_detail[:3]}).as_dict(),
        Metric("nearby_speedup_10k", rnd(s50 / o50, 1), "x", {
            **cond, "definition": "nearby_seed_p50_ms / nearby_p50_ms, same process run"}).as_dict(),
        Metric("nearby_seed_batched_p50_ms_10k", rnd(b50, 2), "ms", {
            **cond, "queries": batched_queries,
            "method": "SCAN car:location:* + MGET per 1,000 keys + json.loads + Haversine + sort",
            "samples_ms": summary(batched, 2)}).as_dict(),
        Metric("nearby_speedup_batched_10k", rnd(b50 / o50, 1), "x", {
            **cond, "definition": "nearby_seed_batched_p50_ms / nearby_p50_ms, same process run"}).as_dict(),
    ]


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(_bench(params))
