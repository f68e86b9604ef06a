"""Screenshots of the map at fleet scale (issue 17 §1): N simulated units, a few dispatched and one
tracked, the window captured at several zooms, with what the page says it drew.

    for n in 1000 10000; do
      xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/density_screenshots.py OUT_DIR $n
    done
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/density_screenshots.py OUT_DIR 50000 --feed

--feed: instead of the simulator, another process writes the fleet (bench/fleet.py's synthetic
units wandering over Atlanta) every FEED_PERIOD_S: the simulator and the registry are not what is
looked at here, and on a shared 2-core machine they cannot keep 50,000 units live.

Writes OUT_DIR/<units>_z<zoom>.png and OUT_DIR/density_<units>.json (per shot: clusters, aggregated
and individually drawn units, labels, the page's last drawing time). One fleet size per process:
the window's loop runs once per process (see ui/application.py).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cartrack_desktop.config import load_settings
from cartrack_desktop.domain.patrol import ATLANTA
from cartrack_desktop.logging_setup import configure_logging

ZOOMS = (11, 12, 14, 16)
FEED_PERIOD_S = 5.0
DISPATCHED = 6
WAIT_POLLS = 900   # x 0.2 s: three minutes for the fleet to appear


async def _stage(window: Any, desk: Any, units: int, out: Path, report: dict[str, Any], producer: list[Any]) -> None:
    for _ in range(WAIT_POLLS):    # the whole fleet live and drawn (two sources: a poll is simplest)
        if desk.fleet.counts().live >= units and desk.frames.units_drawn:
            break
        await asyncio.sleep(0.2)
    dispatch = desk.runtime.dispatch
    live = sorted((u for u in desk.fleet.units.values() if u.position), key=lambda u: u.car_id)
    centre = ((ATLANTA.south + ATLANTA.north) / 2, (ATLANTA.west + ATLANTA.east) / 2)
    inc = await dispatch.create_incident(*centre, "Shots fired", 1, "")
    await dispatch.dispatch(inc.incident_id, [u.car_id for u in live[:DISPATCHED]])
    desk.tracking.track(live[DISPATCHED].car_id)
    await asyncio.sleep(1.0)
    desk.channel.track(live[DISPATCHED].car_id, follow=False)   # tracked, but the map stays where it is put
    for zoom in ZOOMS:
        desk.channel.centre(*centre, zoom)
        await asyncio.sleep(3.0)
        state = await desk.view.page_state()
        d = state["density"]
        shot = out / f"{units}_z{zoom}.png"
        await desk.screenshots.take(shot)   # once the panels show what the map draws
        report[shot.name] = {"units": state["units"], "visible": state["visible"], "clusters": d["clusters"],
                             "aggregated": d["aggregated"], "individual": d["individual"],
                             "labels": len(d["labels"]), "drawMs": round(d["drawMs"], 1)}
        print(shot.name, report[shot.name], flush=True)  # noqa: T201
    for proc in producer:    # before the servers stop under it
        proc.terminate()
    window.closeRequested.emit()


def _feed(redis_url: str, units: int) -> None:
    """The producer process: the synthetic fleet written every FEED_PERIOD_S, as a device gateway would."""
    import time

    from bench.fleet import SyntheticFleet, bench_ids
    from cartrack_desktop.services.infra.redis_conn import make_redis
    from cartrack_desktop.services.live.live_store import LiveStore

    async def loop() -> None:
        store = LiveStore(make_redis(redis_url, name="density-feed"))
        fleet = SyntheticFleet(bench_ids(units), seed=7)
        while True:
            t0 = time.monotonic()
            fleet.step(FEED_PERIOD_S)
            await store.update_car_locations(fleet.positions(time.time()))
            await asyncio.sleep(max(0.0, FEED_PERIOD_S - (time.monotonic() - t0)))   # a producer's pace

    asyncio.run(loop())


def run(units: int, out: Path, report: dict[str, Any], feed: bool) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    from cartrack_desktop.ui.application import gui_main

    data = Path(tempfile.mkdtemp(prefix="cartrack-density-"))
    settings = load_settings(["--data-dir", str(data), "--cars", str(units), "--seed", "7", "--tiles", "none",
                              *(["--no-simulator"] if feed else [])])
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)

    producer: list[Any] = []

    def hook(window: Any, desk: Any) -> None:
        if feed:
            ctx = multiprocessing.get_context("spawn")
            proc = ctx.Process(target=_feed, args=(desk.runtime.redis_url, units), daemon=True)
            proc.start()
            producer.append(proc)
        desk.ctx.spawn(_stage(window, desk, units, out, report, producer), "density screenshots")

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            return int(loop.run_until_complete(gui_main(settings, ready_hook=hook)))
    finally:
        for proc in producer:
            proc.terminate()
            proc.join(5)


def main(out: Path, units: int, feed: bool) -> int:
    from PySide6 import QtWebEngineWidgets  # noqa: F401

    from cartrack_desktop.ui.application import _prepare_environment
    from cartrack_desktop.ui.map_view import register_scheme

    _prepare_environment(load_settings([]).rendering)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="cartrack-density-config-")  # default layout
    register_scheme()
    configure_logging("WARNING")
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    code = run(units, out, report, feed)
    (out / f"density_{units}.json").write_text(json.dumps(report, indent=1))
    return code


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--feed"]
    sys.exit(main(Path(args[0]), int(args[1]) if len(args) > 1 else 10_000, "--feed" in sys.argv))
