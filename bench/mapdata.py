"""Street-map import and search on the metro-sized synthetic city (issue 13's performance table).

map_import_s_metro            import of the synthetic city (>= 100,000 ways, >= 500,000 nodes) through ImportJob,
                              i.e. as the window runs it: its own process, tippecanoe beside it; wall time
map_import_peak_rss_mb_metro  peak RSS of that import's whole process tree (worker + tippecanoe), sampled
geocode_p50_ms / _p95_ms      search-box queries on the metro index (as-you-type prefixes, addresses,
                              intersections, typos, places), one Geocoder as the UI would use it
reverse_geocode_p50_ms        nearest address/intersection to random points in the city
roads_load_s_metro            load_road_network() of the metro network (the issue asks well under 2 s)
map_clip_peak_rss_mb_small / _large
                              the same small bbox imported from the city and from a city twice its size:
                              memory follows the bbox, not the file (osmium extract streams)
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from cartrack_desktop.mapdata.geocoder import Geocoder
from cartrack_desktop.mapdata.job import ImportJob
from cartrack_desktop.mapdata.manifest import BBox
from cartrack_desktop.mapdata.roads import load_road_network
from cartrack_desktop.mapdata.store import InstalledMap
from tests.helpers.synthetic_city import PEACHTREE, CityInfo, build_city

from .common import Metric, percentile, rnd, summary

MB = 1024 * 1024
SAMPLE_S = 0.1
IMPORT_TIMEOUT_S = 900.0


class _PeakTree:
    """Peak of the summed RSS of a process and its descendants, sampled every SAMPLE_S."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self.peak_single_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0.0
            for p in procs:
                try:
                    rss = p.memory_info().rss / MB
                except psutil.Error:
                    continue
                total += rss
                self.peak_single_mb = max(self.peak_single_mb, rss)
            self.peak_mb = max(self.peak_mb, total)
            self._stop.wait(SAMPLE_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _import(source: Path, data_dir: Path, bbox: BBox | None = None) -> tuple[InstalledMap, float, _PeakTree]:
    t0 = time.perf_counter()
    job = ImportJob(source, data_dir, bbox, nice=0).start()   # the import's own speed, as the CLI runs it
    assert job.pid is not None
    sampler = _PeakTree(job.pid)
    try:
        installed = job.wait(IMPORT_TIMEOUT_S)
    finally:
        sampler.stop()
    return installed, time.perf_counter() - t0, sampler


def _queries(city: CityInfo) -> list[str]:
    """What a dispatcher types, including every prefix of a few of them (as-you-type)."""
    full = [f"{PEACHTREE} & 10th St NE", "10th St NE at Peachtree St NE", "Peachtree & 10th", "1180 Peachtree St NE",
            f"{(city.cols // 3) * 100 + 4} {city.row_name(40)}", f"{city.col_name(17)}", "Oak Ave NE",
            "Zone 3 Police Precinct", "fire station", "Grady Memorial Hospital", "peachtre st ne", "12th stret ne",
            f"{city.row_name(100)} & {city.col_name(60)}", "Maple", "Elm Way NE", "District 4"]
    typed = [q[:n] for q in ("Peachtree & 10th", "1180 Peachtree St", "Grady Memorial") for n in range(3, len(q) + 1)]
    return full + typed


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    work = Path(params["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    rows, cols = int(params["rows"]), int(params["cols"])
    t0 = time.perf_counter()
    city = build_city(work / "metro.osm.pbf", rows=rows, cols=cols)
    cond = {"city": {"rows": rows, "cols": cols, "ways": city.ways, "nodes": city.nodes,
                     "pbf_bytes": city.path.stat().st_size}, "generate_s": rnd(time.perf_counter() - t0, 1),
            "caveat": "2-core machine shared with other work; timings are noisy"}
    installed, seconds, peak = _import(city.path, work / "data")
    cond_import = {**cond, "stage_s": installed.manifest.source.get("stage_s"), "counts": installed.manifest.counts,
                   "peak_single_process_mb": rnd(peak.peak_single_mb, 1)}
    metrics = [Metric("map_import_s_metro", rnd(seconds, 1), "s", cond_import),
               Metric("map_import_peak_rss_mb_metro", rnd(peak.peak_mb, 1), "MB", cond_import)]
    t1 = time.perf_counter()
    net = load_road_network(installed.roads_path)
    metrics.append(Metric("roads_load_s_metro", rnd(time.perf_counter() - t1, 3), "s",
                          {**cond, "nodes": net.n_nodes, "edges": net.n_edges,
                           "bytes": installed.roads_path.stat().st_size}))
    metrics += _geocode(installed, city, int(params["repeats"]))
    if params.get("clip", True):
        metrics += _clip_memory(work, city)
    else:
        metrics += [Metric.missing(n, "MB", "skipped in --quick") for n in
                    ("map_clip_peak_rss_mb_small", "map_clip_peak_rss_mb_large")]
    return [m.as_dict() for m in metrics]


def _geocode(installed: InstalledMap, city: CityInfo, repeats: int) -> list[Metric]:
    g = Geocoder(installed.search_path)
    queries = _queries(city)
    for q in queries:      # warm the page cache and the vocabulary once
        g.search(q, limit=10)
    times: list[float] = []
    per_query: dict[str, list[float]] = {}
    for _ in range(repeats):
        for q in queries:
            t = time.perf_counter()
            g.search(q, near=city.intersection(city.rows // 2, city.cols // 2), limit=10)
            dt = (time.perf_counter() - t) * 1000.0
            times.append(dt)
            per_query.setdefault(q, []).append(dt)
    rng = random.Random(7)
    south, west = city.intersection(0, 0)
    north, east = city.intersection(city.rows - 1, city.cols - 1)
    rtimes: list[float] = []
    found = 0
    for _ in range(repeats * 20):
        lat, lng = rng.uniform(south, north), rng.uniform(west, east)
        t = time.perf_counter()
        found += g.reverse(lat, lng) is not None
        rtimes.append((time.perf_counter() - t) * 1000.0)
    g.close()
    slowest = sorted(((percentile(v, 50), q) for q, v in per_query.items()), reverse=True)[:5]
    cond = {"queries": len(queries), "repeats": repeats, "all_ms": summary(times),
            "slowest_queries_p50_ms": {q: rnd(v, 2) for v, q in slowest},
            "index_bytes": installed.search_path.stat().st_size}
    return [Metric("geocode_p50_ms", rnd(percentile(times, 50), 2), "ms", cond),
            Metric("geocode_p95_ms", rnd(percentile(times, 95), 2), "ms", cond),
            Metric("reverse_geocode_p50_ms", rnd(percentile(rtimes, 50), 2), "ms",
                   {"points": len(rtimes), "found": found, "all_ms": summary(rtimes)})]


def _clip_memory(work: Path, city: CityInfo) -> list[Metric]:
    """The same bbox (rows 2-14, cols 2-14) from the city and from one twice as large."""
    large = build_city(work / "large.osm.pbf", rows=city.rows * 2, cols=city.cols)
    (s, w), (n, e) = city.intersection(2, 2), city.intersection(14, 14)
    bbox = BBox(s, w, n, e)
    out = []
    for name, src in (("small", city), ("large", large)):
        installed, seconds, peak = _import(src.path, work / f"clip-{name}", bbox)
        out.append(Metric(f"map_clip_peak_rss_mb_{name}", rnd(peak.peak_mb, 1), "MB",
                          {"pbf_bytes": src.path.stat().st_size, "ways_in_file": src.ways, "import_s": rnd(seconds, 1),
                           "bbox": bbox.as_list(), "streets": installed.manifest.counts["streets"],
                           "stage_s": installed.manifest.source.get("stage_s")}))
    return out
