"""The generated map page: its config block carries the shared values, its script is the page's modules."""

import html
import json
import re
from pathlib import Path

import pytest

from cartrack_desktop.domain.presentation import page_values
from cartrack_desktop.mapgen.page import PAGE_MODULE, RESOURCES_DIR, build_map_page

pytestmark = pytest.mark.unit

IMPORT_RE = re.compile(r"""^\s*import\s[^'"]*?from\s+['"]([^'"]+)['"]""", re.M)


def test_the_page_config_block_is_the_one_source_and_the_module_script_follows_it(tmp_path):
    page = build_map_page(tmp_path, tile_url="", tile_attribution="")
    text = page.path.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="cartrack-config">(.*?)</script>', text, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == {"tiles": False, **page_values()}
    # one module script, served by our scheme (the CSP allows the origin, not inline code)
    assert re.findall(r'<script type="module" src="([^"]+)"></script>', text) == [PAGE_MODULE]
    assert text.index('id="cartrack-config"') < text.index(PAGE_MODULE)
    assert "script-src cartrack://app " in html.unescape(text)


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
