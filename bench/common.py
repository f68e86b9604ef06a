"""Small shared helpers: the metric record, robust statistics, machine description."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Metric:
    """One line of results.json: value None means "not measured", with the reason in conditions."""

    name: str
    value: float | None
    unit: str
    conditions: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def missing(cls, name: str, unit: str, reason: str, **conditions: Any) -> Metric:
        return cls(name, None, unit, {"reason": reason, **conditions})


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); the same definition everywhere in the bench."""
    if not values:
        raise ValueError("no samples")
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rnd(x: float | None, digits: int = 3) -> float | None:
    """Round for display/JSON without pretending more precision than a timer gives."""
    if x is None or not math.isfinite(x):
        return None
    return round(x, digits)


def summary(values: Sequence[float], digits: int = 2) -> dict[str, float | int | None]:
    """p50/p95/max/n of a sample, for conditions (where the time goes)."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": rnd(percentile(values, 50), digits), "p95": rnd(percentile(values, 95), digits),
            "max": rnd(max(values), digits)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Where and when the numbers were taken (merged into every metric's conditions)."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }
    try:
        import PySide6
        from PySide6 import QtCore

        info["pyside6"] = PySide6.__version__
        info["qt"] = QtCore.qVersion()
    except Exception:
        pass
    try:
        from cartrack_desktop.services.infra.embedded import find_redis_server

        out = subprocess.run([find_redis_server(), "--version"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
        info["redis_server"] = out.split("v=")[1].split()[0] if "v=" in out else out.strip()[:60]
    except Exception:
        pass
    try:
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info
