"""The street map the benchmarks draw under the fleet: the synthetic metro city, imported once per run.

The city (tests/helpers/synthetic_city.py) starts at 33.70, -84.45 and, at 224 x 224 streets 110 m
apart, covers ~25 x 25 km of the bench fleet's Atlanta box: at the app's zoom 12 on 1280x800 it fills
most of the view with streets, every tile a dense grid. It is built and imported (as the window does,
through ImportJob) into the run's scratch directory the first time a group needs it; each app run
gets a copy of the imported map in its own data directory.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from cartrack_desktop.mapdata.store import current_map, mapdata_dir

ROWS_FULL = 224            # the metro city of the mapdata bench
ROWS_QUICK = 100
IMPORT_TIMEOUT_S = 900.0
PROBE_ZOOMS = (13, 14, 15, 16)
PROBE_SPAN = 3             # a 3x3 block of tiles per zoom around the city's centre


def ensure(root: Path, quick: bool) -> tuple[Path, dict[str, Any]]:
    """A data directory holding the imported city (built and imported on first use in this run)."""
    rows = ROWS_QUICK if quick else ROWS_FULL
    data = root / f"basemap-city-{rows}"
    info_path = data / "bench-city.json"
    if current_map(data) is not None and info_path.is_file():
        return data, json.loads(info_path.read_text())
    # here, not at the top: the app processes that import this module for pan_offset must not load pyosmium
    from cartrack_desktop.mapdata.job import ImportJob
    from tests.helpers.synthetic_city import build_city

    t0 = time.perf_counter()
    city = build_city(root / f"city-{rows}.osm.pbf", rows=rows, cols=rows)
    t1 = time.perf_counter()
    installed = ImportJob(city.path, data, nice=0).start().wait(IMPORT_TIMEOUT_S)
    m = installed.manifest
    info = {"rows": rows, "cols": rows, "ways": city.ways, "nodes": city.nodes, "bbox": m.bbox.as_list(),
            "centre": list(m.centre), "tiles": m.counts.get("tiles"), "tile_bytes": m.counts.get("tile_bytes"),
            "build_s": round(t1 - t0, 1), "import_s": round(time.perf_counter() - t1, 1)}
    info_path.write_text(json.dumps(info))
    return data, info


def install_into(source_data_dir: Path, data_dir: Path) -> None:
    """Give an app's data directory a copy of the imported map (the link and its version)."""
    target = mapdata_dir(data_dir)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(mapdata_dir(source_data_dir), target, symlinks=True)


def tile_of(lat: float, lng: float, z: int) -> tuple[int, int]:
    """Web Mercator tile (x, y) of a point at zoom z (256 px tiles, as Leaflet numbers them)."""
    n = 1 << z
    x = int((lng + 180.0) / 360.0 * n)
    r = math.radians(lat)
    y = int((1.0 - math.log(math.tan(r) + 1.0 / math.cos(r)) / math.pi) / 2.0 * n)
    return x, y


def probe_tiles(lat: float, lng: float) -> list[tuple[int, int, int]]:
    """The tiles `basemap_tile_ms_*` renders: a PROBE_SPAN square around (lat, lng) at zooms 13-16."""
    out = []
    half = PROBE_SPAN // 2
    for z in PROBE_ZOOMS:
        cx, cy = tile_of(lat, lng, z)
        out += [(z, cx + dx, cy + dy) for dy in range(-half, half + 1) for dx in range(-half, half + 1)]
    return out


PAN_LAT_DEG, PAN_LNG_DEG = 0.04, 0.08    # the view wanders this far around the centre: units stay in view


def pan_offset(k: int) -> tuple[float, float]:
    """The k-th pan: a path that does not repeat, a quarter to a half of a tile row or more per step at
    zoom 12, so new tiles come into view every time (Leaflet drops those that left, protomaps-leaflet
    renders the new ones)."""
    return PAN_LAT_DEG * math.sin(k * 0.9), PAN_LNG_DEG * math.cos(k * 1.3)
