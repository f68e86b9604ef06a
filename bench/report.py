"""Targets, the printed table, bench/results.json and bench/results.md."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    text: str
    check: Callable[[float, dict[str, float | None]], bool]   # (value, all values by name) -> met
    threshold: float | None = None                            # for "value is null but lower bound > threshold"


def _le(x: float) -> Target:
    return Target(f"<= {x:g}", lambda v, _a: v <= x, x)


def _ge(x: float) -> Target:
    return Target(f">= {x:g}", lambda v, _a: v >= x)


def _speedup(name: str, x: float, text: str) -> Target:
    return Target(text, lambda _v, a: (a.get(name) or 0.0) >= x)


TARGETS: dict[str, Target] = {
    "map_apply_ms_10k": _speedup("map_apply_speedup_10k", 10, ">= 10x faster than naive"),
    "map_apply_speedup_10k": _ge(10),
    "e2e_latency_p95_ms_1k": _le(100),
    "e2e_latency_p95_ms_10k": _le(250),
    "ui_loop_lag_p99_ms_10k": _le(50),
    "nearby_p50_ms_10k": Target("<= 2 and >= 50x seed",
                                lambda v, a: v <= 2 and (a.get("nearby_speedup_10k") or 0.0) >= 50, 2),
    "nearby_speedup_10k": _ge(50),
    "sim_tick_cpu_10k": _le(0.30),
    "sync_cycle_s_10k": _le(1.5),
    "rss_mb_10k": _le(700),
    "map_apply_ms_10k_basemap": _speedup("map_apply_speedup_10k_basemap", 10, ">= 10x faster than naive"),
    "map_apply_speedup_10k_basemap": _ge(10),
    "map_apply_ms_10k_basemap_panning": _speedup("map_apply_speedup_10k_basemap_panning", 10,
                                                 ">= 10x faster than naive"),
    "map_apply_speedup_10k_basemap_panning": _ge(10),
    "e2e_latency_p95_ms_10k_basemap": _le(250),
    "ui_loop_lag_p99_ms_10k_basemap": _le(50),
    "rss_mb_10k_basemap": _le(700),
    "startup_s": _le(5),
    "map_import_s_metro": _le(120),
    "map_import_peak_rss_mb_metro": _le(2048),
    "roads_load_s_metro": _le(2),
    "geocode_p50_ms": _le(20),
    "roads_router_load_s_metro": _le(2),
    "route_eta_rank_ms_10k": _le(30),
    "route_ms_metro": _le(20),
    "sim_tick_cpu_10k_roads": _le(0.30),
    "ingest_positions_per_s_10k": _ge(10_000),
    "ingest_latency_p99_ms_10k": _le(50),
    "ingest_cpu_10k": _le(1.0),
    "ingest_lost_10k": _le(0),
    "api_nearby_p50_ms_10k": _le(5),
    "ws_track_latency_p95_ms_1k": _le(50),
}

ORDER = [
    "map_apply_ms_10k", "map_apply_naive_ms_10k", "map_apply_speedup_10k",
    "e2e_latency_p50_ms_1k", "e2e_latency_p95_ms_1k", "e2e_latency_p50_ms_10k", "e2e_latency_p95_ms_10k",
    "ui_loop_lag_p99_ms_10k", "nearby_p50_ms_10k", "nearby_p95_ms_10k", "nearby_seed_p50_ms_10k",
    "nearby_speedup_10k", "nearby_seed_batched_p50_ms_10k", "nearby_speedup_batched_10k",
    "sim_tick_cpu_10k", "sim_tick_redis_cpu_10k", "sync_cycle_s_10k",
    "sync_cycle_first_s_10k", "rss_mb_10k", "pss_mb_10k", "startup_s",
    "map_apply_ms_10k_basemap", "map_apply_speedup_10k_basemap", "map_apply_ms_10k_basemap_panning",
    "map_apply_speedup_10k_basemap_panning", "e2e_latency_p50_ms_10k_basemap", "e2e_latency_p95_ms_10k_basemap",
    "ui_loop_lag_p99_ms_10k_basemap", "rss_mb_10k_basemap", "pss_mb_10k_basemap", "basemap_tile_ms_p50",
    "basemap_tile_ms_p95",
    "map_import_s_metro", "map_import_peak_rss_mb_metro", "roads_load_s_metro", "geocode_p50_ms", "geocode_p95_ms",
    "reverse_geocode_p50_ms", "map_clip_peak_rss_mb_small", "map_clip_peak_rss_mb_large",
    "roads_router_load_s_metro", "route_eta_rank_ms_10k", "route_ms_metro", "snap_us_per_fix", "sim_tick_cpu_10k_roads",
    "ingest_positions_per_s_10k", "ingest_latency_p99_ms_10k", "ingest_cpu_10k", "ingest_lost_10k",
    "api_nearby_p50_ms_10k", "api_nearby_p95_ms_10k", "ws_track_latency_p95_ms_1k", "ws_track_latency_p50_ms_1k",
    "ws_clients_rss_mb_1k", "ws_runtime_loop_lag_p99_ms_1k",
    "ingest_floor_requests_per_s_10k", "ingest_floor_latency_p99_ms_10k", "ingest_floor_cpu_10k",
]


def judge(metrics: list[dict[str, Any]]) -> None:
    """Adds target and target_met to each metric's conditions (None: informational or unknown)."""
    values = {m["name"]: m["value"] for m in metrics}
    for m in metrics:
        t = TARGETS.get(m["name"])
        cond = m["conditions"]
        if t is None:
            cond["target"], cond["target_met"] = None, None
            continue
        cond["target"] = t.text
        if m["value"] is not None:
            cond["target_met"] = bool(t.check(m["value"], values))
        elif t.threshold is not None and isinstance(cond.get("lower_bound_s"), int | float):
            # not finished within a budget already above the target: missed, whatever the exact value
            cond["target_met"] = False if cond["lower_bound_s"] > t.threshold else None
        else:
            cond["target_met"] = None


def _sorted(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(metrics, key=lambda m: (rank.get(m["name"], len(ORDER)), m["name"]))


def _fmt_value(m: dict[str, Any]) -> str:
    v = m["value"]
    if v is None:
        lb = m["conditions"].get("lower_bound_s")
        return f"> {lb:g} (timeout)" if isinstance(lb, int | float) else "null"
    return f"{v:g}"


def _met(m: dict[str, Any]) -> str:
    met = m["conditions"].get("target_met")
    if m["conditions"].get("target") is None:
        return "-"
    return {True: "yes", False: "NO"}.get(met, "?")


def rows(metrics: list[dict[str, Any]]) -> list[list[str]]:
    return [[m["name"], _fmt_value(m), m["unit"], m["conditions"].get("target") or "-", _met(m)]
            for m in _sorted(metrics)]


def notes(metrics: list[dict[str, Any]]) -> list[str]:
    """Things a reader of the numbers must know (workarounds the bench had to apply)."""
    pinned = sorted({m["name"].rsplit("_", 1)[-1] for m in metrics
                     if (m["conditions"].get("pyside_none_leak") or {}).get("none_refcount_pinned")})
    out = []
    if pinned:
        out.append(f"PySide6 None-refcount leak detected: the app workers ({', '.join(pinned)}) pinned None's "
                   "refcount to survive it; without that the app aborts with 'Fatal Python error: none_dealloc' "
                   "(see bench/qtguard.py, run with --no-none-guard to see it).")
    return out


def table(metrics: list[dict[str, Any]]) -> str:
    head = ["name", "value", "unit", "target", "met"]
    body = rows(metrics)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))

    out = [line(head), "-+-".join("-" * w for w in widths), *(line(r) for r in body)]
    missing = [f"  {m['name']}: {m['conditions'].get('reason')}" for m in _sorted(metrics) if m["value"] is None]
    if missing:
        out += ["", "not measured:", *missing]
    extra = notes(metrics)
    if extra:
        out += ["", "notes:", *(f"  {n}" for n in extra)]
    return "\n".join(out)


def markdown(metrics: list[dict[str, Any]], machine: dict[str, Any], command: str) -> str:
    head = ["name", "value", "unit", "target", "met"]
    out = [
        "# CarTrack Desktop benchmark results", "",
        f"Machine: {machine.get('cores')} cores, {machine.get('cpu_model')}, {machine.get('os')}; "
        f"Python {machine.get('python')}, Qt {machine.get('qt')}, redis-server {machine.get('redis_server')}. "
        f"Date: {machine.get('date')}.", "",
        f"Command: `{command}`. Full conditions per metric: `bench/results.json`.", "",
        "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows(metrics)]
    missing = [f"- `{m['name']}`: {m['conditions'].get('reason')}" for m in _sorted(metrics) if m["value"] is None]
    if missing:
        out += ["", "Not measured:", "", *missing]
    extra = notes(metrics)
    if extra:
        out += ["", "Notes:", "", *(f"- {n}" for n in extra)]
    return "\n".join(out) + "\n"


def write(metrics: list[dict[str, Any]], machine: dict[str, Any], command: str, json_path: Path) -> Path:
    json_path.write_text(json.dumps(_sorted(metrics), indent=2, default=str) + "\n")
    md = json_path.with_suffix(".md")
    md.write_text(markdown(metrics, machine, command))
    return md
