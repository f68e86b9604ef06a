"""The import, stage by stage: check, clip, read, tiles | search index | road network, finish, swap in.

Runs in the import's own process (worker.py); everything is built in a fresh build directory and only
a complete, checked build replaces the current map (store.install). Tiling runs in tippecanoe's process
while this one builds the search index and the road network: the two cores work at the same time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import store
from .labels import LABEL_LAYER, write_label_lines
from .manifest import ROADS_NAME, SCHEMA_VERSION, SEARCH_NAME, TILES_NAME, BBox, Manifest
from .progress import STAGES, MapImportError, Progress
from .reader import Collected, OsmReader
from .roads import build_road_network
from .schema import MAX_ZOOM, MIN_ZOOM
from .search_index import build_search_index
from .tiles import TilerError, build_tiles, tile_stats, tiler_version

log = logging.getLogger(__name__)

_STAGE_START = {name: sum(w for _n, w in STAGES[:i]) for i, (name, _w) in enumerate(STAGES)}
_STAGE_WEIGHT = dict(STAGES)
PBF_MAGIC = b"OSMHeader"
OSMIUM_TIMEOUT_S = 6 * 3600.0
IO_POLL_S = 0.25


Reporter = Callable[[Progress], None]


class _Stages:
    def __init__(self, report: Reporter) -> None:
        self.report = report
        self._last = (0.0, "")
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def durations_s(self) -> dict[str, float]:
        """Wall time per stage (search index and road network run while tippecanoe tiles)."""
        return {k: round(self.ended.get(k, time.monotonic()) - t0, 2) for k, t0 in self.started.items()}

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        self.started.setdefault(stage, now)
        if fraction >= 1.0:
            self.ended[stage] = now
        fraction = min(max(fraction, 0.0), 1.0)
        overall = _STAGE_START[stage] + _STAGE_WEIGHT[stage] * fraction
        if overall - self._last[0] < 0.005 and stage == self._last[1] and not message and fraction < 1.0:
            return    # no flood of tiny steps
        self._last = (overall, stage)
        self.report(Progress(stage, round(fraction, 4), round(overall, 4), message))


def check_source(source: Path) -> None:
    """A readable, non-empty file that starts like an OSM PBF (first blob header says OSMHeader)."""
    if not source.is_file():
        raise MapImportError(f"{source}: no such file")
    if not os.access(source, os.R_OK):
        raise MapImportError(f"{source}: not readable")
    try:
        with open(source, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise MapImportError(f"{source}: cannot read ({exc.strerror})") from None
    if len(head) < 16 or PBF_MAGIC not in head[:32]:
        raise MapImportError(f"{source}: not an OpenStreetMap PBF file (.osm.pbf); export or download one "
                             "(e.g. an extract of your region) and import that")


def _read_bytes() -> int | None:
    """Bytes this process (or a child, by pid) has read so far, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _proc_read_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# Our tools (osmium, tippecanoe) start through this: the kernel SIGKILLs them if the import process dies
# (PR_SET_PDEATHSIG, Linux), then it execs the tool. A preexec_fn would do the same but is unsafe in a
# process with threads (the tiler's reader thread runs while we start tools).
_EXEC_WITH_PDEATHSIG = (
    "import ctypes,os,signal,sys\n"
    "try:\n"
    " ctypes.CDLL(None,use_errno=True).prctl(1,signal.SIGKILL)\n"
    "except Exception:\n"
    " pass\n"
    "if os.getppid()!=int(sys.argv[1]):\n"
    " sys.exit(3)\n"
    "os.execv(sys.argv[2],sys.argv[2:])\n"
)


def tool_command(cmd: list[str]) -> list[str]:
    """cmd, started so that it dies with this process (on Linux)."""
    if not sys.platform.startswith("linux"):
        return cmd
    return [sys.executable, "-c", _EXEC_WITH_PDEATHSIG, str(os.getpid()), *cmd]


def pdeathsig() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; the import worker calls it)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def clip(source: Path, bbox: BBox, out: Path, stage: Callable[[float], None]) -> None:
    """osmium extract --strategy complete_ways: streams the file, memory bounded by the ids inside the bbox."""
    exe = shutil.which("osmium")
    if exe is None:
        raise MapImportError("clipping to a bbox needs osmium-tool (Debian/Ubuntu: apt-get install osmium-tool)")
    cmd = [exe, "extract", "--bbox", bbox.osmium_arg(), "--strategy", "complete_ways", "--set-bounds",
           "--overwrite", "--no-progress", "-f", "pbf", "-o", str(out), str(source)]
    size = max(source.stat().st_size, 1)
    proc = subprocess.Popen(tool_command(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read() if proc.stderr else b""), daemon=True)
    reader.start()
    deadline = time.monotonic() + OSMIUM_TIMEOUT_S
    while proc.poll() is None:
        done = _proc_read_bytes(proc.pid)
        if done is not None:
            stage(done / size * 0.95)     # osmium reads the file once per strategy pass; close enough
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(IO_POLL_S)
        if time.monotonic() > deadline:
            proc.kill()
    reader.join(5.0)
    if proc.returncode != 0:
        detail = b"".join(errors).decode("utf-8", errors="replace").strip().splitlines()
        raise MapImportError(f"{source.name}: could not be read ({_osmium_message(detail)})")
    stage(1.0)


def _osmium_message(lines: list[str]) -> str:
    text = " ".join(line.strip() for line in lines[-3:])[:300]
    low = text.lower()
    if "truncated" in low or "eof" in low or "premature" in low:
        return "the file is truncated: download it again"
    return text or "osmium failed"


def read_osm(path: Path, features: Path, stage: Callable[[float], None]) -> Collected:
    """The one pyosmium pass (areas make libosmium read the file twice: relations first)."""
    size = max(path.stat().st_size, 1)
    base = _read_bytes()

    def tick(_objects: int) -> None:
        now = _read_bytes()
        if now is not None and base is not None:
            stage((now - base) / (2.0 * size))

    try:
        with open(features, "wb") as out:
            collected = OsmReader(out, tick).read(path)
    except RuntimeError as exc:   # libosmium's parse errors (osmium.io errors are RuntimeErrors)
        msg = str(exc)
        if "truncat" in msg.lower() or "eof" in msg.lower() or "premature" in msg.lower():
            raise MapImportError(f"{path.name}: the file is truncated: download it again") from None
        raise MapImportError(f"{path.name}: not a valid OpenStreetMap PBF file ({msg[:200]})") from None
    stage(1.0)
    return collected


def _extent(c: Collected, bbox: BBox | None) -> BBox:
    s, w, n, e = c.bounds
    if bbox is not None:
        s, w, n, e = max(s, bbox.south), max(w, bbox.west), min(n, bbox.north), min(e, bbox.east)
    if not (s < n and w < e):
        raise MapImportError("nothing to import inside the bbox" if bbox is not None else "the file has no map data")
    return BBox(s, w, n, e)


def run_import(source: Path, data_dir: Path, bbox: BBox | None, report: Reporter,
               on_build_dir: Callable[[Path], None] | None = None) -> store.InstalledMap:
    """Import source into data_dir (clipped to bbox if given) and make it the current map."""
    stages = _Stages(report)
    stages("checking", 0.0)
    check_source(source)
    with store.ImportLock(data_dir):
        store.remove_stale_builds(data_dir)
        build = store.new_build_dir(data_dir)
        if on_build_dir is not None:
            on_build_dir(build)
        try:
            installed = _build(source, data_dir, bbox, build, stages)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    return installed


def _build(source: Path, data_dir: Path, bbox: BBox | None, build: Path, stages: _Stages) -> store.InstalledMap:
    started = time.monotonic()
    stages("checking", 1.0)
    path = source
    if bbox is not None:
        path = build / "clipped.osm.pbf"
        stages("clipping", 0.0)
        clip(source, bbox, path, lambda f: stages("clipping", f))
    features = build / "features.geojsonseq"
    stages("reading", 0.0)
    collected = read_osm(path, features, lambda f: stages("reading", f))
    if sum(collected.layer_counts.values()) == 0:
        raise MapImportError("nothing to import inside the bbox" if bbox else "the file has no map data")
    if not collected.road_ways:
        raise MapImportError("no roads in this area: choose a bbox (or an extract) that covers streets")
    with open(features, "ab") as out:         # street names along whole streets, not per OSM way
        collected.layer_counts[LABEL_LAYER] = write_label_lines(out, collected.named_ways)
    extent = _extent(collected, bbox)
    tiler = _Tiler(features, build / TILES_NAME, build / "tiles-tmp")
    stages("search index", 0.0)
    counts = build_search_index(collected, build / SEARCH_NAME, lambda f: stages("search index", f))
    stages("road network", 0.0)
    counts.update(build_road_network(collected.road_ways, collected.restrictions, build / ROADS_NAME,
                                     lambda f: stages("road network", f)))
    tiler.wait(lambda f: stages("tiles", f))
    stages("finishing", 0.0)
    stats = tile_stats(build / TILES_NAME)
    counts.update({"tiles": stats.tiles, "tile_bytes": stats.bytes, "osm_objects": collected.objects,
                   "skipped_geometries": collected.invalid_geometries})
    counts.update({f"features_{k}": v for k, v in sorted(collected.layer_counts.items())})
    for tmp in (features, build / "clipped.osm.pbf", build / "tiles-tmp"):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    manifest = Manifest(
        schema_version=SCHEMA_VERSION, created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source={"name": source.name, "path": str(source.resolve()), "size_bytes": source.stat().st_size,
                "clip_bbox": bbox.as_list() if bbox else None, "import_s": round(time.monotonic() - started, 1),
                "stage_s": {**stages.durations_s(), "tippecanoe": tiler.seconds}},
        bbox=extent, centre=extent.centre, counts=counts, zooms=(MIN_ZOOM, MAX_ZOOM), tiler=tiler.version)
    (build / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    installed = store.install(data_dir, build)
    stages("finishing", 1.0)
    return installed


class _Tiler:
    """tippecanoe started now, in its own process; wait() reports its progress until it is done."""

    def __init__(self, features: Path, out: Path, tmp: Path) -> None:
        tmp.mkdir(exist_ok=True)
        self.version = tiler_version()
        self.fraction = 0.0
        self.seconds = 0.0            # tippecanoe's own wall time
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(features, out, tmp), name="tiler", daemon=True)
        self._thread.start()

    def _run(self, features: Path, out: Path, tmp: Path) -> None:
        t0 = time.monotonic()
        try:
            build_tiles(features, out, tmp, self._progress, wrap=tool_command)
            self.seconds = round(time.monotonic() - t0, 2)
        except Exception as exc:  # noqa: BLE001 (handed to wait(), which re-raises it on the import's thread)
            self.error = exc

    def _progress(self, fraction: float) -> None:
        self.fraction = fraction

    def wait(self, stage: Callable[[float], None]) -> None:
        while self._thread.is_alive():
            stage(self.fraction)
            self._thread.join(IO_POLL_S)
        if isinstance(self.error, TilerError):
            raise MapImportError(str(self.error)) from None
        if self.error is not None:
            raise self.error
        stage(1.0)
