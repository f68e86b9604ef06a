"""The map: a locked-down QWebEngineView showing the generated page through cartrack://app/.

- The page and its assets are served from memory by a scheme handler (only the generated
  page and files under resources/leaflet and resources/map).
- A request interceptor blocks every request except our scheme and the configured tile host.
- Navigation away from the page, new windows, permissions, clipboard, plugins: refused.
- Until the page says it is ready, nothing is sent; the caller keeps state (coalesced), and
  `ready` tells it to push everything.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import logging
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QFile, QIODevice, QObject, QUrl, Signal
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineScript,
    QWebEngineSettings,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)
from PySide6.QtWebEngineWidgets import QWebEngineView

from ..mapgen.page import ORIGIN, PAGE_NAME, RESOURCES_DIR, SCHEME, MapPage
from ..services.infra.timeouts import within
from .bridge import MapBridge, to_json

log = logging.getLogger(__name__)

ASSET_DIRS = ("leaflet", "map")
PAGE_URL = f"{ORIGIN}/{PAGE_NAME}"
_MIME = {".js": b"application/javascript", ".css": b"text/css", ".png": b"image/png", ".svg": b"image/svg+xml",
         ".html": b"text/html; charset=utf-8"}


def register_scheme() -> None:
    """Must run before the QApplication exists."""
    if QWebEngineUrlScheme.schemeByName(SCHEME.encode()).name():
        return
    scheme = QWebEngineUrlScheme(SCHEME.encode())
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    scheme.setFlags(QWebEngineUrlScheme.Flag.SecureScheme | QWebEngineUrlScheme.Flag.CorsEnabled)
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


class AssetSchemeHandler(QWebEngineUrlSchemeHandler):
    def __init__(self, assets: dict[str, tuple[bytes, bytes]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._assets = assets

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:
        url = job.requestUrl()
        item = self._assets.get(url.path()) if url.host() == "app" else None
        if item is None:
            log.warning("map page asked for an unknown resource: %s", url.toString()[:200])
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        buf = QBuffer(job)
        buf.setData(QByteArray(item[0]))
        buf.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(QByteArray(item[1]), buf)


class RequestGuard(QWebEngineUrlRequestInterceptor):
    """Only our scheme and the tile host; everything else is blocked (and logged once per host)."""

    def __init__(self, tile_origin: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tile_origin = tile_origin
        self._logged: set[str] = set()

    def _allowed(self, url: QUrl) -> bool:
        scheme = url.scheme()
        if scheme in (SCHEME, "data", "qrc"):
            return True
        if scheme in ("http", "https") and self._tile_origin:
            origin = f"{scheme}://{url.host()}" + (f":{url.port()}" if url.port() != -1 else "")
            return fnmatch.fnmatchcase(origin, self._tile_origin)
        return False

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
        url = info.requestUrl()
        if self._allowed(url):
            return
        info.block(True)
        key = f"{url.scheme()}://{url.host()}"
        if key not in self._logged:
            self._logged.add(key)
            log.warning("blocked a request from the map page to %s", key[:200])


class LockedPage(QWebEnginePage):
    consoleMessage = Signal(int, str)

    def acceptNavigationRequest(self, url: QUrl | str, nav_type: QWebEnginePage.NavigationType,
                                is_main_frame: bool) -> bool:
        target = QUrl(url) if isinstance(url, str) else url
        if is_main_frame and target.toString() == PAGE_URL:
            return True
        log.warning("refused navigation to %s", target.toString()[:200])
        return False

    def createWindow(self, _type: QWebEnginePage.WebWindowType) -> QWebEnginePage | None:  # type: ignore[override]
        log.warning("refused a new window from the map page")
        return None

    def javaScriptConsoleMessage(self, level: QWebEnginePage.JavaScriptConsoleMessageLevel, message: str,
                                 line: int, source: str) -> None:
        lvl = {0: logging.DEBUG, 1: logging.WARNING, 2: logging.ERROR}.get(int(level.value), logging.INFO)
        log.log(lvl, "page: %s (%s:%d)", message[:500], source[-60:], line)
        self.consoleMessage.emit(int(level.value), message[:500])


_LOCKED_OFF = (
    "JavascriptCanOpenWindows", "JavascriptCanAccessClipboard", "JavascriptCanPaste",
    "LocalContentCanAccessFileUrls", "LocalContentCanAccessRemoteUrls", "LocalStorageEnabled",
    "PluginsEnabled", "FullScreenSupportEnabled", "ScreenCaptureEnabled", "AllowRunningInsecureContent",
    "AllowGeolocationOnInsecureOrigins", "PdfViewerEnabled", "NavigateOnDropEnabled", "DnsPrefetchEnabled",
    "AllowWindowActivationFromJavaScript", "XSSAuditingEnabled", "HyperlinkAuditingEnabled",
    "SpatialNavigationEnabled", "ErrorPageEnabled", "AutoLoadIconsForPage",
)


class MapView(QWebEngineView):
    """The web view, its page, profile and channel. `ready` fires when the page's script is wired."""

    ready = Signal(dict)

    def __init__(self, page_info: MapPage, assets: dict[str, tuple[bytes, bytes]], parent: Any = None) -> None:
        super().__init__(parent)
        # Off the record (nothing written to disk). Not a child of the view: it must outlive the
        # page, so it is deleted when the page is (see shutdown()).
        self.profile = QWebEngineProfile()
        self.profile.setHttpUserAgent(self.profile.httpUserAgent() + " CarTrackDesktop/0.1")
        self.profile.setPersistentCookiesPolicy(QWebEngineProfile.PersistentCookiesPolicy.NoPersistentCookies)
        self._scheme = AssetSchemeHandler(assets, self)
        self.profile.installUrlSchemeHandler(SCHEME.encode(), self._scheme)
        self.guard = RequestGuard(page_info.tile_origin, self)
        self.profile.setUrlRequestInterceptor(self.guard)
        self.profile.scripts().insert(_webchannel_script())
        self.web_page = LockedPage(self.profile, self)
        settings = self.web_page.settings()
        for name in _LOCKED_OFF:
            attr = getattr(QWebEngineSettings.WebAttribute, name, None)
            if attr is not None:
                settings.setAttribute(attr, False)
        self.web_page.permissionRequested.connect(lambda p: p.deny())
        self.setPage(self.web_page)
        self.bridge = MapBridge(self)
        self.channel = QWebChannel(self.web_page)
        self.channel.registerObject("bridge", self.bridge)
        self.web_page.setWebChannel(self.channel)
        self.is_ready = False
        # a (re)load starts a new page: nothing is sent until it says it is ready, then everything
        # is sent again (with a new unit code table, see view/fleet_view.MapWire)
        self.web_page.loadStarted.connect(self._on_load_started)
        self.bridge.ready.connect(self._on_ready)
        self.bridge.stateReported.connect(self._on_state)
        self.bridge.pageErrorRaised.connect(lambda m: log.error("map page error: %s", m))
        self._state_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._req = itertools.count(1)
        self.setContextMenuPolicy(self.contextMenuPolicy().NoContextMenu)

    def load_page(self) -> None:
        self.web_page.load(QUrl(PAGE_URL))

    def _on_load_started(self) -> None:
        self.is_ready = False

    def _on_ready(self, info: dict[str, Any]) -> None:
        self.is_ready = True
        log.info("map page ready (Leaflet %s)", info.get("leaflet", "?"))
        self.ready.emit(info)

    # ---- asking the page ------------------------------------------------------------------
    async def page_state(self, ids: list[str] | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The page's own view of its layers (for tests, diagnostics and benchmarks)."""
        req = str(next(self._req))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._state_waiters[req] = fut
        self.bridge.stateRequested.emit(to_json({"req": req, "ids": ids or []}))
        try:
            return await within(fut, timeout)
        finally:
            self._state_waiters.pop(req, None)

    def _on_state(self, req: str, state: dict[str, Any]) -> None:
        fut = self._state_waiters.get(req)
        if fut is not None and not fut.done():
            fut.set_result(state)

    def shutdown(self) -> None:
        """Delete the page, then its profile (QtWebEngine insists on this order), then the view."""
        self.web_page.setWebChannel(None)  # type: ignore[arg-type]
        self.setPage(None)  # type: ignore[arg-type]
        profile = self.profile
        self.web_page.destroyed.connect(profile.deleteLater)
        self.web_page.deleteLater()
        self.deleteLater()


def _webchannel_script() -> QWebEngineScript:
    f = QFile(":/qtwebchannel/qwebchannel.js")
    if not f.open(QIODevice.OpenModeFlag.ReadOnly):
        raise RuntimeError("qwebchannel.js is missing from the Qt resources")
    source = bytes(f.readAll().data()).decode("utf-8")
    f.close()
    script = QWebEngineScript()
    script.setName("qwebchannel")
    script.setSourceCode(source)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setRunsOnSubFrames(False)
    return script
