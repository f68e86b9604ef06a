"""The seed's browser snippet, verbatim, in a real browser (Debian's headless Chromium) against a real server.

The page holds the snippet from REALTIME_TRACKING_SEED.md ("Track Car in Real-Time") unchanged but
for the port; `map.updateMarker` is a stand-in that records each call (the seed leaves the map
library open). The page reports what it shows to a small HTTP server of the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers.api import stack_settings, start_stack
from tests.helpers.waiting import async_wait_until

SEED_SNIPPET = """// Dispatcher dispatches PC-001 to incident
const ws = new WebSocket("ws://localhost:8000/ws/track/PC-001");

ws.onmessage = (event) => {
	const location = JSON.parse(event.data);

	// Update map marker every second
	map.updateMarker("PC-001", {
		lat: location.lat,
		lng: location.lng,
		speed: location.speed,
		heading: location.heading,
	});

	// Show speed/heading in UI
	document.getElementById("speed").textContent = `${location.speed} mph`;
	document.getElementById("heading").textContent = `${location.heading}°`;
};"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>seed snippet</title></head>
<body>
<span id="speed"></span> <span id="heading"></span>
<script>
const updates = [];
const map = { updateMarker(id, pos) { updates.push({ id, ...pos, at: Date.now() }); } };
setInterval(() => {
  fetch("/report", { method: "POST", body: JSON.stringify({
    updates, speed: document.getElementById("speed").textContent,
    heading: document.getElementById("heading").textContent }) });
}, 200);
</script>
<script>
%s
</script>
</body></html>
"""


class _Reports:
    def __init__(self, page: str) -> None:
        self.page = page.encode()
        self.last: dict | None = None


def _server(reports: _Reports) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(reports.page)))
            self.end_headers()
            self.wfile.write(reports.page)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            reports.last = json.loads(body)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is missing: scripts/system-deps.sh test installs Debian's chromium")


async def test_the_seed_browser_snippet_updates_its_marker_every_second(tmp_path, redis_url, mongo_uri, mongo_db_name):
    browser = _chromium()
    stack = await start_stack(stack_settings(tmp_path, redis_url, mongo_uri, mongo_db_name, "--cars", "1",
                                             "--seed", "4"))
    port = stack.host.address[1]
    reports = _Reports(PAGE % SEED_SNIPPET.replace("localhost:8000", f"localhost:{port}"))
    server = _server(reports)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proc = await asyncio.create_subprocess_exec(
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--remote-debugging-port=0",
        f"--user-data-dir={tmp_path / 'chromium'}", f"http://127.0.0.1:{server.server_address[1]}/",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await async_wait_until(lambda: reports.last and len(reports.last["updates"]) >= 4, 30,
                               "four marker updates in the browser")
        updates = reports.last["updates"]
        assert {u["id"] for u in updates} == {"PC-001"}
        assert len({(u["lat"], u["lng"]) for u in updates}) >= 3          # the unit moves
        assert all(b["at"] >= a["at"] for a, b in itertools.pairwise(updates))
        last = await async_wait_until(
            lambda: reports.last if reports.last["speed"] == f"{reports.last['updates'][-1]['speed']} mph" else None,
            5, "the page shows the last update")
        assert last["heading"] == f"{last['updates'][-1]['heading']}°"
        live = await stack.runtime.store.get_car_location("PC-001")
        assert abs(live.lat - updates[-1]["lat"]) < 0.01
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        server.shutdown()
        server.server_close()
        await stack.runtime.stop()
