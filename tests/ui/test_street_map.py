"""The street map in the window, on real OpenStreetMap data (the Helsinki extract, imported for real).

The archive served by byte ranges through cartrack://, the basemap painting roads, the import hint,
File > Import map data (stages, done, cancel), the layer choice, online tiles identifying the app,
one search box for units and places, reverse geocoding in the pin, Nearby, Unit details and the
incident record.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from pymongo import MongoClient
from PySide6.QtCore import QSettings, Qt

from cartrack_desktop.domain.models import Position
from cartrack_desktop.mapdata.geocoder import Geocoder
from cartrack_desktop.mapdata.roads import load_road_network
from cartrack_desktop.mapdata.store import current_map, mapdata_dir
from cartrack_desktop.mapgen.page import NO_MAP_HINT
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.ui.jobs.street_map import CHOICE_KEY
from cartrack_desktop.ui.main_window import SETTINGS_APP, SETTINGS_ORG
from tests.helpers.mapdata import import_map
from tests.helpers.osm_data import helsinki_pbf
from tests.helpers.synthetic_city import build_city
from tests.ui.conftest import page_state, run_coro, run_js

pytestmark = pytest.mark.slow

ROAD_WHITE = (255, 255, 255)     # the dispatch style's road fill (resources/map/basemap_style.js)


@pytest.fixture(scope="module")
def helsinki_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the imported Helsinki extract (imported once for the module)."""
    data = tmp_path_factory.mktemp("helsinki") / "data"
    import_map(helsinki_pbf(), data)
    return data


def with_map(helsinki_map: Path, data_dir: Path) -> None:
    """Give an app's data directory the imported map (the launcher's n-th app uses tmp_path/data<n>)."""
    shutil.copytree(mapdata_dir(helsinki_map), mapdata_dir(data_dir), symlinks=True)


def start(launcher, redis_url, mongo_uri, db, *extra):
    QSettings(SETTINGS_ORG, SETTINGS_APP).remove(CHOICE_KEY)     # no layer choice left by an earlier test
    uri = mongo_uri.replace("/?", f"/{db}?")
    return launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--no-simulator", *extra)


def choose_layer(qtbot, app, index):
    """Click the layer control's index-th base layer, as the dispatcher does (once the control lists it)."""
    script = ("(() => { const i = document.querySelectorAll('.leaflet-control-layers-base input')[INDEX];"
              " if (!i) { return false; } i.click(); return true; })()").replace("INDEX", str(int(index)))
    qtbot.waitUntil(lambda: run_js(qtbot, app, script), timeout=5000)


def basemap_state(qtbot, app):
    """The page's basemap state; {} while the page is too busy to answer (drawing a screenful of tiles in
    software can hold its thread for seconds on a loaded 2-core machine): the waits below ask again."""
    try:
        return page_state(qtbot, app)["basemap"]
    except TimeoutError:
        return {}


def wait_streets(qtbot, app):
    qtbot.waitUntil(lambda: basemap_state(qtbot, app).get("active") == "streets", timeout=15_000)
    return basemap_state(qtbot, app)


def wait_tiles_drawn(qtbot, app):
    def drawn():
        b = basemap_state(qtbot, app)
        return b["loaded"] > 0 and b["loading"] == 0
    qtbot.waitUntil(drawn, timeout=20_000)


# ---- the archive, by byte ranges ----------------------------------------------------------------
FETCH_SCRIPT = """
window.__ctRanges = null;
(async () => {
  const out = [];
  for (const r of RANGES) {
    const resp = await fetch(URL, { headers: r === null ? {} : { range: r } });
    const b = new Uint8Array(await resp.arrayBuffer());
    out.push({ range: r, status: resp.status, contentRange: resp.headers.get('Content-Range'), n: b.length,
               head: Array.from(b.slice(0, 16)), tail: Array.from(b.slice(Math.max(0, b.length - 16))) });
  }
  window.__ctRanges = JSON.stringify(out);
})().catch((e) => { window.__ctRanges = 'failed: ' + (e && e.name) + ' ' + String(e) + ' ' + (e && e.stack); });
true;
"""


def fetch_ranges(qtbot, app, url, ranges):
    script = FETCH_SCRIPT.replace("RANGES", json.dumps(ranges)).replace("URL", json.dumps(url))   # test-only
    run_js(qtbot, app, script)
    qtbot.waitUntil(lambda: run_js(qtbot, app, "window.__ctRanges !== null"), timeout=10_000)
    text = run_js(qtbot, app, "window.__ctRanges")
    return json.loads(text) if text.startswith("[") else text


def test_the_archive_is_served_by_byte_ranges(qtbot, launcher, helsinki_map, redis_url, mongo_uri, mongo_db_name,
                                             tmp_path):
    with_map(helsinki_map, tmp_path / "data0")
    app = start(launcher, redis_url, mongo_uri, mongo_db_name)
    url = wait_streets(qtbot, app)["url"]
    data = current_map(tmp_path / "data0").tiles_path.read_bytes()
    size, mid = len(data), len(data) // 2
    got = fetch_ranges(qtbot, app, url, ["bytes=0-0", f"bytes={mid}-{mid + 99}", f"bytes={size - 1}-{size - 1}",
                                         "bytes=-1", "bytes=-20", f"bytes={size}-", f"bytes={size + 10}-{size + 20}",
                                         "bytes=0-1,5-6", "bytes=0-16383"])
    assert isinstance(got, list), got
    first, middle, last, suffix1, suffix20, at_end, beyond, multi, header = got
    assert (first["status"], first["contentRange"], first["head"]) == (206, f"bytes 0-0/{size}", [data[0]])
    assert (middle["status"], middle["contentRange"], middle["n"]) == (206, f"bytes {mid}-{mid + 99}/{size}", 100)
    assert middle["head"] == list(data[mid:mid + 16]) and middle["tail"] == list(data[mid + 84:mid + 100])
    assert (last["status"], last["contentRange"], last["head"]) == (206, f"bytes {size - 1}-{size - 1}/{size}",
                                                                    [data[-1]])
    assert suffix1 == {**last, "range": "bytes=-1"}        # a suffix range is the same last byte
    assert suffix20["n"] == 20 and suffix20["tail"] == list(data[-16:]) and suffix20["head"] == list(data[-20:-4])
    for refused in (at_end, beyond, multi):               # out of range: no bytes, and the size, as a 416 carries
        assert (refused["n"], refused["contentRange"]) == (0, f"bytes */{size}"), refused
    assert header["n"] == 16384 and header["head"][:7] == list(b"PMTiles")
    stats = app.view.scheme.archive_stats
    assert stats.refused >= 3 and stats.ranges >= 6
    # the page (and Qt's browser process) carry on: the map still draws from the archive
    app.desk.channel.centre(60.1685, 24.9410, 16)
    wait_tiles_drawn(qtbot, app)
    assert basemap_state(qtbot, app)["errors"] == 0


# ---- the basemap paints ---------------------------------------------------------------------------
def _road_point(data_dir: Path) -> tuple[float, float]:
    """A vertex in the middle of a primary road's edge (from the imported road network)."""
    net = load_road_network(current_map(data_dir).roads_path)
    for e in range(len(net.edge_target)):
        if net.edge_class_name(e) == "primary":
            lats, lngs = net.edge_geometry(e)
            if len(lats) >= 3:
                return float(lats[len(lats) // 2]), float(lngs[len(lngs) // 2])
    raise AssertionError("no primary road in the extract")


def _pixels_around_centre(app, half: int = 4) -> np.ndarray:
    image = app.view.grab().toImage()
    cx, cy = image.width() // 2, image.height() // 2
    return np.array([[image.pixelColor(x, y).getRgb()[:3] for x in range(cx - half, cx + half + 1)]
                     for y in range(cy - half, cy + half + 1)])


def test_the_basemap_paints_roads_where_roads_are(qtbot, launcher, helsinki_map, redis_url, mongo_uri,
                                                  mongo_db_name, tmp_path):
    with_map(helsinki_map, tmp_path / "data0")
    lat, lng = _road_point(tmp_path / "data0")
    app = start(launcher, redis_url, mongo_uri, mongo_db_name)
    wait_streets(qtbot, app)
    app.desk.channel.centre(lat, lng, 17)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["zoom"] == 17, timeout=5000)
    wait_tiles_drawn(qtbot, app)
    qtbot.waitUntil(lambda: (_pixels_around_centre(app) == ROAD_WHITE).all(axis=2).sum() >= 20, timeout=10_000)
    # the same spot with no basemap: no road colour (so it was the basemap that drew it)
    choose_layer(qtbot, app, 1)
    qtbot.waitUntil(lambda: basemap_state(qtbot, app).get("active") == "none", timeout=15_000)
    qtbot.waitUntil(lambda: (_pixels_around_centre(app) == ROAD_WHITE).all(axis=2).sum() == 0, timeout=10_000)


def test_the_layer_choice_is_remembered(qtbot, launcher, helsinki_map, redis_url, mongo_uri, mongo_db_name,
                                        tmp_path):
    with_map(helsinki_map, tmp_path / "data0")
    app = start(launcher, redis_url, mongo_uri, mongo_db_name)
    wait_streets(qtbot, app)
    wait_tiles_drawn(qtbot, app)             # (a reload with fetches in flight fails them, and the page says so)
    with qtbot.waitSignal(app.bridge.basemapPicked, timeout=5000):
        choose_layer(qtbot, app, 1)
    app.view.load_page()                     # a reloaded page (or the next start) shows the same choice
    qtbot.waitUntil(lambda: app.view.is_ready, timeout=20_000)
    qtbot.waitUntil(lambda: basemap_state(qtbot, app).get("active") == "none", timeout=15_000)
    choose_layer(qtbot, app, 0)
    qtbot.waitUntil(lambda: basemap_state(qtbot, app).get("active") == "streets", timeout=15_000)


# ---- no map yet, then File > Import map data ----------------------------------------------------------
def test_import_dialog_shows_stages_and_a_cancel_keeps_the_map(qtbot, launcher, redis_url, mongo_uri, mongo_db_name,
                                                                tmp_path):
    app = start(launcher, redis_url, mongo_uri, mongo_db_name)
    qtbot.waitUntil(lambda: basemap_state(qtbot, app).get("hint") == NO_MAP_HINT, timeout=15_000)
    assert basemap_state(qtbot, app)["url"] is None and not app.desk.places.available
    imports = app.desk.map_import
    not_a_pbf = tmp_path / "notes.osm.pbf"
    not_a_pbf.write_text("this is not OpenStreetMap data\n")
    with qtbot.waitSignal(imports.importEnded, timeout=60_000, check_params_cb=lambda o: o == "failed"):
        assert imports.start(not_a_pbf)
    assert "not an OpenStreetMap PBF file" in imports.dialog.message.text()
    assert "previous map is unchanged" in imports.dialog.message.text()
    assert basemap_state(qtbot, app)["hint"] == NO_MAP_HINT and current_map(tmp_path / "data0") is None
    imports.dialog.close()
    with qtbot.waitSignal(imports.importEnded, timeout=120_000, check_params_cb=lambda o: o == "done"):
        assert imports.start(helsinki_pbf())
    dialog = imports.dialog
    assert dialog.seen == [s for s in ("checking", "reading", "search index", "road network", "tiles", "finishing")
                           if s in dialog.seen]                                  # in order, none repeated
    assert {"reading", "tiles", "finishing"} <= set(dialog.seen) and dialog.finished_ok
    assert "streets" in dialog.message.text()
    installed = current_map(tmp_path / "data0")
    b = wait_streets(qtbot, app)
    assert b["url"].endswith(f"/basemap/{installed.directory.name}.pmtiles") and b["hint"] is None
    qtbot.waitUntil(lambda: app.desk.places.available, timeout=5000)
    # a second, bigger import, cancelled midway: the first map stays, on disk and on the page
    city = build_city(tmp_path / "city.osm.pbf", rows=60, cols=60)
    with qtbot.waitSignal(imports.importEnded, timeout=120_000) as ended:
        imports.start(city.path)
        qtbot.waitUntil(lambda: any(s in imports.dialog.seen for s in ("reading", "search index", "tiles")),
                        timeout=60_000)
        imports.dialog.buttons.button(imports.dialog.buttons.StandardButton.Cancel).click()
    assert ended.args == ["cancelled"]
    assert "previous map is unchanged" in imports.dialog.message.text()
    assert current_map(tmp_path / "data0").directory == installed.directory
    assert basemap_state(qtbot, app)["url"] == b["url"]
    assert not [p for p in mapdata_dir(tmp_path / "data0").iterdir() if p.name.startswith("build-")]


# ---- online tiles ------------------------------------------------------------------------------------
PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a5e0"
                        "c40000000049454e44ae426082")


class _TileServer:
    """A real HTTP tile server on a free loopback port that records what the page sends."""

    def __init__(self) -> None:
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({"path": self.path, "ua": self.headers.get("User-Agent", ""),
                             "referer": self.headers.get("Referer")})
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG_1PX)))
                self.end_headers()
                self.wfile.write(PNG_1PX)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_online_tiles_identify_the_app(qtbot, launcher, redis_url, mongo_uri, mongo_db_name):
    server = _TileServer()
    try:
        app = start(launcher, redis_url, mongo_uri, mongo_db_name, "--tiles",
                    f"http://127.0.0.1:{server.port}/{{z}}/{{x}}/{{y}}.png", "--tile-contact", "ops@example.org")
        qtbot.waitUntil(lambda: basemap_state(qtbot, app).get("active") == "online", timeout=15_000)
        assert basemap_state(qtbot, app)["hint"] == NO_MAP_HINT       # online tiles are not an imported map
        qtbot.waitUntil(lambda: len(server.seen) > 0, timeout=10_000)
        for req in server.seen:
            assert req["ua"].startswith("CarTrackDesktop/") and "contact: ops@example.org" in req["ua"], req
            assert req["path"].endswith(".png")
    finally:
        server.close()


# ---- search: units and places, one list ---------------------------------------------------------------------
@pytest.fixture
def helsinki_app(launcher, helsinki_map, redis_url, mongo_uri, mongo_db_name, tmp_path, qtbot):
    """The window on the Helsinki map, with registered units (call signs) live around the centre."""
    with_map(helsinki_map, tmp_path / "data0")
    geo = Geocoder(current_map(tmp_path / "data0").search_path)
    corner = geo.search("Bulevardi & Fredrikinkatu")[0]
    units = {"PC-901": "Ocean-1", "PC-902": "Ocean-2", "PC-903": "Ocean-3", "PC-910": "Adam-7"}
    mc = MongoClient(mongo_uri)
    mc[mongo_db_name].cars.insert_many([{"_id": cid, "car_id": cid, "call_sign": sign, "status": "available",
                                        "simulated": False} for cid, sign in units.items()])
    mc.close()
    app = start(launcher, redis_url, mongo_uri, mongo_db_name)
    client = make_redis(redis_url)
    now = time.time()
    run_coro(qtbot, LiveStore(client).update_car_locations(
        [Position(cid, corner.lat + 0.001 * (i + 1), corner.lng, 0.0, 0.0, now) for i, cid in enumerate(units)]))
    run_coro(qtbot, client.aclose())
    qtbot.waitUntil(lambda: all((u := app.desk.fleet.units.get(c)) is not None and u.position is not None
                                and u.call_sign == units[c] for c in units), timeout=15_000)
    wait_streets(qtbot, app)      # the map is in use (and the view was centred on it once, at start)
    assert app.desk.places.available
    yield app, geo, corner
    geo.close()


def type_search(qtbot, app, text):
    w = app.window
    # as a dispatcher types: in the active window, the box focused (the list opens only then; an
    # earlier popup or a window left by another test may have taken the activation)
    w.activateWindow()
    w.focus_search()
    qtbot.waitUntil(w.search.hasFocus, timeout=5000)
    w.search.clear()
    with qtbot.waitSignal(app.desk.search.resultsShown, timeout=10_000,
                          check_params_cb=lambda hits: app.desk.search._answered == text or not hits):
        qtbot.keyClicks(w.search, text)
    qtbot.waitUntil(lambda: app.desk.search._answered == text, timeout=10_000)
    return app.desk.search.hits


def press_enter(qtbot, app, widget=None):
    with qtbot.waitSignal(app.desk.search.hitChosen, timeout=10_000) as chosen:
        qtbot.keyClick(widget or app.window.search, Qt.Key.Key_Return)
    return chosen.args[0]


def centred_on(qtbot, app, lat, lng):
    """The map's centre is within a pixel or two of the point (Leaflet keeps its origin on whole pixels)."""
    qtbot.waitUntil(lambda: max(abs(a - b) for a, b in zip(page_state(qtbot, app)["center"], (lat, lng),
                                                            strict=True)) < 5e-5, timeout=5000)


def test_a_prefix_of_several_units_lists_them_and_enter_takes_the_highlighted(qtbot, helsinki_app):
    app, _geo, _corner = helsinki_app
    hits = type_search(qtbot, app, "Ocean")
    assert [h.label for h in hits[:3]] == ["Ocean-1", "Ocean-2", "Ocean-3"]
    popup = app.desk.search.completer.popup()
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    assert popup.currentIndex().row() == 0                               # the first is highlighted
    assert app.window.search.text() == "Ocean"          # ... and the box keeps what was typed, not its label
    hit = press_enter(qtbot, app, popup)
    assert hit.car_id == "PC-901"
    u = app.desk.fleet.units["PC-901"].position
    centred_on(qtbot, app, u.lat, u.lng)
    assert page_state(qtbot, app)["highlight"] == "PC-901"
    # the list stays for the arrow keys: Down, Enter takes the second
    type_search(qtbot, app, "Ocean")
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    assert press_enter(qtbot, app, popup).car_id == "PC-902"
    assert "Ocean-2" in app.window.search_result.text()


def test_a_unique_prefix_or_an_id_goes_straight_to_the_unit(qtbot, helsinki_app):
    app, _geo, _corner = helsinki_app
    for text, cid in (("Ada", "PC-910"), ("pc-903", "PC-903")):
        type_search(qtbot, app, text)
        app.desk.search.completer.popup().hide()         # Enter in the box itself (no list open)
        assert press_enter(qtbot, app).car_id == cid
        u = app.desk.fleet.units[cid].position
        centred_on(qtbot, app, u.lat, u.lng)


def test_an_address_or_an_intersection_places_the_pin_and_fills_nearby(qtbot, helsinki_app):
    app, geo, corner = helsinki_app
    address = geo.search("Aleksanterinkatu 52")[0]
    for text, expected in (("Aleksanterinkatu 52", address), ("Bulevardi & Fredrikinkatu", corner)):
        hits = type_search(qtbot, app, text)
        assert hits[0].kind == expected.kind and hits[0].label == expected.label
        with qtbot.waitSignal(app.desk.nearby.nearbyUpdated, timeout=10_000) as blocker:
            press_enter(qtbot, app, app.desk.search.completer.popup())
        assert app.desk.session.pin == (expected.lat, expected.lng)
        assert blocker.args[0] or expected is address        # units stand a few hundred metres from the corner
        qtbot.waitUntil(lambda e=expected: e.label in app.window.nearby.header.text(), timeout=5000)
        qtbot.waitUntil(lambda e=expected: e.label in (page_state(qtbot, app)["pinLabel"] or ""), timeout=5000)
    assert {r.car_id for r in app.window.nearby.model.rows} >= {"PC-901", "PC-902", "PC-903", "PC-910"}


def test_reverse_geocoding_names_the_pin_the_unit_and_the_incident(qtbot, helsinki_app, mongo_uri, mongo_db_name):
    app, _geo, corner = helsinki_app
    app.desk.session.place_pin(corner.lat + 0.00005, corner.lng)      # as a click a few metres off the corner
    qtbot.waitUntil(lambda: "Bulevardi & Fredrikinkatu" in app.window.nearby.header.text(), timeout=10_000)
    qtbot.waitUntil(lambda: "Bulevardi & Fredrikinkatu" in (page_state(qtbot, app)["pinLabel"] or ""), timeout=5000)
    with qtbot.waitSignal(app.desk.incidents.incidentCreated, timeout=10_000) as created:
        app.desk.incidents.open_dialog()
        dialog = app.desk.incidents.dialog
        assert "Bulevardi & Fredrikinkatu" in dialog.where.text()
        dialog.kind.setCurrentText("Burglary")
        dialog._submit()                                   # the Create incident button's slot
    mc = MongoClient(mongo_uri)
    doc_of = lambda: mc[mongo_db_name].incidents.find_one({"_id": created.args[0]})   # noqa: E731
    qtbot.waitUntil(lambda: doc_of() is not None, timeout=10_000)
    assert doc_of()["address"] == "Bulevardi & Fredrikinkatu"
    mc.close()
    assert app.desk.runtime.dispatch.incidents[created.args[0]].address == "Bulevardi & Fredrikinkatu"
    # Unit details says where the tracked unit is
    app.desk.tracking.track("PC-901")
    qtbot.waitUntil(lambda: app.window.unit.fields["near"].text().startswith("near "), timeout=10_000)
