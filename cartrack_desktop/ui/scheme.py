"""The app's own `cartrack://app/` scheme: the map page, its vendored assets, and the street map's archive.

- The page and its assets are served from memory (read once, off the UI thread, by `load_assets`):
  only the generated page and files under resources/leaflet, resources/protomaps-leaflet and
  resources/map.
- The imported street map's PMTiles archive (`/basemap/<version>.pmtiles`) is served from its file by
  byte ranges. The handler runs on the UI thread but never reads the file: it opens it, positions it
  at the range's first byte and hands the QFile to QtWebEngine, which reads the range on its own IO
  thread and answers 206 with Content-Range. What Qt would get wrong is decided here first
  (basemap/ranges.py): a suffix range is positioned by us (Qt reads it from byte 0), and an
  unsatisfiable, multiple or malformed range gets no body and `Content-Range: bytes */SIZE` (given a
  file, Qt 6.11 crashes the browser process on such a range; a failed job leaves the fetch pending).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QFile, QIODevice, QObject
from PySide6.QtWebEngineCore import QWebEngineUrlRequestJob, QWebEngineUrlScheme, QWebEngineUrlSchemeHandler

from ..basemap.ranges import Part, Refuse, Whole, plan_range
from ..basemap.source import ARCHIVE_MIME, Basemap, version_of_path
from ..mapgen.page import PAGE_NAME, RESOURCES_DIR, SCHEME, MapPage

log = logging.getLogger(__name__)

ASSET_DIRS = ("leaflet", "protomaps-leaflet", "map")
APP_HOST = "app"
_MIME = {".js": b"application/javascript", ".css": b"text/css", ".png": b"image/png", ".svg": b"image/svg+xml",
         ".html": b"text/html; charset=utf-8"}


def register_scheme() -> None:
    """Must run before the QApplication exists."""
    if QWebEngineUrlScheme.schemeByName(SCHEME.encode()).name():
        return
    scheme = QWebEngineUrlScheme(SCHEME.encode())
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    flags = QWebEngineUrlScheme.Flag
    # FetchApiAllowed: the street map's reader fetches byte ranges of its archive from this scheme
    scheme.setFlags(flags.SecureScheme | flags.CorsEnabled | flags.FetchApiAllowed)
    QWebEngineUrlScheme.registerScheme(scheme)


def load_assets(page: MapPage) -> dict[str, tuple[bytes, bytes]]:
    """Everything the page may load, read once (call off the UI thread)."""
    assets: dict[str, tuple[bytes, bytes]] = {f"/{PAGE_NAME}": (page.path.read_bytes(), _MIME[".html"])}
    for sub in ASSET_DIRS:
        base = (RESOURCES_DIR / sub).resolve()
        for f in base.rglob("*"):
            rf = f.resolve()
            if not rf.is_file() or base not in rf.parents or rf.suffix not in _MIME:
                continue
            assets["/" + rf.relative_to(RESOURCES_DIR.resolve()).as_posix()] = (rf.read_bytes(), _MIME[rf.suffix])
    return assets


@dataclass
class ArchiveStats:
    """What the archive's requests were answered with (the Stats tab, tests, `make bench`)."""

    whole: int = 0
    ranges: int = 0
    refused: int = 0
    bytes_served: int = 0


def _request_header(job: QWebEngineUrlRequestJob, name: bytes) -> str | None:
    for key, value in job.requestHeaders().items():
        if bytes(key.data()).lower() == name:
            return bytes(value.data()).decode("latin-1")
    return None


def _empty(job: QWebEngineUrlRequestJob, mime: bytes, headers: dict[bytes, bytes] | None = None) -> None:
    """An answer without a body: the only prompt refusal QtWebEngine's scheme API allows (see above)."""
    if headers:   # each value a list: PySide6 builds the QMultiMap from it (a bare QByteArray is split per byte)
        multi: Any = {QByteArray(k): [QByteArray(v)] for k, v in headers.items()}
        job.setAdditionalResponseHeaders(multi)
    buf = QBuffer(job)
    buf.open(QIODevice.OpenModeFlag.ReadOnly)
    job.reply(QByteArray(mime), buf)


class AssetSchemeHandler(QWebEngineUrlSchemeHandler):
    def __init__(self, assets: dict[str, tuple[bytes, bytes]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._assets = assets
        self._basemap: Basemap | None = None
        self.archive_stats = ArchiveStats()

    def set_basemap(self, basemap: Basemap | None) -> None:
        """The archive to serve from now on (None: no street map)."""
        self._basemap = basemap

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:
        url = job.requestUrl()
        path = url.path()
        if url.host() == APP_HOST and (version := version_of_path(path)) is not None:
            self._serve_archive(job, version)
            return
        item = self._assets.get(path) if url.host() == APP_HOST else None
        if item is None:
            log.warning("map page asked for an unknown resource: %s", url.toString()[:200])
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        buf = QBuffer(job)
        buf.setData(QByteArray(item[0]))
        buf.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(QByteArray(item[1]), buf)

    def _serve_archive(self, job: QWebEngineUrlRequestJob, version: str) -> None:
        basemap = self._basemap
        f = QFile(str(basemap.tiles_file), job) if basemap is not None and basemap.version == version else None
        if f is None or not f.open(QIODevice.OpenModeFlag.ReadOnly):
            # an archive replaced by a newer import (the page is told the new one), or unreadable
            log.info("map page asked for a street map that is not current: %s", version)
            self.archive_stats.refused += 1
            _empty(job, ARCHIVE_MIME)
            return
        plan = plan_range(_request_header(job, b"range"), f.size())
        if isinstance(plan, Refuse):
            f.close()
            self.archive_stats.refused += 1
            log.warning("refused a range of the street map archive (%s)", plan.reason)
            _empty(job, ARCHIVE_MIME, {b"Content-Range": plan.content_range.encode()})
            return
        if isinstance(plan, Part):
            f.seek(plan.first)     # Qt seeks to the first byte itself, except for suffix ranges
            self.archive_stats.ranges += 1
            self.archive_stats.bytes_served += plan.length
        elif isinstance(plan, Whole):
            self.archive_stats.whole += 1
            self.archive_stats.bytes_served += f.size()
        job.reply(QByteArray(ARCHIVE_MIME), f)
