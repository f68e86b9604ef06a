"""The imported street map in the window: the archive the page draws, the search index, the layer choice.

On start-up the current map (mapdata.store.current_map, read off the UI thread) is served to the
page's basemap layer through the scheme handler and its search index opened for the search box and
reverse geocoding; after an import (ui/jobs/map_import.py) `use` switches both to the new version,
moves the simulated units' patrol area there (unless a fleet area is set) and shows the new map.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from ...basemap.source import Basemap, basemap_of, zoom_to_fit
from ...mapdata.manifest import ManifestError
from ...mapdata.store import InstalledMap, current_map
from ...mapgen.page import ORIGIN
from ...services.infra.errors import Level
from ...view.places import Places
from ..main_window import SETTINGS_APP, SETTINGS_ORG
from ..map_view import MapView
from .context import DeskContext

log = logging.getLogger(__name__)

CHOICE_KEY = "map/basemap"


class StreetMapJob(QObject):
    mapChanged = Signal()           # the page and the search index use another map (or none)

    def __init__(self, ctx: DeskContext, places: Places) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self.places = places
        self.installed: InstalledMap | None = None
        self.basemap: Basemap | None = None
        self.loaded = False             # the start-up lookup has answered
        self._centred = False           # the map was centred on the patrol area once

    def attach(self, view: MapView) -> None:
        view.bridge.basemapPicked.connect(self._remember_choice)
        view.scheme.set_basemap(self.basemap)

    async def load(self) -> None:
        """The map in use when the window starts (or none)."""
        data_dir = self._ctx.runtime.settings.data_dir
        try:
            installed = await asyncio.to_thread(current_map, data_dir)
        except (ManifestError, OSError) as exc:
            self._ctx.errors.report("street map", f"The imported street map cannot be read: {exc}", Level.WARNING)
            installed = None
        self.loaded = True
        await self.use(installed, imported=False)

    async def use(self, installed: InstalledMap | None, *, imported: bool) -> None:
        """Draw and search this map from now on; `imported`: it was just imported in this window."""
        ctx = self._ctx
        try:
            basemap = basemap_of(installed) if installed is not None else None
        except ValueError as exc:
            ctx.errors.report("street map", str(exc), Level.WARNING)
            basemap, installed = None, None
        if not await self.places.open(installed):
            ctx.notices.say(f"Street search is unavailable: {self.places.error}", "warning")
        self.installed, self.basemap = installed, basemap
        if imported and basemap is not None:
            self._remember_choice("streets")     # the dispatcher asked for this map: show it
        view = ctx.channel.view
        if view is not None:
            view.scheme.set_basemap(basemap)
        self.send()
        if imported and basemap is not None:
            moved = ctx.runtime.follow_map_area(basemap.bounds)
            if moved:
                ctx.notices.say(f"{moved} simulated units now patrol the imported map's area.")
            self._centre_on(basemap.bounds)
        self.mapChanged.emit()

    def send(self) -> None:
        """The basemap message to the page (after a (re)load of the page, and after every change)."""
        choice = QSettings(SETTINGS_ORG, SETTINGS_APP).value(CHOICE_KEY)
        message: dict[str, Any] = {
            "map": self.basemap.page_message(ORIGIN) if self.basemap is not None else None,
            "choice": choice if isinstance(choice, str) else None,
        }
        self._ctx.channel.basemap(message)
        if not self._centred and self.loaded and self._ctx.channel.is_ready:
            area = self._ctx.runtime.patrol_area
            if area is not None and (self.basemap is not None or self._ctx.runtime.settings.fleet_area):
                self._centre_on((area.south, area.west, area.north, area.east))

    def _centre_on(self, bounds: tuple[float, float, float, float]) -> None:
        ctx = self._ctx
        if not ctx.channel.is_ready:
            return
        view = ctx.channel.view
        size = (view.width(), view.height()) if view is not None and view.width() > 100 else (1000, 700)
        ctx.channel.centre((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, zoom_to_fit(bounds, *size))
        self._centred = True

    def _remember_choice(self, name: str) -> None:
        s = QSettings(SETTINGS_ORG, SETTINGS_APP)
        s.setValue(CHOICE_KEY, name)
        s.sync()
