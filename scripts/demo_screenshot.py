"""Take the README screenshots: embedded defaults, an incident pin, a tracked unit.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/demo_screenshot.py docs/screenshot.png
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/demo_screenshot.py docs/street-map.png \
        --osm Helsinki.osm.pbf

With --osm the extract is imported first (as File > Import map data does): the units patrol its area,
and the incident pin is put at the intersection nearest the map's centre through the search box's
own path (a place chosen in the list), so the pin, Nearby units and the incident carry its address.
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


def _import(osm: Path, data: Path) -> None:
    from cartrack_desktop.mapdata.job import ImportJob

    installed = ImportJob(osm, data, nice=0).start().wait(900)
    print(f"imported {osm.name}: {installed.manifest.counts.get('streets', 0)} streets")  # noqa: T201


async def _pin_at_a_corner(desk) -> tuple[float, float] | None:
    """The pin at the intersection nearest the imported map's centre, chosen as the search box does."""
    from cartrack_desktop.view.search import place_hit

    basemap = desk.street_map.basemap
    if basemap is None:
        return None
    lat, lng = basemap.centre
    for radius in (0.0, 0.001, 0.002, 0.004):
        found = await desk.places.reverse(lat + radius, lng)
        if found is not None and found.kind == "intersection":
            desk.search.choose(place_hit(found))
            return found.lat, found.lng
    return None


def main(out: Path, osm: Path | None = None) -> int:
    import qasync
    from PySide6 import QtWebEngineWidgets  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from cartrack_desktop.ui.application import _prepare_environment, gui_main
    from cartrack_desktop.ui.map_view import register_scheme

    data = Path(tempfile.mkdtemp(prefix="cartrack-demo-"))
    if osm is not None:
        _import(osm, data)
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
            scene = await _pin_at_a_corner(desk) if osm is not None else None
            if scene is None:
                scene = (target.lat + 0.006, target.lng - 0.004)
                desk.session.place_pin(*scene)
            else:
                desk.channel.centre(scene[0], scene[1], 15)
            await asyncio.sleep(1.5)
            dispatch = desk.runtime.dispatch
            address = desk.pin_address.text
            inc = await dispatch.create_incident(scene[0], scene[1], "Burglary", 2,
                                                 "Rear door forced, caller on scene", address=address)
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
    args = sys.argv[1:]
    source = Path(args[args.index("--osm") + 1]) if "--osm" in args else None
    outputs = [a for a in args if a != "--osm" and (source is None or a != str(source))]
    sys.exit(main(Path(outputs[0] if outputs else "docs/screenshot.png"), source))
