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
            log.info("stats: %s", runtime.stats_line())

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
        log.info("final stats: %s", runtime.stats_line())
    return 0
