"""Helpers for the street-map tests: run a real import (child process) and wait for its outcome."""

from __future__ import annotations

import os
from pathlib import Path

from cartrack_desktop.mapdata.job import ImportJob
from cartrack_desktop.mapdata.manifest import BBox
from cartrack_desktop.mapdata.store import InstalledMap, mapdata_dir

IMPORT_TIMEOUT_S = 240.0


def import_map(source: Path, data_dir: Path, bbox: BBox | None = None) -> InstalledMap:
    """Import through ImportJob (its own process, as the window does); raises MapImportError on failure."""
    return ImportJob(source, data_dir, bbox).start().wait(IMPORT_TIMEOUT_S)


def leftovers(data_dir: Path) -> list[str]:
    """Build directories or extra versions an import left behind (there should be none)."""
    root = mapdata_dir(data_dir)
    if not root.is_dir():
        return []
    versions = root / "versions"
    extra = [p.name for p in root.iterdir() if p.name.startswith("build-")]
    if versions.is_dir():
        current = os.path.realpath(root / "current") if (root / "current").exists() else ""
        extra += [p.name for p in versions.iterdir() if str(p.resolve()) != current]
    return extra
