"""rss_mb_*: memory of the app's process tree, sampled from the parent so sampling costs the app nothing.

The tree is the worker (Python + Qt + Chromium browser side) and its QtWebEngineProcess
children (renderer, GPU/viz, utility); the Redis publisher process and the servers are
excluded. RSS double-counts pages shared between those processes (Qt/Chromium libraries),
so PSS (proportional share) and USS (private) are recorded too.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from .common import Metric, median, rnd

MB = 1024 * 1024


def evict_from_page_cache(root: Path) -> dict[str, Any]:
    """Drop the page cache's copy of every file under root (posix_fadvise DONTNEED; no root needed).

    Summed RSS counts each process's mapped pages of the shared Qt/Chromium libraries. How many pages a
    process maps depends on how the file is held in the page cache: right after pip wrote it (`make
    bench` straight after `make test`'s install), the kernel holds it in large folios and maps them whole,
    and the same window's tree measured 924 MB summed RSS instead of 661 MB (PSS 564 / 474 MB, unique
    memory 377 / 378 MB: no more memory used, only counted more often). Evicting the files first makes
    the app read them from disk as after a reboot, so the figure does not depend on when pip last ran.
    """
    files = size = 0
    for f in root.rglob("*"):
        if f.is_symlink() or not f.is_file():
            continue
        try:
            fd = os.open(f, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            files += 1
            size += os.fstat(fd).st_size
        finally:
            os.close(fd)
    return {"evicted_from_page_cache": str(root), "files": files, "mb": rnd(size / MB, 1)}


@dataclass
class Sample:
    t: float
    procs: list[dict[str, Any]] = field(default_factory=list)
    ext_cpu: dict[str, float] = field(default_factory=dict)   # label -> cumulative CPU s of a server

    def total(self, key: str) -> float:
        return sum(p.get(key) or 0.0 for p in self.procs)


class TreeSampler:
    """Samples one process tree every `interval_s` on a background thread."""

    def __init__(self, pid: int, *, interval_s: float = 1.0, exclude: tuple[str, ...] = ("bench.publisher",),
                 external: dict[str, int] | None = None) -> None:
        self.pid = pid
        self.external = external or {}   # servers outside the tree whose CPU we also want (label -> pid)
        self.interval_s = interval_s
        self.exclude = exclude
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-mem", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.pid)
        out = [root]
        for c in root.children(recursive=True):
            try:
                cmd = " ".join(c.cmdline())
            except psutil.Error:
                continue
            if not any(x in cmd for x in self.exclude):
                out.append(c)
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = self._tree()
            except psutil.Error:
                return
            s = Sample(time.time())
            for p in procs:
                try:
                    with p.oneshot():
                        info: dict[str, Any] = {"pid": p.pid, "name": "app" if p.pid == self.pid else p.name()}
                        try:
                            full = p.memory_full_info()
                            info.update(rss=full.rss / MB, pss=getattr(full, "pss", 0) / MB,
                                        uss=getattr(full, "uss", 0) / MB)
                        except psutil.AccessDenied:
                            info.update(rss=p.memory_info().rss / MB)
                        ct = p.cpu_times()
                        info["cpu"] = ct.user + ct.system
                        cmd = p.cmdline()
                        kind = next((a.split("=", 1)[1] for a in cmd if a.startswith("--type=")), "")
                        info["type"] = f"{info['name']}:{kind}" if kind else info["name"]
                    s.procs.append(info)
                except psutil.Error:
                    continue
            for label, pid in self.external.items():
                try:
                    ct = psutil.Process(pid).cpu_times()
                    s.ext_cpu[label] = ct.user + ct.system
                except psutil.Error:
                    continue
            self.samples.append(s)
            self._stop.wait(self.interval_s)


def rss_metrics(samples: list[Sample], window: tuple[float, float], units: int,
                suffix: str = "", page_cache: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    inside = [s for s in samples if window[0] <= s.t <= window[1]]
    label = ("10k" if units == 10_000 else str(units)) + suffix
    if not inside:
        return [Metric.missing(f"rss_mb_{label}", "MB", "no memory sample inside the streaming window").as_dict()]
    peak = max(inside, key=lambda s: s.total("rss"))
    cond = {
        "units": units, "rate_hz": 1, "statistic": "peak of the tree's summed RSS over the streaming window",
        "samples": len(inside), "rss_median_mb": rnd(median([s.total("rss") for s in inside]), 1),
        "pss_peak_mb": rnd(max(s.total("pss") for s in inside), 1),
        "uss_peak_mb": rnd(max(s.total("uss") for s in inside), 1),
        "tree": "app process (Python+Qt+Chromium browser) + QtWebEngineProcess children; "
                "publisher, redis-server, secantusd-py excluded",
        "processes_at_peak": [{"process": p["type"], "rss_mb": rnd(p.get("rss"), 1), "pss_mb": rnd(p.get("pss"), 1),
                               "uss_mb": rnd(p.get("uss"), 1)} for p in peak.procs],
        "cpu_per_wall_s": cpu_rates(samples, window),
        "page_cache_before_start": page_cache,
    }
    pss_cond = {k: v for k, v in cond.items() if k != "processes_at_peak"}
    pss_cond["statistic"] = "peak of the tree's summed PSS (shared pages split between processes)"
    return [
        Metric(f"rss_mb_{label}", rnd(peak.total("rss"), 1), "MB", cond).as_dict(),
        Metric(f"pss_mb_{label}", rnd(max(s.total("pss") for s in inside), 1), "MB", pss_cond).as_dict(),
    ]


def cpu_rates(samples: list[Sample], window: tuple[float, float]) -> dict[str, float | None]:
    """CPU seconds per wall second of each process over the window: where the CPU goes.

    Keys: app (Python + Qt + Chromium browser side), QtWebEngineProcess:<type>:<pid> children,
    and the servers (redis, secantusd) sampled alongside.
    """
    inside = [s for s in samples if window[0] <= s.t <= window[1]]
    if len(inside) < 2:
        return {}
    first, last = inside[0], inside[-1]
    wall = last.t - first.t
    if wall <= 0:
        return {}
    before = {p["pid"]: p for p in first.procs}
    out: dict[str, float | None] = {}
    for p in last.procs:
        b = before.get(p["pid"])
        if b is not None:
            key = "app" if p["name"] == "app" else f"{p['type']}:{p['pid']}"
            out[key] = rnd((p["cpu"] - b["cpu"]) / wall, 3)
    for label, cpu in last.ext_cpu.items():
        if label in first.ext_cpu:
            out[label] = rnd((cpu - first.ext_cpu[label]) / wall, 3)
    return out
