"""`cartrack-desktop --headless`: simulator and sync as a service, no window, no Qt import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from .config import Settings
from .mapdata.store import patrol_area
from .services.infra.embedded import EmbeddedError
from .services.infra.timeouts import within
from .services.runtime import Runtime

log = logging.getLogger(__name__)

STATS_EVERY_S = 10.0


async def run_headless(settings: Settings) -> int:
    imported = await asyncio.to_thread(patrol_area, settings.data_dir)
    runtime = Runtime(settings, map_area=imported[0] if imported else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
    except EmbeddedError as exc:
        log.error("%s", exc)
        return 1
    if settings.api is not None:
        from .api.host import ApiRefused, start_api  # FastAPI is loaded only when the API is asked for

        try:
            await start_api(runtime)
        except ApiRefused as exc:
            log.error("%s", exc)
            await runtime.stop()
            return 1

    async def stats() -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            log.info("stats: %s", stats_line(runtime))

    runtime.supervisor.start("stats", stats)
    log.info("headless service running%s; Ctrl+C or SIGTERM stops it",
             f" for {settings.duration:g} s" if settings.duration else "")
    try:
        if settings.duration:
            with contextlib.suppress(TimeoutError):
                await within(stop.wait(), settings.duration)
        else:
            await stop.wait()
    finally:
        log.info("shutting down")
        await runtime.stop()
        log.info("final stats: %s", stats_line(runtime))
    return 0


def stats_line(rt: Runtime) -> str:
    """The service's one-line summary, logged every 10 s: health, simulator, sync, ingest, rejections."""
    parts = [f"redis={'ok' if rt.health.redis_ok else 'DOWN'}", f"mongo={'ok' if rt.health.mongo_ok else 'DOWN'}"]
    if rt.simulator is not None:
        sim = rt.simulator.stats
        parts.append(f"units={sim.units} ticks={sim.ticks} tick_ms={sim.last_tick_s * 1000:.1f}")
    if rt.sync is not None:
        sy = rt.sync.stats
        parts.append(f"sync_cycles={sy.cycles} cars_synced={sy.cars_synced} last_sync_s={sy.last_duration_s:.2f} "
                     f"pending={sy.pending} failures={sy.failures} capture_failures={sy.capture_failures}")
    ing = rt.ingest_stats()
    if ing is not None:
        t = ing.totals
        parts.append(f"ingest={ing.state} positions_per_s={ing.positions_per_s:.0f} "
                     f"late_per_s={ing.late_per_s:.0f} "
                     f"accepted={t.get('live', 0)} late={t.get('late', 0)} filtered={t.get('filtered', 0)} "
                     f"unknown={t.get('unknown', 0)} unavailable={t.get('unavailable', 0)} "
                     f"alarms={t.get('alarms', 0)} connections={ing.connections} "
                     f"ingest_rejected={sum(ing.rejections.values())}")
    if rt.late is not None and (rt.late.stats.landed or rt.late.stats.waiting):
        parts.append(f"late_landed={rt.late.stats.landed} late_waiting={rt.late.stats.waiting}")
    if rt.alarms is not None and rt.alarms.active:
        parts.append(f"alarms_open={len(rt.alarms.active)}")
    parts.append(f"rejected={rt.redis_rejections.total + rt.mongo_rejections.total}")
    return " ".join(parts)
