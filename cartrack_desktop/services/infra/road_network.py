"""The imported map's road network, as a Router: loaded off the event loop, reloaded when a map is imported.

Whoever imports (the window's Import dialog, or `cartrack-desktop import-map` in another process) swaps
`<data-dir>/mapdata/current` atomically; this source looks at that link every WATCH_S seconds (one
readlink) and loads the new version in a worker thread, so the UI never waits for it. Until a map is
imported, or if it cannot be read, `router` is None and everything keeps its straight-line behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from ...mapdata.roads import RoadNetworkError, load_road_network
from ...mapdata.store import CURRENT_LINK, current_map, mapdata_dir
from ...routing.router import Router
from .errors import ErrorBus, Level
from .heap import release_freed_memory
from .observers import Observers

log = logging.getLogger(__name__)

WATCH_S = 3.0


class RoadNetworkSource:
    def __init__(self, data_dir: Path, errors: ErrorBus | None = None) -> None:
        self._data_dir = data_dir
        self._errors = errors
        self.router: Router | None = None
        self.version: str | None = None        # the map version directory the router was built from
        self.changed: Observers[Router | None] = Observers("road network")
        self.checked = asyncio.Event()          # set once the first look at the data directory is done
        self.load_s = 0.0

    def _link_target(self) -> str | None:
        try:
            return os.readlink(mapdata_dir(self._data_dir) / CURRENT_LINK)
        except OSError:
            return None

    async def refresh(self) -> None:
        """Load the current map's network if it is not the one loaded (a worker thread does the work)."""
        target = self._link_target()
        if target == self.version:
            self.checked.set()
            return
        t0 = time.monotonic()
        try:
            router = await asyncio.to_thread(self._build)
        except (RoadNetworkError, OSError, ValueError) as exc:
            router = None
            if self._errors is not None:
                self._errors.report("roads", f"The imported road network cannot be used ({exc}); "
                                    "drive times fall back to straight-line distance", Level.WARNING)
        self.load_s = time.monotonic() - t0
        self.version = target
        if router is not None:
            log.info("road network loaded in %.2f s: %d junctions, %d road edges", self.load_s,
                     router.net.n_nodes, router.net.n_edges)
        elif target is not None:
            log.info("no usable road network")
        self.router = router
        self.checked.set()
        self.changed.emit(router)

    def _build(self) -> Router | None:
        installed = current_map(self._data_dir)
        if installed is None:
            return None
        router = Router(load_road_network(installed.roads_path))
        release_freed_memory()     # the build's temporaries (~50 MB for a metro network) back to the system
        return router

    async def run(self) -> None:
        """Load at start, then follow imports."""
        while True:
            await self.refresh()
            await asyncio.sleep(WATCH_S)
