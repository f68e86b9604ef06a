"""The API served by the window (`--api`): a dispatch through it shows in the window within 2 s and in its
audit log; tracking works while the map draws; closing the window stops the API."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from cartrack_desktop.domain.models import UnitStatus
from tests.helpers.servers import free_port
from tests.ui.conftest import page_state, run_coro

pytestmark = pytest.mark.slow


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_a_dispatch_through_the_windows_api_shows_in_the_window_and_its_audit_log(
        qtbot, launcher, redis_url, mongo_uri, mongo_db_name):
    port = free_port()
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    app = launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--cars", "2", "--seed", "3",
                         "--dispatcher", "console-1", "--api", str(port))
    qtbot.waitUntil(lambda: (u := app.desk.fleet.units.get("PC-001")) is not None and u.position is not None,
                    timeout=15_000)
    base = f"http://127.0.0.1:{port}"

    async def track_one() -> dict:
        async with connect(f"ws://127.0.0.1:{port}/ws/track/PC-001") as ws:
            return json.loads(await ws.recv())

    first = run_coro(qtbot, track_one(), 15_000)
    assert first["car_id"] == "PC-001" and set(first) == {"car_id", "lat", "lng", "speed", "heading", "timestamp"}

    async def dispatch() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=10) as c:
            return await c.post("/police/dispatch", json={"car_id": "PC-001", "lat": first["lat"] + 0.01,
                                                          "lng": first["lng"], "type": "Alarm", "priority": 1})

    t0 = time.monotonic()
    r = run_coro(qtbot, dispatch(), 15_000)
    assert r.status_code == 200, r.text
    inc = r.json()["incident"]["id"]
    qtbot.waitUntil(lambda: app.window.incidents.model.row_of(inc) >= 0
                    and app.desk.fleet.units["PC-001"].status is not UnitStatus.AVAILABLE, timeout=2000)
    assert time.monotonic() - t0 < 2.0
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["status"] != "available",
                    timeout=2000)
    app.desk.audit.refresh()
    qtbot.waitUntil(lambda: any(e.action == "unit.dispatch" and e.dispatcher == "api (no token)"
                                for e in app.window.audit.model.rows), timeout=10_000)
    assert launcher.stop(app) == 0
    assert _refused(port)                   # the API stopped with the window
