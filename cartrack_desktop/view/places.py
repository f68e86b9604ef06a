"""The imported street map's search index, asked off the UI thread: search and reverse geocoding.

One worker thread (so one read-only SQLite connection, and queries in the order they were asked);
the window's asyncio loop awaits it. A newer import is swapped in with `open`, on that same thread,
after which the old index's connection is closed. Without an imported map every answer is empty.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import TypeVar

from ..mapdata.geocoder import Geocoder, GeocoderError, GeocodeResult
from ..mapdata.store import InstalledMap

log = logging.getLogger(__name__)

T = TypeVar("T")
SEARCH_LIMIT = 8


class Places:
    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cartrack-geocoder")
        self._geo: Geocoder | None = None
        self.version: str | None = None      # the map version whose index is open
        self.error: str | None = None        # why the last open failed

    @property
    def available(self) -> bool:
        return self._geo is not None

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def open(self, installed: InstalledMap | None) -> bool:
        """Use this map's index from now on (None: no map). False (and `error`) if it cannot be read."""
        return await self._run(lambda: self._swap(installed))

    def _swap(self, installed: InstalledMap | None) -> bool:
        new: Geocoder | None = None
        self.error = None
        if installed is not None:
            try:
                new = Geocoder(installed.search_path)
            except GeocoderError as exc:
                self.error = str(exc)
                log.error("street search unavailable: %s", exc)
        old, self._geo = self._geo, new
        self.version = installed.directory.name if new is not None and installed is not None else None
        if old is not None:
            old.close()         # this thread's connection: the only one it had
        return new is not None or installed is None

    async def search(self, text: str, near: tuple[float, float] | None = None,
                     limit: int = SEARCH_LIMIT) -> list[GeocodeResult]:
        return await self._run(lambda: self._search(text, near, limit))

    def _search(self, text: str, near: tuple[float, float] | None, limit: int) -> list[GeocodeResult]:
        geo = self._geo
        if geo is None:
            return []
        try:
            return geo.search(text, near=near, limit=limit)
        except GeocoderError as exc:
            log.warning("street search failed: %s", exc)
            return []

    async def reverse(self, lat: float, lng: float) -> GeocodeResult | None:
        return await self._run(lambda: self._reverse(lat, lng))

    def _reverse(self, lat: float, lng: float) -> GeocodeResult | None:
        geo = self._geo
        if geo is None:
            return None
        try:
            return geo.reverse(lat, lng)
        except GeocoderError as exc:
            log.warning("reverse geocoding failed: %s", exc)
            return None

    def close(self) -> None:
        """Stop the worker thread (queued questions are dropped; the connection closes with the thread)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


AT_CORNER_M = 30.0       # this close to an intersection, the point is named by the corner itself


def near_label(result: GeocodeResult | None) -> str:
    """How the window names a point: "near 1180 Peachtree St NE", or at a corner "10th St NE & Peachtree St NE"."""
    if result is None:
        return ""
    approx = " (approx.)" if result.approximate else ""
    if result.kind == "intersection" and (result.distance_m or 0.0) <= AT_CORNER_M:
        return f"{result.label}{approx}"
    return f"near {result.label}{approx}"
