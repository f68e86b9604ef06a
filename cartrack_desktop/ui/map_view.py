"""The map: a locked-down QWebEngineView showing the generated page through cartrack://app/.

- The page, its assets and the street map's archive are served by our scheme handler (ui/scheme.py).
- A request interceptor blocks every request except our scheme and the configured tile host, and
  identifies the app to the tile host (its usage policy: basemap/online.py).
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

from PySide6.QtCore import QFile, QIODevice, QObject, QUrl, Signal
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineScript,
    QWebEngineSettings,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)
from PySide6.QtWebEngineWidgets import QWebEngineView

from ..basemap.online import tile_user_agent
from ..mapgen.page import ORIGIN, PAGE_NAME, SCHEME, MapPage
from ..services.infra.timeouts import within
from .bridge import MapBridge, to_json
from .scheme import AssetSchemeHandler, load_assets, register_scheme

__all__ = ["AssetSchemeHandler", "MapView", "RequestGuard", "load_assets", "register_scheme"]

log = logging.getLogger(__name__)

PAGE_URL = f"{ORIGIN}/{PAGE_NAME}"


class RequestGuard(QWebEngineUrlRequestInterceptor):
    """Only our scheme and the tile host; everything else is blocked (and logged once per host).

    Requests to the tile host carry a User-Agent naming the app (and the configured contact), as
    OpenStreetMap's tile usage policy asks, instead of the browser engine's default one.
    """

    def __init__(self, tile_origin: str | None, parent: QObject | None = None, *, tile_contact: str = "") -> None:
        super().__init__(parent)
        self._tile_origin = tile_origin
        self._user_agent = tile_user_agent(tile_contact).encode()
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
            if url.scheme() in ("http", "https"):
                info.setHttpHeader(b"User-Agent", self._user_agent)
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

    def __init__(self, page_info: MapPage, assets: dict[str, tuple[bytes, bytes]], parent: Any = None, *,
                 tile_contact: str = "") -> None:
        super().__init__(parent)
        # Off the record (nothing written to disk). Not a child of the view: it must outlive the
        # page, so it is deleted when the page is (see shutdown()).
        self.profile = QWebEngineProfile()
        self.profile.setHttpUserAgent(self.profile.httpUserAgent() + " CarTrackDesktop/0.1")
        self.profile.setPersistentCookiesPolicy(QWebEngineProfile.PersistentCookiesPolicy.NoPersistentCookies)
        self.scheme = AssetSchemeHandler(assets, self)
        self.profile.installUrlSchemeHandler(SCHEME.encode(), self.scheme)
        self.guard = RequestGuard(page_info.tile_origin, self, tile_contact=tile_contact)
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
    async def page_state(self, ids: list[str] | None = None, timeout: float = 5.0,
                         probe: list[tuple[int, int, int]] | None = None) -> dict[str, Any]:
        """The page's own view of its layers (for tests, diagnostics and benchmarks). `probe`: basemap
        tiles (z, x, y) to render one by one first; the answer's "probe" holds the ms each took."""
        req = str(next(self._req))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._state_waiters[req] = fut
        ask: dict[str, Any] = {"req": req, "ids": ids or []}
        if probe is not None:
            ask["probe"] = [list(t) for t in probe]
        self.bridge.stateRequested.emit(to_json(ask))
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
