"""map_apply_*: one tick of N moving units applied by the real map page vs. a naive Leaflet page.

Both pages run in this one process, in a 1280x800 window at the app's default zoom (12, where
ours draws the crowded cells as cluster discs and the rest as heading arrows; the naive page draws
every unit as a marker), one after the other, fed the same synthetic fleet.
Time = Python emit of the batch -> the moment the page has drawn it (the page's own wall-clock
`drawnAt`, same machine clock): transfer + JSON decode + apply + draw + paint. Both pages stamp
`drawnAt` the same way, from a setTimeout(0) queued in the animation frame after their updates,
i.e. once that frame is painted (canvas drawing calls only record; rasterising happens when the
frame is produced). The time until the report is back in Python is recorded too
(`emit_to_report_ms`). One tick at a time.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .basemap_data import PAN_LAT_DEG, PAN_LNG_DEG, pan_offset
from .common import BENCH_DIR, REPO, Metric, median, percentile, rnd, summary
from .fleet import CENTER, SyntheticFleet, bench_ids

WIDTH, HEIGHT = 1280, 800
TICK_TIMEOUT_S = 90.0


def run(params: dict[str, Any]) -> list[dict[str, Any]]:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    from PySide6 import QtWebEngineWidgets  # noqa: F401 - must precede the QApplication
    from PySide6.QtWidgets import QApplication

    from cartrack_desktop.config import load_settings
    from cartrack_desktop.ui.application import configure_rendering
    from cartrack_desktop.ui.map_view import register_scheme

    configure_rendering(load_settings([]).rendering)  # as the app does (software compositing without a GPU)
    register_scheme()
    app = QApplication(["cartrack-bench"])
    app.setQuitOnLastWindowClosed(False)
    units, ticks, warmup = int(params["units"]), int(params["ticks"]), int(params["warmup"])
    work = Path(tempfile.mkdtemp(prefix="cartrack-bench-page-"))
    basemap = _basemap(params)
    try:
        if basemap is None:
            ours = _run_ours(app, work, units, ticks, warmup)
        else:
            ours = _run_ours(app, work, units, ticks, warmup, basemap=basemap, probe=True)
            panning = _run_ours(app, work, units, ticks, warmup, basemap=basemap, pan=True)
        naive = _run_naive(app, work, units, ticks, warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from .worker import save_result

    if basemap is None:
        metrics = _metrics(units, ticks, warmup, ours, naive)
    else:
        metrics = _basemap_metrics(units, ticks, warmup, ours, panning, naive, params.get("city", {}))
    save_result(params, metrics)
    return metrics


def _basemap(params: dict[str, Any]) -> Any:
    """The street map to draw (the imported city), or None for the plain page."""
    if not params.get("basemap_data"):
        return None
    from cartrack_desktop.basemap.source import basemap_of
    from cartrack_desktop.mapdata.store import current_map

    installed = current_map(Path(params["basemap_data"]))
    if installed is None:
        raise RuntimeError(f"no imported map in {params['basemap_data']}")
    return basemap_of(installed)


class _Waiter:
    """Runs a nested Qt event loop until a condition holds; slots call poke() when state changed."""

    def __init__(self) -> None:
        from PySide6.QtCore import QEventLoop

        self._loop_cls = QEventLoop
        self._loop: Any = None
        self._pred: Callable[[], bool] | None = None

    def poke(self, *_: Any) -> None:
        if self._loop is not None and self._pred is not None and self._pred():
            self._loop.quit()

    def wait(self, pred: Callable[[], bool], timeout_s: float) -> bool:
        from PySide6.QtCore import QTimer

        if pred():
            return True
        loop = self._loop_cls()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        timer.start(int(timeout_s * 1000))
        self._loop, self._pred = loop, pred
        try:
            loop.exec()
        finally:
            timer.stop()
            self._loop, self._pred = None, None
        return pred()

    def sleep(self, seconds: float) -> None:
        self.wait(lambda: False, seconds)


# ---- ours ------------------------------------------------------------------------------------


def _run_ours(app: Any, work: Path, units: int, ticks: int, warmup: int, *, basemap: Any = None,
              probe: bool = False, pan: bool = False) -> dict[str, Any]:
    from cartrack_desktop.mapgen.page import build_map_page
    from cartrack_desktop.ui.bridge import to_json
    from cartrack_desktop.ui.map_view import MapView, load_assets
    from cartrack_desktop.view.fleet_view import FleetState, MapWire

    page = build_map_page(work / "map", tile_url="", tile_attribution="")
    view = MapView(page, load_assets(page))
    view.resize(WIDTH, HEIGHT)
    waiter = _Waiter()
    got: dict[int, tuple[float, dict[str, Any]]] = {}
    errors: list[str] = []

    def on_reports(reports: list[dict[str, Any]]) -> None:
        t = time.perf_counter()
        for r in reports:
            if isinstance(r.get("seq"), int):
                got[r["seq"]] = (t, r)
        waiter.poke()

    view.bridge.batchesApplied.connect(on_reports)
    view.ready.connect(waiter.poke)
    view.web_page.consoleMessage.connect(lambda lvl, msg: errors.append(msg) if lvl >= 2 else None)
    view.show()
    view.load_page()
    if not waiter.wait(lambda: view.is_ready, 60):
        raise RuntimeError("the map page did not become ready in 60 s")
    view.bridge.centerRequested.emit(to_json(CENTER))
    probed = _show_basemap(view, waiter, basemap, probe) if basemap is not None else []

    fleet = SyntheticFleet(bench_ids(units), seed=11)
    state = FleetState()
    wire = MapWire()
    samples: list[float] = []
    drawn_lag: list[float] = []
    encode_ms: list[float] = []
    profile: dict[str, list[float]] = {"transferMs": [], "parseMs": [], "applyMs": [], "drawMs": [], "afterDrawMs": []}
    payload_bytes = 0
    for k in range(warmup + ticks):
        if pan:
            dlat, dlng = pan_offset(k)
            view.bridge.centerRequested.emit(to_json({**CENTER, "lat": CENTER["lat"] + dlat,
                                                      "lng": CENTER["lng"] + dlng}))
        fleet.step(1.0)
        now = time.time()
        t_enc = time.perf_counter()
        state.apply(fleet.positions(now), sent_at=now)
        frame = state.take_frame()
        assert frame is not None
        payload = to_json(wire.payload(frame, flushed_at=time.time()))
        encode_ms.append((time.perf_counter() - t_enc) * 1000)
        payload_bytes = len(payload)
        seq = frame.seq
        wall = time.time()
        t0 = time.perf_counter()
        view.bridge.fleetBatch.emit(payload)
        if not waiter.wait(functools.partial(got.__contains__, seq), TICK_TIMEOUT_S):
            raise RuntimeError(f"no report for batch {seq} within {TICK_TIMEOUT_S} s; page errors: {errors[-3:]}")
        t_rep, rep = got[seq]
        if k >= warmup:
            samples.append((t_rep - t0) * 1000)
            if isinstance(rep.get("drawnAt"), int | float):
                drawn_lag.append((rep["drawnAt"] - wall) * 1000)
                # emit -> batch handed to the page's script; drawn -> that frame painted
                rep["transferMs"] = (rep["received"] - wall) * 1000
                rep["afterDrawMs"] = ((rep["drawnAt"] - rep["received"]) * 1000 - rep["parseMs"] - rep["applyMs"]
                                      - rep["drawMs"])
            for key, vals in profile.items():
                if isinstance(rep.get(key), int | float):
                    vals.append(float(rep[key]))
    final = _ask_state(view, waiter)
    visible = final.get("visible") if isinstance(final.get("visible"), int) else None
    archive = view.scheme.archive_stats
    view.hide()
    view.shutdown()
    waiter.sleep(0.5)
    return {"samples": samples, "drawn_lag": drawn_lag, "encode_ms": encode_ms[warmup:], "profile": profile,
            "payload_bytes": payload_bytes, "visible": visible, "page_errors": errors[-5:], "probe": probed,
            "basemap": final.get("basemap"),
            "archive": {"ranges": archive.ranges, "bytes": archive.bytes_served, "refused": archive.refused}}


def _show_basemap(view: Any, waiter: _Waiter, basemap: Any, probe: bool) -> list[dict[str, Any]]:
    """The street map under the fleet, as the window's StreetMapJob sends it; with `probe`, the ms each of
    the probe tiles took to render, cold (fetched and decoded first) and warm (the same tiles again)."""
    from cartrack_desktop.mapgen.page import ORIGIN
    from cartrack_desktop.ui.bridge import to_json

    from .basemap_data import probe_tiles

    view.scheme.set_basemap(basemap)
    view.bridge.basemapChanged.emit(to_json({"map": basemap.page_message(ORIGIN), "choice": "streets"}))
    _wait_tiles(view, waiter)
    if not probe:
        return []
    tiles = probe_tiles(*basemap.centre)
    cold = _ask_state(view, waiter, probe=tiles, timeout_s=600).get("probe") or []
    warm = _ask_state(view, waiter, probe=tiles, timeout_s=600).get("probe") or []
    return [{"tile": t, "cold": c, "warm": w} for t, c, w in zip(tiles, cold, warm, strict=False)]


def _wait_tiles(view: Any, waiter: _Waiter, timeout_s: float = 180.0) -> None:
    """Until the street map's tiles of the view are drawn."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        b = _ask_state(view, waiter).get("basemap") or {}
        if b.get("loaded", 0) > 0 and b.get("loading", 1) == 0:
            return
        waiter.sleep(0.2)
    raise RuntimeError(f"the basemap's tiles were not drawn within {timeout_s:.0f} s")


def _ask_state(view: Any, waiter: _Waiter, *, probe: list[tuple[int, int, int]] | None = None,
               timeout_s: float = 10.0) -> dict[str, Any]:
    """The page's view of itself (units visible: proof they were drawn; the basemap's tiles; a tile probe)."""
    from cartrack_desktop.ui.bridge import to_json

    box: dict[str, Any] = {}
    req = f"bench-{time.monotonic_ns()}"

    def on_state(got: str, state: dict[str, Any]) -> None:
        if got == req:
            box.update(state)
            waiter.poke()

    view.bridge.stateReported.connect(on_state)
    ask: dict[str, Any] = {"req": req, "ids": []}
    if probe is not None:
        ask["probe"] = [list(t) for t in probe]
    view.bridge.stateRequested.emit(to_json(ask))
    waiter.wait(lambda: bool(box), timeout_s)
    view.bridge.stateReported.disconnect(on_state)
    return box


# ---- naive -------------------------------------------------------------------------------------
def _naive_dir(work: Path) -> Path:
    """The baseline page with the vendored Leaflet and Qt's qwebchannel.js next to it (file URLs)."""
    from PySide6.QtCore import QFile, QIODevice

    d = work / "naive"
    shutil.copytree(BENCH_DIR / "naive", d)
    shutil.copytree(REPO / "resources" / "leaflet", d / "leaflet")
    f = QFile(":/qtwebchannel/qwebchannel.js")
    if not f.open(QIODevice.OpenModeFlag.ReadOnly):
        raise RuntimeError("qwebchannel.js missing from the Qt resources")
    (d / "qwebchannel.js").write_bytes(bytes(f.readAll().data()))
    f.close()
    return d


def _run_naive(app: Any, work: Path, units: int, ticks: int, warmup: int) -> dict[str, Any]:
    from PySide6.QtCore import QObject, QUrl, Signal, Slot
    from PySide6.QtWebChannel import QWebChannel
    from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
    from PySide6.QtWebEngineWidgets import QWebEngineView

    waiter = _Waiter()
    got: dict[int, tuple[float, dict[str, Any]]] = {}
    ready: list[bool] = []
    errors: list[str] = []

    class NaiveBridge(QObject):
        batch = Signal(int, str)

        @Slot()
        def pageReady(self) -> None:
            ready.append(True)
            waiter.poke()

        @Slot(str)
        def applied(self, text: str) -> None:
            t = time.perf_counter()
            r = orjson.loads(text)
            got[int(r["seq"])] = (t, r)
            waiter.poke()

    class Page(QWebEnginePage):
        def javaScriptConsoleMessage(self, level: Any, message: str, line: int, source: str) -> None:
            if int(level.value) >= 2:
                errors.append(f"{message} ({source}:{line})")

    d = _naive_dir(work)
    view = QWebEngineView()
    profile = QWebEngineProfile(view)  # off the record, like the app's
    page = Page(profile, view)
    view.setPage(page)
    bridge = NaiveBridge()
    channel = QWebChannel(page)
    channel.registerObject("naive", bridge)
    page.setWebChannel(channel)
    view.resize(WIDTH, HEIGHT)
    view.show()
    page.load(QUrl.fromLocalFile(str(d / "naive.html")))
    if not waiter.wait(lambda: bool(ready), 60):
        raise RuntimeError(f"the naive page did not become ready in 60 s; errors: {errors[-3:]}")

    fleet = SyntheticFleet(bench_ids(units), seed=11)
    samples: list[float] = []
    drawn_lag: list[float] = []
    profile_ms: dict[str, list[float]] = {"parseMs": [], "applyMs": [], "rafWaitMs": [], "renderMs": []}
    payload_bytes = 0
    for k in range(warmup + ticks):
        fleet.step(1.0)
        payload = orjson.dumps([p.as_dict() for p in fleet.positions(time.time())]).decode()
        payload_bytes = len(payload)
        seq = k + 1
        wall = time.time()
        t0 = time.perf_counter()
        bridge.batch.emit(seq, payload)
        if not waiter.wait(functools.partial(got.__contains__, seq), TICK_TIMEOUT_S):
            raise RuntimeError(f"naive page: no report for batch {seq} within {TICK_TIMEOUT_S} s; {errors[-3:]}")
        t_rep, rep = got[seq]
        if k >= warmup:
            samples.append((t_rep - t0) * 1000)
            drawn_lag.append((float(rep["drawnAt"]) - wall) * 1000)
            for key, vals in profile_ms.items():
                vals.append(float(rep.get(key, 0.0)))
    view.hide()
    page.setWebChannel(None)  # type: ignore[arg-type]
    view.setPage(None)  # type: ignore[arg-type]
    page.deleteLater()
    view.deleteLater()
    waiter.sleep(0.3)
    return {"samples": samples, "drawn_lag": drawn_lag, "profile": profile_ms, "payload_bytes": payload_bytes,
            "page_errors": errors[-5:]}


def _metrics(units: int, ticks: int, warmup: int, ours: dict[str, Any], naive: dict[str, Any]) -> list[dict[str, Any]]:
    common = {"units": units, "ticks_measured": ticks, "warmup_ticks": warmup, "window": f"{WIDTH}x{HEIGHT}",
              "view": CENTER, "tiles": "none", "statistic": "median",
              "interval": "Python emit -> the frame with the batch painted (drawnAt: setTimeout(0) "
                          "queued in the next rAF), one tick in flight"}
    label = "10k" if units == 10_000 else str(units)
    o = median(ours["drawn_lag"])
    n = median(naive["drawn_lag"])
    ours_cond = {
        **common, "page": "product map page (MapView, resources/map modules, canvas layer)",
        "payload": "MapWire.payload() columns via FleetState, as the window's FramePump sends it",
        "payload_bytes": ours["payload_bytes"], "samples_ms": summary(ours["drawn_lag"]),
        "emit_to_report_ms": summary(ours["samples"]),
        "page_profile_ms": {k: summary(v) for k, v in ours["profile"].items()},
        "python_payload_build_ms_not_timed": summary(ours["encode_ms"]),
        "units_visible_on_page": ours["visible"], "page_errors": ours["page_errors"],
    }
    naive_cond = {
        **common, "page": "bench/naive: one L.circleMarker per unit (default SVG renderer), setLatLng",
        "payload": "JSON array of position objects", "payload_bytes": naive["payload_bytes"],
        "report": "setTimeout(0) queued from the rAF after the updates (after that frame's layout/paint)",
        "samples_ms": summary(naive["drawn_lag"]), "emit_to_report_ms": summary(naive["samples"]),
        "page_profile_ms": {k: summary(v) for k, v in naive["profile"].items()},
        "page_errors": naive["page_errors"],
    }
    return [
        Metric(f"map_apply_ms_{label}", rnd(o, 2), "ms", ours_cond).as_dict(),
        Metric(f"map_apply_naive_ms_{label}", rnd(n, 2), "ms", naive_cond).as_dict(),
        Metric(f"map_apply_speedup_{label}", rnd(n / o, 2), "x",
               {**common, "definition": "map_apply_naive_ms / map_apply_ms, same process run"}).as_dict(),
    ]


def _basemap_metrics(units: int, ticks: int, warmup: int, still: dict[str, Any], panning: dict[str, Any],
                     naive: dict[str, Any], city: dict[str, Any]) -> list[dict[str, Any]]:
    """map_apply with the street map drawn (still and panning), against the same run's naive page; tile times."""
    label = "10k" if units == 10_000 else str(units)
    n = median(naive["drawn_lag"])
    common = {"units": units, "ticks_measured": ticks, "warmup_ticks": warmup, "window": f"{WIDTH}x{HEIGHT}",
              "view": CENTER, "statistic": "median",
              "basemap": "the synthetic metro city imported (bench/basemap_data)",
              "city": city, "interval": "Python emit -> the frame with the batch painted, one tick in flight",
              "naive_ms_same_run": rnd(n, 2), "naive_page": "no basemap (bench/naive)"}
    out: list[dict[str, Any]] = []
    for suffix, run in (("", still), ("_panning", panning)):
        o = median(run["drawn_lag"])
        cond = {**common, "panning": bool(suffix), "samples_ms": summary(run["drawn_lag"]),
                "page_profile_ms": {k: summary(v) for k, v in run["profile"].items()},
                "units_visible_on_page": run["visible"], "page_errors": run["page_errors"],
                "basemap_tiles_loaded": (run.get("basemap") or {}).get("loaded"),
                "basemap_tile_request_to_drawn_ms_in_view": summary((run.get("basemap") or {}).get("tileMs") or []),
                "archive_requests": run.get("archive")}
        if suffix:
            cond["pan"] = (f"before every tick the view moves to centre + ({PAN_LAT_DEG} sin 0.9k, "
                           f"{PAN_LNG_DEG} cos 1.3k) degrees")
        out.append(Metric(f"map_apply_ms_{label}_basemap{suffix}", rnd(o, 2), "ms", cond).as_dict())
        out.append(Metric(f"map_apply_speedup_{label}_basemap{suffix}", rnd(n / o, 2), "x",
                          {**common, "definition": "naive page (no basemap) / ours with the basemap, same run"}
                          ).as_dict())
    rows = still.get("probe") or []
    probe = [float(r["cold"]) for r in rows if isinstance(r.get("cold"), int | float)]
    by_zoom = {str(z): {"cold_ms": summary([float(r["cold"]) for r in rows if r["tile"][0] == z
                                       and isinstance(r.get("cold"), int | float)]),
                   "warm_ms": summary([float(r["warm"]) for r in rows if r["tile"][0] == z
                                       and isinstance(r.get("warm"), int | float)])}
               for z in sorted({r["tile"][0] for r in rows})}
    tile_cond = {"tiles": len(rows), "not_finished": len(rows) - len(probe), "zooms": sorted(int(z) for z in by_zoom),
                 "what": "one tile at a time, each for the first time: the archive's byte ranges through cartrack://, "
                         "decode, label layout, paint on a 256 px canvas (protomaps-leaflet renderTile; its "
                         "scheduling delay off)", "samples_ms": summary(probe), "city": city,
                 "by_zoom": by_zoom, "warm": "the same tiles again: their data already fetched and decoded"}
    for q in (50, 95):
        name = f"basemap_tile_ms_p{q}"
        if probe:
            out.append(Metric(name, rnd(percentile(probe, q), 1), "ms", tile_cond).as_dict())
        else:
            out.append(Metric.missing(name, "ms", "no tile was rendered", **tile_cond).as_dict())
    return out
