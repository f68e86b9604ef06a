import itertools
import sys
import time
from pathlib import Path

import orjson
import pytest
import redis
from geographiclib.geodesic import Geodesic
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cartrack_desktop.domain import geo
from cartrack_desktop.domain.models import Position
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from tests.ui.conftest import page_state, run_coro, run_js

ATL = (33.7490, -84.3880)


def producer(redis_url):
    """An outside producer: its own connection, the seed's key + channel."""
    return redis.Redis.from_url(redis_url)


def publish_seed_style(r, car_id, lat, lng, speed=30.0, heading=90.0, ts=None):
    msg = orjson.dumps({"car_id": car_id, "lat": lat, "lng": lng, "speed": speed, "heading": heading,
                        "timestamp": time.time() if ts is None else ts})
    r.set(f"car:location:{car_id}", msg, ex=300)
    r.publish(f"car:location:stream:{car_id}", msg)


@pytest.fixture
def app(launcher, redis_url, mongo_uri, mongo_db_name):
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    return launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--no-simulator")


def test_page_ready_and_locked_down(qtbot, app):
    st = page_state(qtbot, app)
    assert st["units"] == 0 and st["errors"] == []
    # navigation away from the map page is refused
    app.view.page().load(QUrl("https://example.com/"))
    qtbot.waitUntil(lambda: app.view.url().toString() == "cartrack://app/index.html", timeout=5000)
    assert run_js(qtbot, app, "typeof window.open === 'function' && window.open('https://example.com') === null")


def test_outside_producer_position_appears_on_the_map(qtbot, app, redis_url):
    r = producer(redis_url)
    publish_seed_style(r, "EXT-1", 33.75, -84.39, 42.0, 135.0)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["EXT-1"])["unit"]["EXT-1"] is not None, timeout=10_000)
    u = page_state(qtbot, app, ["EXT-1"])["unit"]["EXT-1"]
    assert u["lat"] == pytest.approx(33.75) and u["lng"] == pytest.approx(-84.39)
    assert u["heading"] == pytest.approx(135.0) and u["speed"] == pytest.approx(42.0)
    assert u["status"] == "available" and not u["stale"]


def test_batch_path_delivers_many_units_in_few_calls(qtbot, app, redis_url):
    calls = []
    app.bridge.fleetBatch.connect(lambda text: calls.append(len(orjson.loads(text)["codes"])))
    client = make_redis(redis_url)
    store = LiveStore(client)
    t = time.time()
    positions = [Position(f"PC-{i:04d}", 33.70 + (i % 50) * 0.002, -84.45 + (i // 50) * 0.002, 30.0, 0.0, t)
                 for i in range(2000)]
    run_coro(qtbot, store.update_car_locations(positions))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 2000, timeout=15_000)
    assert sum(calls) >= 2000
    assert len(calls) <= 6, f"{len(calls)} bridge calls for one tick of 2000 units"
    run_coro(qtbot, client.aclose())


def double_click(target, pos):
    """A double-click as the window system delivers it: press, release, double-click, release.

    (QTest.mouseDClick sends only part of this; Chromium then sees a single mousedown.)
    """
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick,
                 QEvent.Type.MouseButtonRelease):
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else left
        QApplication.sendEvent(target, QMouseEvent(kind, QPointF(pos), QPointF(target.mapToGlobal(pos)), left,
                                                   buttons, none))


def test_click_fills_nearby_in_geodesic_order(qtbot, app, redis_url):
    client = make_redis(redis_url)
    store = LiveStore(client)
    t = time.time()
    positions = []
    for i in range(60):
        lat, lng = geo.destination_point(*ATL, (i * 53) % 360, 0.05 + i * 0.07)
        positions.append(Position(f"NB-{i:02d}", lat, lng, 20.0 + i % 30, (i * 7) % 360, t))
    run_coro(qtbot, store.update_car_locations(positions))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 60, timeout=10_000)
    # centre the map on ATL, then click the exact centre of the map widget
    app.bridge.centerRequested.emit(orjson.dumps({"lat": ATL[0], "lng": ATL[1], "zoom": 13}).decode())
    qtbot.waitUntil(lambda: abs(page_state(qtbot, app)["center"][0] - ATL[0]) < 1e-6, timeout=5000)
    target = app.view.focusProxy() or app.view
    centre = QPoint(target.width() // 2, target.height() // 2)
    with qtbot.waitSignal(app.desk.nearby.nearbyUpdated, timeout=10_000) as blocker:
        QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
    rows = blocker.args[0]
    lat, lng = app.desk.session.pin
    assert abs(lat - ATL[0]) < 0.002 and abs(lng - ATL[1]) < 0.002  # within a pixel or two of the centre
    wgs = Geodesic.WGS84
    expected = sorted(
        (wgs.Inverse(lat, lng, p.lat, p.lng)["s12"] / 1000, p.car_id) for p in positions
    )
    ref = {cid: d for d, cid in expected}
    within = {cid for d, cid in expected if d <= 3.0 * 0.995}
    edge = {cid for d, cid in expected if 3.0 * 0.995 < d <= 3.0 * 1.005}
    got_ids = [r.car_id for r in rows]
    assert len(within) >= 30
    assert within <= set(got_ids) <= within | edge
    for a, b in itertools.pairwise(got_ids):  # nearest first, by the geodesic (sphere vs ellipsoid < 0.5 %)
        assert ref[a] <= ref[b] * 1.005 + 1e-6, (a, b)
    for r in rows:
        assert r.distance_km == pytest.approx(ref[r.car_id], rel=0.005, abs=1e-4)
    assert "straight-line" in app.window.nearby.header.text()
    # without an imported map: no drive times, nothing recommended or pre-selected (issue 14)
    assert all(r.drive_s is None and not r.recommended for r in rows)
    assert app.window.nearby.recommended == "" and app.window.nearby.selected_ids() == []
    assert page_state(qtbot, app)["pin"]["lat"] == pytest.approx(lat)
    # Esc clears the pin
    app.window.escapePressed.emit()
    assert app.desk.session.pin is None
    qtbot.waitUntil(lambda: page_state(qtbot, app)["pin"] is None, timeout=5000)
    run_coro(qtbot, client.aclose())


def test_double_click_tracks_and_details_follow(qtbot, app, redis_url):
    r = producer(redis_url)
    publish_seed_style(r, "TRK-1", ATL[0], ATL[1], 33.0, 90.0)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["TRK-1"])["unit"]["TRK-1"] is not None, timeout=10_000)
    app.bridge.centerRequested.emit(orjson.dumps({"lat": ATL[0], "lng": ATL[1], "zoom": 14}).decode())

    def unit_on_screen():
        u = page_state(qtbot, app, ["TRK-1"])["unit"]["TRK-1"]
        return u if u["visible"] and abs(u["x"] - app.view.width() / 2) < 2 else None

    qtbot.waitUntil(lambda: unit_on_screen() is not None, timeout=5000)
    u = unit_on_screen()
    target = app.view.focusProxy() or app.view
    with qtbot.waitSignal(app.desk.tracking.trackingChanged, timeout=10_000,
                          check_params_cb=lambda cid: cid == "TRK-1"):
        double_click(target, QPoint(round(u["x"]), round(u["y"])))
    assert app.window.unit.title.text() == "TRK-1"
    assert app.window.unit.fields["speed"].text() == "33 mph"
    qtbot.waitUntil(lambda: page_state(qtbot, app)["tracked"] == "TRK-1", timeout=5000)
    # the next position updates the details
    lat2, lng2 = geo.destination_point(*ATL, 90.0, 0.02)
    publish_seed_style(r, "TRK-1", lat2, lng2, 47.0, 90.0)
    qtbot.waitUntil(lambda: app.window.unit.fields["speed"].text() == "47 mph", timeout=5000)
    assert app.window.unit.fields["heading"].text() == "90° E"
    st = page_state(qtbot, app, ["TRK-1"])
    assert st["trackedLabel"] == "TRK-1" and st["following"]
    assert st["unit"]["TRK-1"]["trail"] >= 2
    # the trail ends at the new fix (its ring keeps micro-degrees, the wire's precision)
    assert st["unit"]["TRK-1"]["trailEnd"] == pytest.approx([lat2, lng2], abs=1.01e-6)
    # the map follows: the unit (drawn moving on from its fix by dead reckoning) stays at the centre
    def centred():
        st = page_state(qtbot, app, ["TRK-1"])
        u = st["unit"]["TRK-1"]
        return abs(st["center"][0] - u["shownLat"]) < 5e-5 and abs(st["center"][1] - u["shownLng"]) < 5e-5 \
            and u["shownLng"] > lng2 - 1e-5   # and it is drawn at (or past) the new fix, not behind it

    qtbot.waitUntil(centred, timeout=5000)
    # Stop tracking
    app.window.unit.stop.click()
    qtbot.waitUntil(lambda: page_state(qtbot, app)["tracked"] is None, timeout=5000)
    assert app.window.unit.title.text() == "No unit tracked"


def test_stale_and_expired_units_change_state(qtbot, app, redis_url):
    r = producer(redis_url)
    now = time.time()
    publish_seed_style(r, "FRESH", 33.75, -84.39, ts=now)
    publish_seed_style(r, "FADED", 33.751, -84.39, ts=now - 20)
    publish_seed_style(r, "STALE", 33.752, -84.39, ts=now - 70)
    ids = ["FRESH", "FADED", "STALE"]
    qtbot.waitUntil(lambda: all(page_state(qtbot, app, ids)["unit"][i] for i in ids), timeout=10_000)
    units = page_state(qtbot, app, ids)["unit"]
    assert not units["FRESH"]["faded"] and not units["FRESH"]["stale"]
    assert units["FADED"]["faded"] and not units["FADED"]["stale"]
    assert units["STALE"]["stale"]
    # a fix older than the 300 s TTL: the unit is lost, off the map, marked in the Fleet panel
    publish_seed_style(r, "GONE", 33.753, -84.39, ts=now - 299.5)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["GONE"])["unit"]["GONE"] is not None, timeout=5000)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["GONE"])["unit"]["GONE"] is None, timeout=8000)
    qtbot.waitUntil(lambda: fleet_cell(app, "GONE", "Fix") == "lost", timeout=5000)
    assert fleet_cell(app, "FRESH", "Fix") == "live"
    assert fleet_cell(app, "STALE", "Fix") == "stale"


def fleet_cell(app, car_id, title):
    """What the Fleet table shows in one cell (as Qt would render it)."""
    model = app.window.fleet.model
    row = model.row_of(car_id)
    col = [c.title for c in model.columns].index(title)
    return model.data(model.index(row, col)) if row >= 0 else None


def test_hover_shows_call_sign_speed_heading_and_age(qtbot, app, redis_url):
    r = producer(redis_url)
    publish_seed_style(r, "HOV-1", ATL[0], ATL[1], 28.0, 247.0)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["HOV-1"])["unit"]["HOV-1"] is not None, timeout=10_000)
    app.bridge.centerRequested.emit(orjson.dumps({"lat": ATL[0], "lng": ATL[1], "zoom": 14}).decode())
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["HOV-1"])["unit"]["HOV-1"]["visible"], timeout=5000)
    u = page_state(qtbot, app, ["HOV-1"])["unit"]["HOV-1"]
    target = app.view.focusProxy() or app.view
    QTest.mouseMove(target, QPoint(round(u["x"]) + 30, round(u["y"]) + 30))
    QTest.mouseMove(target, QPoint(round(u["x"]), round(u["y"])))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["tooltip"] is not None, timeout=5000)
    tip = page_state(qtbot, app)["tooltip"]
    assert tip["title"] == "HOV-1"
    assert "28 mph" in tip["line"] and "247\u00b0 WSW " in tip["line"]
    assert "ago" in tip["line"] or "just now" in tip["line"]


def test_search_centres_on_unit(qtbot, app, redis_url):
    r = producer(redis_url)
    publish_seed_style(r, "SRCH-9", 33.80, -84.30)
    qtbot.waitUntil(lambda: "SRCH-9" in app.desk.fleet.units, timeout=10_000)
    app.window.focus_search()
    qtbot.keyClicks(app.window.search, "srch-9")
    qtbot.keyClick(app.window.search, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: abs(page_state(qtbot, app)["center"][0] - 33.80) < 1e-6, timeout=5000)
    assert "SRCH-9" in app.window.search_result.text()
    assert page_state(qtbot, app)["highlight"] == "SRCH-9"


def test_status_bar_and_fleet_panel(qtbot, app, redis_url):
    r = producer(redis_url)
    for i in range(5):
        publish_seed_style(r, f"SB-{i}", 33.75 + i * 0.001, -84.39)
    qtbot.waitUntil(lambda: app.window.st_units.text() == "Live units: 5", timeout=10_000)
    qtbot.waitUntil(lambda: app.window.st_redis.text() == "Redis: live", timeout=5000)
    qtbot.waitUntil(lambda: app.window.st_mongo.text().startswith("MongoDB: connected"), timeout=5000)
    qtbot.waitUntil(lambda: len(app.window.fleet.model.rows) == 5, timeout=5000)
    app.window.fleet.filter.setText("sb-3")
    assert [row.car_id for row in app.window.fleet.model.rows] == ["SB-3"]


def test_reloaded_page_gets_every_unit_again_with_a_new_code_table(qtbot, app, redis_url):
    r = producer(redis_url)
    for i in range(3):
        publish_seed_style(r, f"RL-{i}", 33.75 + i * 0.001, -84.39)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 3, timeout=10_000)
    with qtbot.waitSignal(app.view.ready, timeout=20_000):
        app.view.page().triggerAction(app.view.page().WebAction.Reload)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 3, timeout=10_000)
    publish_seed_style(r, "RL-3", 33.76, -84.39)   # a new unit, and a known one moving
    publish_seed_style(r, "RL-0", 33.7501, -84.3901)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["RL-0"])["unit"]["RL-0"]["lat"] == pytest.approx(33.7501),
                    timeout=10_000)
    st = page_state(qtbot, app)
    assert st["units"] == 4 and st["unknownCodes"] == 0 and st["errors"] == []


def test_batch_with_an_unknown_unit_code_is_skipped_and_counted(qtbot, app, redis_url):
    publish_seed_style(producer(redis_url), "UC-1", 33.75, -84.39)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 1, timeout=10_000)
    t = time.time()
    app.view.bridge.fleetBatch.emit(orjson.dumps({
        "seq": 10_000, "full": False, "reset": False, "sent": t, "flushed": t, "t0": float(int(t)),
        "newCodes": [], "newIds": [], "codes": [987_654], "lat0": 33_750_000, "lng0": -84_390_000,
        "lat": [0], "lng": [0], "hdg": [0], "spd": [0], "ts": [0], "gone": []}).decode())
    qtbot.waitUntil(lambda: page_state(qtbot, app)["unknownCodes"] == 1, timeout=5_000)
    st = page_state(qtbot, app)
    assert st["units"] == 1 and st["errors"] == []


def test_ten_thousand_units_stay_hoverable_clickable_and_double_clickable(qtbot, app, redis_url):
    """The issue's bar for 10,000 live units: the map draws them all and the dispatcher can still
    hover, click (nearby) and double-click (track) one of them."""
    client = make_redis(redis_url)
    store = LiveStore(client)
    t = time.time()
    grid = [(ATL[0] - 0.15 + (i // 100) * 0.003, ATL[1] - 0.15 + (i % 100) * 0.003) for i in range(10_500)]
    # one unit at ATL with ~3 km (~95 px at zoom 12, more than a cluster cell) of room around it, so it is
    # drawn on its own among the clusters the 9,999 others on a grid make
    grid = [p for p in grid if abs(p[0] - ATL[0]) > 0.03 or abs(p[1] - ATL[1]) > 0.03][:9_999]
    positions = [Position(f"G-{i:05d}", lat, lng, 30.0, (i * 7) % 360, t) for i, (lat, lng) in enumerate(grid)]
    positions.append(Position("BIG-T", ATL[0], ATL[1], 0.0, 45.0, t))
    run_coro(qtbot, store.update_car_locations(positions), timeout_ms=30_000)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 10_000, timeout=30_000)
    app.bridge.centerRequested.emit(orjson.dumps({"lat": ATL[0], "lng": ATL[1], "zoom": 12}).decode())

    last: dict = {}

    def target_centred():
        st = last["state"] = page_state(qtbot, app, ["BIG-T"])
        u = st["unit"]["BIG-T"]
        # thousands on screen (how many depends on the map's size in the window)
        return u if st["visible"] > 1_000 and u["visible"] and abs(u["x"] - app.view.width() / 2) < 2 else None

    try:
        qtbot.waitUntil(lambda: target_centred() is not None, timeout=10_000)
    except Exception:
        st = last.get("state", {})
        raise AssertionError(f"not centred: visible={st.get('visible')} size={st.get('size')} "
                             f"view={app.view.width()}x{app.view.height()} unit={st.get('unit')}") from None
    u = target_centred()
    density = last["state"]["density"]
    assert density["active"] and density["clusters"] > 20 and density["aggregated"] > 1_000, density
    assert u["drawn"] and not u["aggregated"]
    at = QPoint(round(u["x"]), round(u["y"]))
    target = app.view.focusProxy() or app.view
    # hover
    QTest.mouseMove(target, at + QPoint(40, 40))
    QTest.mouseMove(target, at)
    qtbot.waitUntil(lambda: (page_state(qtbot, app)["tooltip"] or {}).get("title") == "BIG-T", timeout=5000)
    # click: the incident is here, the unit is the nearest
    app.window.nearby.radius.setValue(6.0)
    with qtbot.waitSignal(app.desk.nearby.nearbyUpdated, timeout=10_000) as blocker:
        QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    rows = blocker.args[0]
    assert rows[0].car_id == "BIG-T" and rows[0].distance_km < 0.1 and len(rows) > 100
    # double-click: track it
    with qtbot.waitSignal(app.desk.tracking.trackingChanged, timeout=10_000,
                          check_params_cb=lambda cid: cid == "BIG-T"):
        double_click(target, at)
    assert page_state(qtbot, app)["errors"] == []
    run_coro(qtbot, client.aclose())


def test_background_notices_reach_the_banner_and_the_status_bar(qtbot, app):
    """What a background task reports on the error bus is shown; a server coming back hides the banner."""
    from cartrack_desktop.services.infra.errors import Level

    errors = app.desk.ctx.errors
    errors.report("sync", "MongoDB write failed: <b>not markup</b>", Level.ERROR)
    banner = app.window.banner
    assert banner.isVisible() and banner.text.text() == "sync: MongoDB write failed: <b>not markup</b>"
    assert app.window.statusBar().currentMessage() == banner.text.text()
    errors.report("Redis", "connected", Level.INFO)
    assert not banner.isVisible()
    assert app.window.statusBar().currentMessage() == "Redis: connected"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_without_a_gpu_the_window_loads_no_opengl_driver(qtbot, app):
    """Qt WebEngine asks OpenGL for the GPU's vendor at start-up; without a GPU that loaded Mesa's
    llvmpipe and LLVM (~60 MB resident) into the window's process for nothing (application.py)."""
    from cartrack_desktop.ui.application import has_gpu

    if has_gpu():
        pytest.skip("a GPU: OpenGL is meant to be used")
    assert app.view.is_ready      # the map page is up: Qt WebEngine has started
    threads = {p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm")}
    assert not [t for t in threads if t.startswith("llvmpipe")]
    maps = Path("/proc/self/maps").read_text()
    assert "libLLVM" not in maps and "swrast_dri" not in maps and "libgallium" not in maps
