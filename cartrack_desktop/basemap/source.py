"""The imported street map as the page draws it: where the page fetches the archive, and what it is told.

The archive is served under a path naming its version (`/basemap/<version>.pmtiles`), so a page
that still holds the previous map's URL after an import cannot be handed the new file's bytes
(PMTiles readers cache the archive's header and directories).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..mapdata.store import InstalledMap

ARCHIVE_DIR = "/basemap/"
ARCHIVE_SUFFIX = ".pmtiles"
ARCHIVE_MIME = b"application/vnd.pmtiles"
_VERSION_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


@dataclass(frozen=True, slots=True)
class Basemap:
    """One installed map, as served to the page."""

    version: str                  # the map version's directory name
    tiles_file: Path              # basemap.pmtiles of that version
    bounds: tuple[float, float, float, float]   # south, west, north, east of the data
    centre: tuple[float, float]
    max_data_zoom: int            # deepest zoom in the archive; the page over-zooms beyond
    attribution: str              # plain text ("© OpenStreetMap contributors")

    @property
    def url_path(self) -> str:
        return f"{ARCHIVE_DIR}{self.version}{ARCHIVE_SUFFIX}"

    def page_message(self, origin: str) -> dict[str, Any]:
        """What the page's basemap layer needs (sent as JSON data through the bridge)."""
        s, w, n, e = self.bounds
        return {"url": f"{origin}{self.url_path}", "bounds": [[s, w], [n, e]], "centre": list(self.centre),
                "maxDataZoom": self.max_data_zoom, "attribution": self.attribution}


def basemap_of(installed: InstalledMap) -> Basemap:
    """The descriptor of an installed map; ValueError if its version name could not be a URL path."""
    version = installed.directory.name
    if _VERSION_RE.match(version) is None:
        raise ValueError(f"map version {version!r} is not a safe name")
    m = installed.manifest
    return Basemap(version, installed.tiles_path, (m.bbox.south, m.bbox.west, m.bbox.north, m.bbox.east),
                   m.centre, m.zooms[1], m.attribution)


def version_of_path(path: str) -> str | None:
    """The version a request path `/basemap/<version>.pmtiles` names, or None if it is not one."""
    if not (path.startswith(ARCHIVE_DIR) and path.endswith(ARCHIVE_SUFFIX)):
        return None
    version = path[len(ARCHIVE_DIR):-len(ARCHIVE_SUFFIX)]
    return version if _VERSION_RE.match(version) else None


MIN_FIT_ZOOM = 10
MAX_FIT_ZOOM = 16
TILE_PX = 256


def zoom_to_fit(bounds: tuple[float, float, float, float], width_px: int = 1000, height_px: int = 700) -> int:
    """The closest Web Mercator zoom at which `bounds` (S, W, N, E) fits a view of that size (10..16)."""
    s, w, n, e = bounds

    def merc_y(lat: float) -> float:
        lat = max(-85.0, min(85.0, lat))
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) / (2 * math.pi)   # world widths

    span_x = max((e - w) / 360.0, 1e-9)
    span_y = max(merc_y(n) - merc_y(s), 1e-9)
    z = min(math.log2(width_px / TILE_PX / span_x), math.log2(height_px / TILE_PX / span_y))
    return max(MIN_FIT_ZOOM, min(MAX_FIT_ZOOM, math.floor(z)))
