"""e2e_latency_*, ui_loop_lag_*: the real app (gui_main) fed by a Redis publisher at 1 Hz.

Latency is measured by the page itself: every batch report carries the producer's "sent"
(publish time, carried Redis -> LiveFeed -> FleetState -> frame) and "drawnAt" (after the
frame that drew it). Loop lag is the lateness of a re-armed 20 ms Qt PreciseTimer (and of an
asyncio sleep loop) while the units stream. Memory is sampled from outside by the parent
(bench.memory), for the window this worker reports.

With `basemap_data` (the `e2e_10k_basemap` group) the app's data directory holds the imported metro
city, so the window draws the street map under the fleet, and with `pan` the view moves a quarter to
half a view every second while the units stream (new basemap tiles are rendered all the time).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from . import qtguard
from .basemap_data import pan_offset
from .common import REPO, Metric, percentile, rnd, summary
from .fleet import CENTER

LAG_INTERVAL_MS = 20
STATS_REFRESH_MS = 1000     # as the app's own one-second tick refreshes a visible Stats tab


def run(params: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    import qasync
    from PySide6 import QtWebEngineWidgets  # noqa: F401 - must precede the QApplication
    from PySide6.QtWidgets import QApplication

    from cartrack_desktop.config import load_settings
    from cartrack_desktop.ui.application import configure_rendering
    from cartrack_desktop.ui.map_view import register_scheme

    configure_rendering(load_settings([]).rendering)  # as the app does (software compositing without a GPU)
    register_scheme()
    app = QApplication(["cartrack-bench"])
    app.setQuitOnLastWindowClosed(False)
    params["_none_guard"] = qtguard.guard(bool(params.get("none_guard", True)))
    Path(params["workdir"]).mkdir(parents=True, exist_ok=True)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    from .worker import save_result

    with loop:
        result: dict[str, Any] = loop.run_until_complete(_main(params))
        save_result(params, result)
    return result


async def _until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached after {timeout_s} s")
        await asyncio.sleep(0.05)


class QtLagProbe:
    """A single-shot precise timer re-armed on every firing; lag = how late it fired."""

    def __init__(self, interval_ms: int = LAG_INTERVAL_MS) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval_ms = interval_ms
        self.samples: list[float] = []
        self.recording = False
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._fire)
        self._armed = 0.0

    def start(self) -> None:
        self._armed = time.perf_counter()
        self._timer.start(self.interval_ms)

    def stop(self) -> None:
        self._timer.stop()

    def _fire(self) -> None:
        now = time.perf_counter()
        if self.recording:
            self.samples.append(max(0.0, (now - self._armed) * 1000 - self.interval_ms))
        self._armed = now
        self._timer.start(self.interval_ms)


class _BenchObserver:
    """What the benchmark watches in the running app, attached from outside its classes.

    Keeps every batch report the page sends back (latency is computed from them), and fills the
    Stats tab every second as if a dispatcher were looking at it, so its cost is measured too.
    """

    def __init__(self, view: Any, window: Any, desk: Any) -> None:
        from PySide6.QtCore import QTimer

        self.batch_reports: list[dict[str, Any]] = []
        view.bridge.batchesApplied.connect(self.batch_reports.extend)
        self._timer = QTimer()
        self._timer.setInterval(STATS_REFRESH_MS)
        self._timer.timeout.connect(lambda: window.stats.set_rows(desk.stats.rows()))
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


async def _asyncio_lag(samples: list[float], recording: Callable[[], bool]) -> None:
    while True:
        t = time.perf_counter()
        await asyncio.sleep(LAG_INTERVAL_MS / 1000)
        if recording():
            samples.append(max(0.0, (time.perf_counter() - t) * 1000 - LAG_INTERVAL_MS))


PAN_EVERY_S = 1.0


async def _pan(desk: Any) -> None:
    """Move the view around the centre every second, as a dispatcher panning would (new tiles each time)."""
    k = 0
    while True:
        await asyncio.sleep(PAN_EVERY_S)
        k += 1
        dlat, dlng = pan_offset(k)
        desk.channel.centre(CENTER["lat"] + dlat, CENTER["lng"] + dlng, CENTER.get("zoom"))


async def _until_basemap_drawn(view: Any, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        b = (await view.page_state()).get("basemap") or {}
        if b.get("active") == "streets" and b.get("loaded", 0) > 0 and b.get("loading", 1) == 0:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the street map was not drawn")


async def _main(params: dict[str, Any]) -> dict[str, Any]:
    from cartrack_desktop.config import load_settings
    from cartrack_desktop.ui.application import gui_main

    units, ticks, discard = int(params["units"]), int(params["ticks"]), int(params["discard"])
    work = Path(params["workdir"])
    if params.get("basemap_data"):
        from .basemap_data import install_into

        install_into(Path(params["basemap_data"]), work / "data")
    settings = load_settings(
        ["--redis-url", params["redis_url"], "--mongo-uri", params["mongo_uri"], "--no-simulator",
         "--tiles", "none", "--data-dir", str(work / "data"), "--log-level", "WARNING"],
        environ={}, dotenv_path=work / "no.env",
    )
    holder: dict[str, Any] = {}

    def hook(window: Any, desk: Any) -> None:
        holder["window"], holder["desk"] = window, desk

    task = asyncio.ensure_future(gui_main(settings, ready_hook=hook))
    await _until(lambda: "desk" in holder or task.done(), 60, "app start-up")
    if task.done():
        task.result()
    window, desk = holder["window"], holder["desk"]
    view = desk.view
    await _until(lambda: view.is_ready, 60, "map page ready")
    if params.get("basemap_data"):   # the street map in use (the window centres on it once), then our view
        await _until(lambda: desk.street_map.basemap is not None, 60, "street map loaded")
        await _until_basemap_drawn(view)
    desk.channel.centre(CENTER["lat"], CENTER["lng"], CENTER.get("zoom"))
    observer = _BenchObserver(view, window, desk)
    pan_task = asyncio.ensure_future(_pan(desk)) if params.get("pan") else None

    qt_probe = QtLagProbe()
    qt_probe.start()
    aio_samples: list[float] = []
    lag_task = asyncio.ensure_future(_asyncio_lag(aio_samples, lambda: qt_probe.recording))

    pub_out = work / "publisher.json"
    pub = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once; we poll it without blocking
        [sys.executable, "-m", "bench.publisher", params["redis_url"], str(units), str(ticks), str(pub_out)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    t_pub = time.time()
    window_start = t_pub + discard + 0.5      # after the discarded ticks
    cpu0: tuple[float, float] | None = None
    visible: int | None = None
    profiler = cProfile.Profile() if params.get("profile") else None
    try:
        while pub.poll() is None:
            await asyncio.sleep(0.1)
            if cpu0 is None and time.time() >= window_start:
                qt_probe.recording = True
                cpu0 = (time.process_time(), time.perf_counter())
                if profiler is not None:
                    profiler.enable()
            if time.time() - t_pub > ticks + 60:
                raise TimeoutError("publisher did not finish")
        await asyncio.sleep(1.5)   # the last tick reaches the page
        window_end = time.time()
        cpu1 = (time.process_time(), time.perf_counter())
        if profiler is not None:
            profiler.disable()
        qt_probe.recording = False
        # Let a backlog drain (bounded): a tick still undrawn at the end is counted as censored below.
        published = _read_published(pub_out) if pub.returncode == 0 else {"sent": []}
        last_sent = published["sent"][-1] if published["sent"] else None
        if last_sent is not None:
            def drained() -> bool:
                return any(isinstance(r.get("sent"), int | float) and abs(r["sent"] - last_sent) < 0.5
                           for r in observer.batch_reports)

            with contextlib.suppress(TimeoutError):
                await _until(drained, float(params.get("drain_s", 20.0)), "backlog drained")
        ended = time.time()
        try:
            state = await view.page_state()
            visible = state.get("visible") if isinstance(state.get("visible"), int) else None
        except Exception:
            visible = None
    finally:
        observer.stop()
        qt_probe.stop()
        lag_task.cancel()
        if pan_task is not None:
            pan_task.cancel()
        if pub.poll() is None:
            pub.kill()
        pub.wait()
        window.closeRequested.emit()
        try:
            await asyncio.wait_for(task, 30)
        except Exception:
            pass
    if pub.returncode != 0:
        err = (pub.stderr.read().decode(errors="replace") if pub.stderr else "")[-500:]
        raise RuntimeError(f"publisher failed ({pub.returncode}): {err}")
    app_cpu = (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1]) if cpu0 else None
    result = _results(params, observer.batch_reports, published, qt_probe.samples, aio_samples, app_cpu, visible,
                      window_start, window_end, ended)
    for m in result["metrics"]:
        m["conditions"]["pyside_none_leak"] = params.get("_none_guard")
    if profiler is not None:
        top = _profile_top(profiler)
        for m in result["metrics"]:
            m["conditions"].update(profiled=True, python_profile_top=top)
    return result


def _read_published(path: Path) -> dict[str, list[float]]:
    """The publisher's record (a small file, read once after the run)."""
    data: dict[str, list[float]] = orjson.loads(path.read_bytes())
    path.unlink(missing_ok=True)
    return data


def _profile_top(profiler: cProfile.Profile, n: int = 25) -> list[str]:
    """The main thread's hottest functions by own time (cProfile inflates all timings of that run)."""
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(n)
    lines = [ln.rstrip() for ln in buf.getvalue().splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return [ln.replace(str(REPO) + "/", "") for ln in lines[start:] if ln.strip()]


def _results(params: dict[str, Any], reports: list[dict[str, Any]], published: dict[str, list[float]],
             qt_lag: list[float], aio_lag: list[float], app_cpu: float | None, visible: int | None,
             window_start: float, window_end: float, ended: float) -> dict[str, Any]:
    units, ticks, discard = int(params["units"]), int(params["ticks"]), int(params["discard"])
    sent_times: list[float] = published["sent"]
    latencies: list[float] = []
    per_tick: dict[int, list[float]] = {}
    per_tick_n: dict[int, int] = {}
    prof: dict[str, list[float]] = {"parseMs": [], "applyMs": [], "drawMs": [], "received_minus_sent_ms": []}
    for r in reports:
        sent, drawn = r.get("sent"), r.get("drawnAt")
        if not isinstance(sent, int | float) or not isinstance(drawn, int | float):
            continue  # snapshot frames (no producer time)
        k = min(range(len(sent_times)), key=lambda i: abs(sent_times[i] - sent))
        if abs(sent_times[k] - sent) > 0.5 or k < discard:
            continue
        lat_ms = (drawn - sent) * 1000
        latencies.append(lat_ms)
        per_tick.setdefault(k, []).append(lat_ms)
        per_tick_n[k] = per_tick_n.get(k, 0) + int(r.get("n") or 0)
        for key in ("parseMs", "applyMs", "drawMs"):
            if isinstance(r.get(key), int | float):
                prof[key].append(float(r[key]))
        if isinstance(r.get("received"), int | float):
            prof["received_minus_sent_ms"].append((r["received"] - sent) * 1000)
    # Ticks after the last one that reached the page were never drawn: count each with the time it had
    # waited when we stopped (a lower bound), so a backlog raises the percentiles instead of vanishing.
    last_drawn = max(per_tick, default=discard - 1)
    censored = [(ended - sent_times[k]) * 1000 for k in range(max(last_drawn + 1, discard), len(sent_times))]
    latencies += censored
    label = ("10k" if units == 10_000 else ("1k" if units == 1_000 else str(units))) + (
        "_basemap" if params.get("basemap_data") else "")
    cond: dict[str, Any] = {
        "units": units, "ticks": ticks, "ticks_discarded": discard, "rate_hz": 1,
        "pipeline": "bench.publisher process: LiveStore.update_car_locations -> Redis pub/sub -> app LiveFeed -> "
                    "FleetState -> FramePump.flush -> QWebChannel -> page draw",
        "app": "gui_main(--no-simulator --tiles none), private redis-server + secantusd-py (app sync running)"
               + ("; the imported metro city drawn under the fleet" if params.get("basemap_data") else "")
               + ("; the view panned every second" if params.get("pan") else ""),
        "city": params.get("city"),
        "view": CENTER, "units_visible_on_page": visible,
        "latency": "per page batch report: drawnAt - sent (epoch s, same host clock)",
        "reports_used": len(latencies) - len(censored),
        "ticks_seen": len(per_tick),
        "ticks_never_drawn": len(censored),
        "never_drawn_counted_as_ms": [rnd(c, 0) for c in censored][:20],
        "drain_wait_after_last_publish_s": rnd(ended - sent_times[-1], 1) if sent_times else None,
        "units_drawn_per_tick": summary([float(v) for v in per_tick_n.values()], 0),
        "tick_complete_latency_ms": summary([max(v) for v in per_tick.values()]),
        "page_profile_ms": {k: summary(v) for k, v in prof.items()},
        "publisher_write_ms": summary(published.get("write_ms", [])[discard:]),
        "app_process_cpu_per_wall_s": rnd(app_cpu, 3),
    }
    metrics: list[dict[str, Any]] = []
    for q in (50, 95):
        name = f"e2e_latency_p{q}_ms_{label}"
        if latencies:
            metrics.append(Metric(name, rnd(percentile(latencies, q), 1), "ms", cond).as_dict())
        else:
            metrics.append(Metric.missing(name, "ms", "no batch report carried a producer time", **cond).as_dict())
    if params.get("lag"):
        lag_cond = {
            "units": units, "rate_hz": 1, "probe": f"re-armed {LAG_INTERVAL_MS} ms Qt PreciseTimer lateness",
            "qt_timer_lag_ms": summary(qt_lag), "asyncio_sleep_lag_ms": summary(aio_lag),
            "asyncio_sleep_lag_p99_ms": rnd(percentile(aio_lag, 99), 1) if aio_lag else None,
            "window_s": rnd(window_end - window_start, 1), "app_process_cpu_per_wall_s": rnd(app_cpu, 3),
            "app": cond["app"],
        }
        name = f"ui_loop_lag_p99_ms_{label}"
        if qt_lag:
            metrics.append(Metric(name, rnd(percentile(qt_lag, 99), 1), "ms", lag_cond).as_dict())
        else:
            metrics.append(Metric.missing(name, "ms", "no timer samples", **lag_cond).as_dict())
    return {"metrics": metrics, "extra": {"window": [window_start, window_end]}}
