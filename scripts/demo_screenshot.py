"""Take the README screenshot: embedded defaults, an incident pin, a tracked unit.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/demo_screenshot.py docs/screenshot.png
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from cartrack_desktop.config import load_settings
from cartrack_desktop.logging_setup import configure_logging

STAGE_WAIT_POLLS = 600   # x 0.2 s: two minutes for the fleet to appear


def main(out: Path) -> int:
    import qasync
    from PySide6 import QtWebEngineWidgets  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from cartrack_desktop.ui.application import _prepare_environment, gui_main
    from cartrack_desktop.ui.map_view import register_scheme

    data = Path(tempfile.mkdtemp(prefix="cartrack-demo-"))
    settings = load_settings(["--data-dir", str(data), "--cars", "40", "--seed", "7", "--tiles", "none"])
    _prepare_environment(settings.rendering)
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="cartrack-demo-config-")  # default layout
    register_scheme()
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    configure_logging("WARNING")

    def hook(window, desk) -> None:
        async def stage() -> None:
            for _ in range(STAGE_WAIT_POLLS):   # 40 live units drawn (two sources: a poll is simplest)
                if desk.fleet.counts().live >= 40 and desk.frames.units_drawn:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(2.0)
            units = [u for u in desk.fleet.units.values() if u.position]
            target = units[3].position
            desk.session.place_pin(target.lat + 0.006, target.lng - 0.004)
            await asyncio.sleep(1.5)
            dispatch = desk.runtime.dispatch
            inc = await dispatch.create_incident(target.lat + 0.006, target.lng - 0.004, "Burglary", 2,
                                                 "Rear door forced, caller on scene")
            desk.session.set_active_incident(inc.incident_id)
            await asyncio.sleep(1.5)
            nearest = window.nearby.model.rows[0].car_id
            await dispatch.dispatch(inc.incident_id, [nearest])
            desk.tracking.track(nearest)
            other = await dispatch.create_incident(units[10].position.lat, units[10].position.lng,
                                                   "Traffic collision", 1, "")
            await dispatch.dispatch(other.incident_id, [units[10].car_id])
            await asyncio.sleep(5.0)
            desk.save_screenshot(out)
            window.closeRequested.emit()

        desk.ctx.spawn(stage(), "demo")

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        return loop.run_until_complete(gui_main(settings, ready_hook=hook))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png")))
