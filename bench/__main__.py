"""`python -m bench [--only name1,name2] [--quick]`: run the benchmarks, print the table, write results.

Each group gets fresh private servers and (except startup) its own worker process; a group
that fails or times out yields null metrics with the reason, never made-up numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import basemap_data, memory, report, startup
from .common import BENCH_DIR, REPO, Metric, machine_info
from .servers import Servers, VirtualDisplay, private_servers, scratch_dir


@dataclass(frozen=True)
class Group:
    name: str
    metrics: tuple[tuple[str, str], ...]          # (metric name, unit) it produces
    needs_display: bool = False
    mongo: int = 0
    timeout_s: float = 180.0
    params: Callable[[bool], dict[str, Any]] = field(default=lambda quick: {})
    basemap: bool = False                          # draws the imported street map (bench/basemap_data.py)


GROUPS: list[Group] = [
    Group("nearby", (("nearby_p50_ms_10k", "ms"), ("nearby_p95_ms_10k", "ms"), ("nearby_seed_p50_ms_10k", "ms"),
                     ("nearby_speedup_10k", "x"), ("nearby_seed_batched_p50_ms_10k", "ms"),
                     ("nearby_speedup_batched_10k", "x")),
          params=lambda q: {"units": 10_000, "queries": 100 if q else 500, "seed_queries": 3 if q else 10,
                            "batched_queries": 5 if q else 30}),
    Group("sim", (("sim_tick_cpu_10k", "cpu_s/s"), ("sim_tick_redis_cpu_10k", "cpu_s/s")),
          params=lambda q: {"units": 10_000, "seconds": 5 if q else 20, "warmup": 2 if q else 3}),
    Group("page", (("map_apply_ms_10k", "ms"), ("map_apply_naive_ms_10k", "ms"), ("map_apply_speedup_10k", "x")),
          needs_display=True, timeout_s=300,
          params=lambda q: {"units": 10_000, "ticks": 5 if q else 20, "warmup": 2 if q else 3}),
    Group("e2e_1k", (("e2e_latency_p50_ms_1k", "ms"), ("e2e_latency_p95_ms_1k", "ms")), needs_display=True, mongo=1,
          params=lambda q: {"units": 1_000, "ticks": 6 if q else 18, "discard": 2, "lag": False,
                            "drain_s": 8.0 if q else 20.0}),
    Group("e2e_10k", (("e2e_latency_p50_ms_10k", "ms"), ("e2e_latency_p95_ms_10k", "ms"),
                      ("ui_loop_lag_p99_ms_10k", "ms"), ("rss_mb_10k", "MB"), ("pss_mb_10k", "MB")),
          needs_display=True, mongo=1,
          params=lambda q: {"units": 10_000, "ticks": 6 if q else 18, "discard": 2, "lag": True,
                            "drain_s": 8.0 if q else 20.0}),
    # the same 10k targets with the street basemap drawn (and while panning), and a basemap tile's render time
    Group("page_basemap", (("map_apply_ms_10k_basemap", "ms"), ("map_apply_speedup_10k_basemap", "x"),
                           ("map_apply_ms_10k_basemap_panning", "ms"), ("map_apply_speedup_10k_basemap_panning", "x"),
                           ("basemap_tile_ms_p50", "ms"), ("basemap_tile_ms_p95", "ms")),
          needs_display=True, timeout_s=900, basemap=True,
          params=lambda q: {"units": 10_000, "ticks": 5 if q else 20, "warmup": 2 if q else 3}),
    Group("e2e_10k_basemap", (("e2e_latency_p50_ms_10k_basemap", "ms"), ("e2e_latency_p95_ms_10k_basemap", "ms"),
                              ("ui_loop_lag_p99_ms_10k_basemap", "ms"), ("rss_mb_10k_basemap", "MB"),
                              ("pss_mb_10k_basemap", "MB")),
          needs_display=True, mongo=1, basemap=True, timeout_s=300,
          params=lambda q: {"units": 10_000, "ticks": 6 if q else 18, "discard": 2, "lag": True,
                            "drain_s": 8.0 if q else 20.0, "pan": True}),
    Group("sync", (("sync_cycle_s_10k", "s"), ("sync_cycle_first_s_10k", "s")), mongo=2, timeout_s=300,
          params=lambda q: {"units": 10_000, "cycles": 1 if q else 3, "budget_s": 15.0 if q else 30.0}),
    Group("startup", (("startup_s", "s"),), needs_display=True, timeout_s=150),
    Group("api", (("api_nearby_p50_ms_10k", "ms"), ("api_nearby_p95_ms_10k", "ms"),
                  ("ws_track_latency_p95_ms_1k", "ms"), ("ws_track_latency_p50_ms_1k", "ms"),
                  ("ws_clients_rss_mb_1k", "MB"), ("ws_runtime_loop_lag_p99_ms_1k", "ms")), mongo=1, timeout_s=400,
          params=lambda q: {"units": 10_000, "queries": 300 if q else 1000, "ws_clients": 1000,
                            "ws_seconds": 10 if q else 30}),
    Group("mapdata", (("map_import_s_metro", "s"), ("map_import_peak_rss_mb_metro", "MB"), ("roads_load_s_metro", "s"),
                      ("geocode_p50_ms", "ms"), ("geocode_p95_ms", "ms"), ("reverse_geocode_p50_ms", "ms"),
                      ("map_clip_peak_rss_mb_small", "MB"), ("map_clip_peak_rss_mb_large", "MB")),
          timeout_s=1200,
          params=lambda q: {"rows": 224, "cols": 224, "repeats": 3 if q else 20, "clip": not q}),
    Group("roads", (("roads_router_load_s_metro", "s"), ("route_eta_rank_ms_10k", "ms"), ("route_ms_metro", "ms"),
                    ("snap_us_per_fix", "us"), ("sim_tick_cpu_10k_roads", "cpu_s/s")),
          timeout_s=1200,
          params=lambda q: {"rows": 224, "cols": 224, "repeats": 30 if q else 200, "units": 10_000,
                            "seconds": 8 if q else 20, "warmup": 4 if q else 6}),
    Group("ingest", (("ingest_positions_per_s_10k", "positions/s"), ("ingest_latency_p99_ms_10k", "ms"),
                     ("ingest_cpu_10k", "cores"), ("ingest_lost_10k", "fixes"),
                     ("ingest_floor_requests_per_s_10k", "requests/s"), ("ingest_floor_latency_p99_ms_10k", "ms"),
                     ("ingest_floor_cpu_10k", "cores")), mongo=1, timeout_s=360,
          params=lambda q: {"units": 10_000, "seconds": 10 if q else 30, "warmup": 5 if q else 8, "delay_ms": 950,
                            # two worker processes: what a dispatch centre runs for 10,000 devices
                            # (--ingest-workers 2; README "Ingest performance" has both)
                            "workers": int(os.environ.get("CARTRACK_BENCH_INGEST_WORKERS", "2"))}),
]
BY_METRIC = {name: g for g in GROUPS for name, _ in g.metrics}
RSS_GROUPS = ("e2e_10k", "e2e_10k_basemap")
QT_DIR = Path(str(importlib.util.find_spec("PySide6").origin)).parent / "Qt"   # Qt's and Chromium's files
BY_GROUP = {g.name: g for g in GROUPS}


def select(only: str | None) -> list[Group]:
    if not only:
        return list(GROUPS)
    wanted: set[str] = set()
    for item in (x.strip() for x in only.split(",") if x.strip()):
        g = BY_GROUP.get(item) or BY_METRIC.get(item)
        if g is None:
            known = ", ".join([*BY_GROUP, *BY_METRIC])
            raise SystemExit(f"bench: unknown benchmark {item!r}; known: {known}")
        wanted.add(g.name)
    return [g for g in GROUPS if g.name in wanted]


def _missing(group: Group, reason: str, **cond: Any) -> list[dict[str, Any]]:
    return [Metric.missing(name, unit, reason, **cond).as_dict() for name, unit in group.metrics]


def _fatal(path: Path) -> str | None:
    """'Fatal Python error: ...' and the crashing thread's innermost frames, if the worker died that way."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    i = next((k for k, ln in enumerate(lines) if ln.startswith("Fatal Python error")), None)
    if i is None:
        return None
    j = next((k for k in range(i, len(lines)) if lines[k].startswith("Current thread")), None)
    frames = [ln.strip() for ln in lines[j + 1:j + 4]] if j is not None else []
    return " | ".join([lines[i].strip(), *frames])[:400]


def _tail(path: Path, n: int = 6) -> list[str]:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines()
                 if ln.strip() and "vulkan" not in ln.lower() and "dbus" not in ln.lower()]
    except OSError:
        return []
    return [ln[:300] for ln in lines[-n:]]


def run_worker(group: Group, params: dict[str, Any], work: Path, env: dict[str, str],
               servers: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One group in a fresh process (own session, so a timeout kills its QtWebEngine children too)."""
    out, log = work / f"{group.name}.json", work / f"{group.name}.log"
    sampler: memory.TreeSampler | None = None
    evicted = memory.evict_from_page_cache(QT_DIR) if group.name in RSS_GROUPS else None
    with open(log, "wb") as lf:
        proc = subprocess.Popen([sys.executable, "-m", "bench.worker", group.name, orjson.dumps(params).decode(),
                                 str(out)], cwd=REPO, env=env, stdout=lf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        if group.name.startswith("e2e_"):
            sampler = memory.TreeSampler(proc.pid, external=servers).start()
        timed_out = False
        try:
            proc.wait(group.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            if sampler is not None:
                sampler.stop()
    if not out.is_file():
        why = f"worker timed out after {group.timeout_s:.0f} s" if timed_out else f"worker exited {proc.returncode}"
        fatal = _fatal(log)
        if fatal:
            why += f": {fatal}"
        return _missing(group, why, log_tail=_tail(log))
    result = orjson.loads(out.read_bytes())
    metrics: list[dict[str, Any]] = result["metrics"]
    if proc.returncode != 0:
        for m in metrics:
            m["conditions"]["worker_exit_code_after_result"] = proc.returncode
    if sampler is not None:
        window = result.get("extra", {}).get("window")
        if window:
            cpu = memory.cpu_rates(sampler.samples, (window[0], window[1]))
            for m in metrics:
                m["conditions"]["cpu_per_wall_s_in_window"] = cpu
            if group.name in RSS_GROUPS:
                metrics += memory.rss_metrics(sampler.samples, (window[0], window[1]), int(params["units"]),
                                              suffix="_basemap" if group.basemap else "", page_cache=evicted)
        elif group.name in RSS_GROUPS:
            metrics += [m for m in _missing(group, "worker reported no streaming window")
                        if m["name"].startswith(("rss_", "pss_"))]
    return metrics


def run_group(group: Group, quick: bool, root: Path, env: dict[str, str],
              profile: bool = False, none_guard: bool = True) -> list[dict[str, Any]]:
    work = root / group.name
    work.mkdir(parents=True, exist_ok=True)
    genv = {**env, "XDG_CONFIG_HOME": str(work / "xdg")}
    if group.name == "startup":
        return startup.run(work, genv)
    params = group.params(quick)
    if group.basemap:
        data, city = basemap_data.ensure(root, quick)
        params.update(basemap_data=str(data), city=city)
    if group.name.startswith("e2e_"):
        params["profile"] = profile
        params["none_guard"] = none_guard
    with private_servers(work, redis=True, mongo=group.mongo) as srv:
        params.update(_server_params(group, srv, work))
        pids = {"redis-server": srv.redis.proc.pid} if srv.redis is not None and srv.redis.proc else {}
        if srv.mongos and srv.mongo_pid(0):
            pids["secantusd-py"] = srv.mongo_pid(0)  # type: ignore[assignment]
        return run_worker(group, params, work, genv, pids)


def _server_params(group: Group, srv: Servers, work: Path) -> dict[str, Any]:
    p: dict[str, Any] = {"redis_url": srv.redis_url, "workdir": str(work / "app")}
    if group.mongo:
        p["mongo_uri"] = srv.mongo_uri(f"bench_{group.name}")
        p["mongo_pid"] = srv.mongo_pid(0)
    if group.mongo > 1:
        p["mongo_uri_small"] = srv.mongo_uri("bench_small", 1)
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--only", help="comma-separated metric or group names (" + ", ".join(BY_GROUP) + ")")
    ap.add_argument("--quick", action="store_true", help="fewer ticks and samples: a smoke run")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the app's main thread in the e2e runs (diagnostic; inflates their timings)")
    ap.add_argument("--no-none-guard", action="store_true",
                    help="do not pin None's refcount in the app workers (shows PySide6's none_dealloc crash)")
    ap.add_argument("--out", default=str(BENCH_DIR / "results.json"), help="results JSON (a .md is written next)")
    args = ap.parse_args(argv)
    groups = select(args.only)
    command = "python -m bench" + (f" --only {args.only}" if args.only else "") + (" --quick" if args.quick else "") \
        + (" --profile" if args.profile else "")
    machine = machine_info()
    display = VirtualDisplay()
    root = scratch_dir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTRACK_")}
    env["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
    metrics: list[dict[str, Any]] = []
    t_all = time.monotonic()
    try:
        for g in groups:
            t0 = time.monotonic()
            load = [round(x, 2) for x in os.getloadavg()]
            print(f"[bench] {g.name} ... (load average {load[0]})", file=sys.stderr, flush=True)
            if g.needs_display:
                disp = display.ensure()
                if disp is None:
                    metrics += _missing(g, "no DISPLAY and no Xvfb to start one")
                    continue
                env["DISPLAY"] = disp
            try:
                got = run_group(g, args.quick, root, env, args.profile, not args.no_none_guard)
            except Exception as exc:
                got = _missing(g, f"{type(exc).__name__}: {exc}"[:300])
            for m in got:
                m["conditions"]["group_wall_s"] = round(time.monotonic() - t0, 1)
                m["conditions"]["loadavg_at_group_start"] = load
            metrics += got
            print(f"[bench] {g.name} done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    finally:
        display.stop()
        shutil.rmtree(root, ignore_errors=True)
    for m in metrics:
        m["conditions"] = {**m["conditions"], "mode": "quick" if args.quick else "full",
                           "machine": machine}
    report.judge(metrics)
    print(report.table(metrics))
    out = Path(args.out)
    md = report.write(metrics, machine, command, out)
    print(f"\nwrote {out} and {md} ({time.monotonic() - t_all:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
