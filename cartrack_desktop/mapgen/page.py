"""The base map page: generated with folium, with folium's CDN assets replaced by the vendored ones.

The page is written to a file and served to the web view through the app's own
`cartrack://app/` scheme. A Content-Security-Policy allows only the vendored files, the
exact inline scripts folium generated (by hash) and images from the configured tile host:
even if markup ever reached the DOM, no injected script could run. The page's own script is a
set of ES modules (resources/map/), loaded from one `<script type="module">` through the same
scheme; the values it shares with the Python panels come in the JSON config block.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium

from ..domain.presentation import page_values

RESOURCES_DIR = Path(__file__).resolve().parents[2] / "resources"
SCHEME = "cartrack"
ORIGIN = f"{SCHEME}://app"
PAGE_NAME = "index.html"

LOCAL_JS = [
    ("leaflet", "leaflet/leaflet.js"),
    ("protomaps_leaflet", "protomaps-leaflet/protomaps-leaflet.js"),   # draws the imported street map
]
PAGE_MODULE = "map/main.js"   # the page's own script: ES modules importing each other relatively
LOCAL_CSS = [
    ("leaflet_css", "leaflet/leaflet.css"),
    ("cartrack_map_css", "map/cartrack-map.css"),
]

ATLANTA_CENTER = (33.7490, -84.3880)
START_ZOOM = 12
TILE_MAX_ZOOM = 19
NO_MAP_HINT = "No street map imported: File \u2192 Import map data\u2026 (an OpenStreetMap .osm.pbf extract)"


@dataclass(frozen=True)
class MapPage:
    path: Path
    tile_origin: str | None     # e.g. "https://tile.openstreetmap.org" or "https://*.tile.example.com"
    csp: str


def tile_origin(tile_url: str) -> str | None:
    """Scheme and host(:port) of a tile template; a {s} subdomain becomes a wildcard."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "subdomain-placeholder"))
    host = (parts.hostname or "").replace("subdomain-placeholder", "*")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


_SCRIPT_RE = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
_STYLE_RE = re.compile(r"<style[^>]*>(?P<body>.*?)</style>", re.S | re.I)


def _json_for_html(obj: Any) -> str:
    """JSON that is inert inside an HTML <script type=application/json> block."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _folium_page() -> str:
    """folium's base page (Leaflet map, controls), with the vendored assets instead of its CDN links."""
    m = folium.Map(
        location=list(ATLANTA_CENTER),
        zoom_start=START_ZOOM,
        tiles=None,
        control_scale=True,
        zoom_control=True,
        double_click_zoom=False,   # double-click tracks a unit; the page zooms on empty map itself
        min_zoom=3,
        max_zoom=19,
    )
    m.default_js = list(LOCAL_JS)
    m.default_css = list(LOCAL_CSS)
    return m.get_root().render()


def _content_security_policy(page: str, origin: str | None) -> str:
    """Only the vendored files, the page's own inline blocks (by hash) and the online tile host."""
    script_hashes = sorted({
        _hash(mt.group("body")) for mt in _SCRIPT_RE.finditer(page)
        if "src=" not in mt.group("attrs") and "application/json" not in mt.group("attrs")
    })
    style_hashes = sorted({_hash(mt.group("body")) for mt in _STYLE_RE.finditer(page)})
    return "; ".join([
        "default-src 'none'",
        f"script-src {ORIGIN} {' '.join(script_hashes)}",
        f"style-src {ORIGIN} {' '.join(style_hashes)}",
        f"img-src {ORIGIN} data:" + (f" {origin}" if origin else ""),
        "font-src 'none'",
        f"connect-src {ORIGIN}",      # the street map's archive (fetch with Range), nothing else
        "object-src 'none'",
        "frame-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ])


def _check(page: str) -> None:
    for _, url in LOCAL_JS + LOCAL_CSS:
        if f'"{url}"' not in page:
            raise RuntimeError(f"folium did not reference {url}; its template has changed")
    if not (RESOURCES_DIR / PAGE_MODULE).is_file():
        raise RuntimeError(f"the page's script {PAGE_MODULE} is missing from {RESOURCES_DIR}")
    if re.search(r"https?://(cdn|unpkg|code\.jquery|cdnjs|netdna)", page):
        raise RuntimeError("the map page still references a CDN")


def _module_preloads() -> str:
    """Every module of the page's script, asked for at once: without it the browser finds them one
    import level at a time (a waterfall of requests, each answered on the busy UI thread at start)."""
    modules = sorted(f.relative_to(RESOURCES_DIR).as_posix() for f in (RESOURCES_DIR / "map").rglob("*.js"))
    return "".join(f'<link rel="modulepreload" href="{m}">\n' for m in modules if m != PAGE_MODULE)


def build_map_page(
    out_dir: Path,
    *,
    tile_url: str,
    tile_attribution: str,
) -> MapPage:
    page = _folium_page()
    # Data for the page's own script, as JSON (never as code), then the script itself: a module
    # runs once the document is parsed, so folium's map exists when it starts. The online tile
    # layer is the page's to build (one of the basemap choices); Leaflet renders attributions as
    # HTML, so the configured text is escaped here to stay text.
    tiles = {"url": tile_url, "attributionHtml": html.escape(tile_attribution or " "),
             "maxZoom": TILE_MAX_ZOOM} if tile_url else None
    config = {"tiles": tiles, "basemapHint": NO_MAP_HINT, **page_values()}
    page = page.replace(
        "</head>",
        f'<script type="application/json" id="cartrack-config">{_json_for_html(config)}</script>\n'
        f'{_module_preloads()}<script type="module" src="{PAGE_MODULE}"></script>\n</head>',
        1,
    )
    origin = tile_origin(tile_url)
    csp = _content_security_policy(page, origin)
    page = page.replace(
        "<head>",
        f'<head>\n<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">',
        1,
    )
    _check(page)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PAGE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return MapPage(path=path, tile_origin=origin, csp=csp)
