"""The generated map page: its config block carries the shared values, its script is the page's modules."""

import html
import json
import re
from pathlib import Path

import pytest

from cartrack_desktop.domain.presentation import page_values
from cartrack_desktop.mapgen.page import NO_MAP_HINT, PAGE_MODULE, RESOURCES_DIR, build_map_page

pytestmark = pytest.mark.unit

IMPORT_RE = re.compile(r"""^\s*import\s[^'"]*?from\s+['"]([^'"]+)['"]""", re.M)


def test_the_page_config_block_is_the_one_source_and_the_module_script_follows_it(tmp_path):
    page = build_map_page(tmp_path, tile_url="", tile_attribution="")
    text = page.path.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="cartrack-config">(.*?)</script>', text, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == {"tiles": None, "basemapHint": NO_MAP_HINT, **page_values()}
    # one module script, served by our scheme (the CSP allows the origin, not inline code)
    assert re.findall(r'<script type="module" src="([^"]+)"></script>', text) == [PAGE_MODULE]
    assert text.index('id="cartrack-config"') < text.index(PAGE_MODULE)
    assert "script-src cartrack://app " in html.unescape(text)


def test_online_tiles_are_data_for_the_page_and_the_csp_allows_only_our_scheme_to_be_fetched(tmp_path):
    page = build_map_page(tmp_path, tile_url="https://tile.example.org/{z}/{x}/{y}.png",
                          tile_attribution='<img src=x onerror="alert(1)"> & co')
    text = page.path.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="cartrack-config">(.*?)</script>', text, re.S)
    tiles = json.loads(block.group(1))["tiles"]
    assert tiles["url"] == "https://tile.example.org/{z}/{x}/{y}.png"
    assert tiles["attributionHtml"] == html.escape('<img src=x onerror="alert(1)"> & co')   # Leaflet takes HTML
    csp = dict(part.strip().split(" ", 1) for part in html.unescape(page.csp).split(";"))
    assert csp["connect-src"] == "cartrack://app"          # the street map's archive; nothing else is fetched
    assert csp["img-src"] == "cartrack://app data: https://tile.example.org"
    assert "protomaps-leaflet/protomaps-leaflet.js" in text


def test_every_relative_import_of_the_page_modules_resolves_to_a_file():
    entry = RESOURCES_DIR / PAGE_MODULE
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for spec in IMPORT_RE.findall(module.read_text(encoding="utf-8")):
            assert spec.startswith(("./", "../")) and spec.endswith(".js"), f"{module.name}: {spec}"
            target = (module.parent / spec).resolve()
            assert target.is_file(), f"{module.name} imports {spec}, which does not exist"
            todo.append(target)
    # every module is reachable from the entry point (nothing left behind)
    assert seen == {p.resolve() for p in (RESOURCES_DIR / "map").rglob("*.js")}
