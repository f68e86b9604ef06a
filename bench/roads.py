"""Routing on the metro-sized synthetic network (issue 14's performance table).

route_eta_rank_ms_10k     drive time of every one of 10,000 live units (already snapped) to a point, within 15 min:
                          one reversed search from the point + every unit's time; a new point each time (no cache)
route_ms_metro            one dispatch route across the metro: the whole-network reversed search from the scene +
                          the unit's path and geometry read off it; scene and unit far apart, a new pair each time
snap_us_per_fix           map-matching fixes (position + heading + speed) to the network, 10,000 at a time, per fix
sim_tick_cpu_10k_roads    the real Simulator.run() driving 10,000 units on the roads at 1 Hz, with its Redis writes,
                          CPU of this process per wall second (as sim_tick_cpu_10k, which is measured beside it)
roads_router_load_s_metro load_road_network + the Router (graph, spatial index): what the app does off the UI thread

The metro network (city 224 x 224: 156,416 ways, 733,984 nodes) is generated and imported once and its roads.npz
kept in the test-data cache (keyed by the generator's source), so a second run starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from cartrack_desktop.domain.models import Car
from cartrack_desktop.mapdata.job import ImportJob
from cartrack_desktop.mapdata.roads import ROADS_FORMAT_VERSION, load_road_network
from cartrack_desktop.routing.router import DEFAULT_CUTOFF_S, Router
from cartrack_desktop.services.history.registry import default_call_sign, default_car_id
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.services.live.simulator import Simulator
from tests.helpers import synthetic_city
from tests.helpers.osm_data import cache_dir

from .common import Metric, percentile, rnd, summary
from .sim import _redis_cpu

IMPORT_TIMEOUT_S = 900.0


def metro_roads(rows: int, cols: int, work: Path) -> tuple[Path, dict[str, Any]]:
    """roads.npz of the synthetic metro city, from the cache or made now (generate + real import)."""
    src = Path(synthetic_city.__file__).read_bytes()
    key = hashlib.sha256(src + f"{rows}x{cols}:{ROADS_FORMAT_VERSION}".encode()).hexdigest()[:12]
    cached = cache_dir() / f"metro-roads-{rows}x{cols}-{key}.npz"
    if cached.is_file():
        return cached, {"cached": True}
    t0 = time.perf_counter()
    city = synthetic_city.build_city(work / "metro.osm.pbf", rows=rows, cols=cols)
    installed = ImportJob(city.path, work / "data", None, nice=0).start().wait(IMPORT_TIMEOUT_S)
    part = cached.with_suffix(".part")
    shutil.copyfile(installed.roads_path, part)
    os.replace(part, cached)
    return cached, {"cached": False, "made_s": rnd(time.perf_counter() - t0, 1), "ways": city.ways,
                    "nodes": city.nodes}


def _units_on_roads(router: Router, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    net = router.net
    lat = rng.uniform(net.node_lat.min(), net.node_lat.max(), n)
    lng = rng.uniform(net.node_lng.min(), net.node_lng.max(), n)
    on = router.snap(lat, lng, tolerance_m=1e6)
    return on.lat, on.lng, on.bearing, rng.uniform(0.0, 60.0, n)


def _routing(router: Router, params: dict[str, Any], cond: dict[str, Any]) -> list[Metric]:
    rng = np.random.default_rng(14)
    net, repeats = router.net, int(params["repeats"])
    lat, lng, hdg, spd = _units_on_roads(router, 10_000, rng)
    snap_s = []
    for _ in range(max(3, repeats // 10)):
        t = time.perf_counter()
        units = router.snap(lat, lng, hdg, spd)
        snap_s.append(time.perf_counter() - t)
    bounds = (net.node_lat.min(), net.node_lat.max(), net.node_lng.min(), net.node_lng.max())
    rank_ms, reached = [], []
    for _ in range(repeats):
        p = (rng.uniform(bounds[0], bounds[1]), rng.uniform(bounds[2], bounds[3]))
        t = time.perf_counter()
        d = router.rank(p[0], p[1], units, DEFAULT_CUTOFF_S, classify=False)
        rank_ms.append((time.perf_counter() - t) * 1000)
        reached.append(int((d.reach == 0).sum()))
    route_ms, km = [], []
    for _ in range(repeats):
        a = (rng.uniform(bounds[0], bounds[0] + 0.03), rng.uniform(bounds[2], bounds[2] + 0.03))
        b = (rng.uniform(bounds[1] - 0.03, bounds[1]), rng.uniform(bounds[3] - 0.03, bounds[3]))
        t = time.perf_counter()
        r = router.route_to(b, a[0], a[1], 45.0, 30.0)
        route_ms.append((time.perf_counter() - t) * 1000)
        if r is not None:
            km.append(r.distance_m / 1000)
    per_fix = [s / 10_000 * 1e6 for s in snap_s]
    snap_ms = percentile([s * 1000 for s in snap_s], 50)
    return [
        Metric("route_eta_rank_ms_10k", rnd(percentile(rank_ms, 50), 2), "ms",
               {**cond, "units": 10_000, "cutoff_s": DEFAULT_CUTOFF_S, "queries": repeats, "all_ms": summary(rank_ms),
                "units_within_cutoff_p50": int(np.median(reached)), "units_snapped_beforehand": True,
                "snap_all_10k_ms_p50": rnd(snap_ms, 1),
                "with_snapping_all_10k_ms_p50": rnd(percentile(rank_ms, 50) + snap_ms, 1)}),
        Metric("route_ms_metro", rnd(percentile(route_ms, 50), 2), "ms",
               {**cond, "routes": repeats, "all_ms": summary(route_ms), "route_km_p50": rnd(percentile(km, 50), 1),
                "what": "snap the unit, whole-network reversed search from the scene, path + geometry"}),
        Metric("snap_us_per_fix", rnd(percentile(per_fix, 50), 2), "us",
               {**cond, "fixes_per_call": 10_000, "calls": len(snap_s), "tolerance_m": 60.0,
                "index_entries": router.snapper.index_entries}),
    ]


async def _sim(router: Router, params: dict[str, Any]) -> list[Metric]:
    units, seconds, warmup = int(params["units"]), float(params["seconds"]), float(params["warmup"])
    client = make_redis(params["redis_url"], name="bench-sim-roads")
    probe = make_redis(params["redis_url"], name="bench-sim-roads-probe")
    await client.flushdb()
    sim = Simulator(LiveStore(client), seed=7)
    sim.use_router(router)
    for i in range(1, units + 1):
        sim.add_car(Car(default_car_id(i), default_call_sign(i)))
    task = asyncio.ensure_future(sim.run())
    try:
        await asyncio.sleep(warmup)
        ticks0 = sim.stats.ticks
        cpu0, wall0, r0 = time.process_time(), time.perf_counter(), await _redis_cpu(probe)
        await asyncio.sleep(seconds)
        cpu1, wall1, r1 = time.process_time(), time.perf_counter(), await _redis_cpu(probe)
        ticks = sim.stats.ticks - ticks0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()
        await probe.aclose()
    wall = wall1 - wall0
    on_roads = sum(1 for u in sim.units.values() if u.edge >= 0)
    return [Metric("sim_tick_cpu_10k_roads", rnd((cpu1 - cpu0) / wall, 3), "cpu_s/s",
                   {"units": units, "on_roads": on_roads, "window_s": rnd(wall, 1), "ticks_in_window": ticks,
                    "skipped_ticks": sim.stats.skipped_ticks, "redis_cpu_s_per_s": rnd((r1 - r0) / wall, 3),
                    "last_tick_ms": rnd(sim.stats.last_tick_s * 1000, 1),
                    "measure": "time.process_time() delta / wall delta of a worker running only Simulator.run()"})]


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    work = Path(params["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    path, made = metro_roads(int(params["rows"]), int(params["cols"]), work)
    t0 = time.perf_counter()
    router = Router(load_road_network(path))
    load_s = time.perf_counter() - t0
    net = router.net
    cond = {"network": {"nodes": net.n_nodes, "edges": net.n_edges, "graph_nodes": router.graph.n_nodes,
                        **made}, "caveat": "2-core machine shared with other work; timings are noisy",
            "loadavg": [round(x, 2) for x in os.getloadavg()]}
    metrics = [Metric("roads_router_load_s_metro", rnd(load_s, 2), "s", cond), *_routing(router, params, cond)]
    metrics += asyncio.run(_sim(router, params))
    return [m.as_dict() for m in metrics]
