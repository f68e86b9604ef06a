"""The map at fleet scale (issue 17): clusters zoomed out and labels zoomed in, what is never
aggregated, a cluster click, the status filter in the map, Nearby units and Fleet (remembered),
the tooltip kept inside the map, and --screenshot taken once the panels agree with the map.

Real window and QtWebEngine page, real Redis and MongoDB; units written through LiveStore as a
producer would. The page's own state (through the bridge) is checked, and pixels of the window.
"""

import math
import time

import orjson
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest

from cartrack_desktop.domain.models import Position, UnitStatus
from cartrack_desktop.domain.presentation import STATUS_COLORS
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.ui.jobs.map_filter import HIDDEN_STATUSES_KEY
from cartrack_desktop.ui.main_window import SETTINGS_APP, SETTINGS_ORG
from tests.ui.conftest import page_state, run_coro, run_js

pytestmark = pytest.mark.slow

ATL = (33.7490, -84.3880)
GRID_N = 30             # 30 x 30 units ...
GRID_STEP_DEG = 0.002   # ... ~200 m apart: ~6 px at zoom 12 (crowded), ~100 px at zoom 16 (apart)
STATION = (33.60, -84.60)   # six units parked at one spot, far from the grid
GREEN = QColor(STATUS_COLORS[UnitStatus.AVAILABLE])


def grid_positions(t: float) -> list[Position]:
    south, west = ATL[0] - GRID_N / 2 * GRID_STEP_DEG, ATL[1] - GRID_N / 2 * GRID_STEP_DEG
    return [Position(f"G-{r:02d}{c:02d}", round(south + r * GRID_STEP_DEG, 6), round(west + c * GRID_STEP_DEG, 6),
                     0.0, (r * 37 + c * 11) % 360, t) for r in range(GRID_N) for c in range(GRID_N)]


def station_positions(t: float) -> list[Position]:
    return [Position(f"ST-{k}", *STATION, 0.0, 90.0, t) for k in range(6)]


@pytest.fixture
def forget_filter():
    """The status filter is remembered in QSettings (shared by the tests of a session): start and end clean."""
    s = QSettings(SETTINGS_ORG, SETTINGS_APP)
    s.remove(HIDDEN_STATUSES_KEY)
    yield
    s = QSettings(SETTINGS_ORG, SETTINGS_APP)
    s.remove(HIDDEN_STATUSES_KEY)
    s.sync()


def start_app(launcher, redis_url, mongo_uri, mongo_db_name, **overrides):
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    return launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--no-simulator", **overrides)


@pytest.fixture
def app(launcher, redis_url, mongo_uri, mongo_db_name, forget_filter):
    return start_app(launcher, redis_url, mongo_uri, mongo_db_name)


def write_units(qtbot, redis_url, positions):
    client = make_redis(redis_url)
    run_coro(qtbot, LiveStore(client).update_car_locations(positions), timeout_ms=30_000)
    run_coro(qtbot, client.aclose())


def centre(qtbot, app, lat, lng, zoom):
    app.bridge.centerRequested.emit(orjson.dumps({"lat": lat, "lng": lng, "zoom": zoom}).decode())
    qtbot.waitUntil(lambda: (st := page_state(qtbot, app))["zoom"] == zoom
                    and abs(st["center"][0] - lat) < 1e-6 and abs(st["center"][1] - lng) < 1e-6, timeout=5000)


def settled_state(qtbot, app, ids=None, check=lambda st: True):
    """The page's state once a frame was drawn after the last change (its drawing counter moved on)."""
    first = page_state(qtbot, app)["drawn"]
    last = {}

    def ok():
        last["st"] = page_state(qtbot, app, ids)
        return last["st"]["drawn"] > first + 1 and check(last["st"])

    qtbot.waitUntil(ok, timeout=10_000)
    return last["st"]


def map_image(app) -> QImage:
    """The map as it is on the screen (its widget's area), in the page's CSS pixels."""
    view = app.view
    at = view.mapToGlobal(QPoint(0, 0))
    img = view.screen().grabWindow(0, at.x(), at.y(), view.width(), view.height()).toImage()
    assert not img.isNull()
    return img


def close_to(c: QColor, ref: QColor, tol: int = 40) -> bool:
    return abs(c.red() - ref.red()) + abs(c.green() - ref.green()) + abs(c.blue() - ref.blue()) <= tol


def whiteish(c: QColor) -> bool:
    return min(c.red(), c.green(), c.blue()) >= 225


# ---- density ------------------------------------------------------------------------------------
def test_clusters_zoomed_out_arrows_and_labels_zoomed_in(qtbot, app, redis_url):
    write_units(qtbot, redis_url, grid_positions(time.time()))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == GRID_N * GRID_N, timeout=15_000)
    # zoomed out: the grid is clusters, every unit on screen counted in one
    centre(qtbot, app, *ATL, 12)
    st = settled_state(qtbot, app, check=lambda s: s["density"]["clusters"] > 0)
    d = st["density"]
    # (a cell holding only a corner of the grid may have too few units to be a cluster)
    assert d["active"] and st["visible"] == GRID_N * GRID_N and d["aggregated"] >= 0.97 * GRID_N * GRID_N
    assert d["individual"] == st["visible"] - d["aggregated"]
    assert sum(c["n"] for c in d["clusterList"]) == d["aggregated"]
    assert all(c["byStatus"] == {"available": c["n"]} for c in d["clusterList"])
    # ... and on the screen: each disc is white inside and ringed in the status colour
    img = map_image(app)
    for c in d["clusterList"]:
        x, y, r = round(c["x"]), round(c["y"]), c["r"]
        if not (r < x < img.width() - r and r < y < img.height() - r):
            continue
        # white between the count and the ring (below the text, inside the ring's inner edge at r - 5.5)
        assert any(whiteish(img.pixelColor(x, y + dy)) for dy in range(7, math.ceil(r - 6))), c
        assert close_to(img.pixelColor(x, round(y - r + 3)), GREEN), (c, img.pixelColor(x, round(y - r + 3)).name())
    # zoomed in: no clusters, every unit on screen is an arrow of its own, labelled where there is room
    centre(qtbot, app, *ATL, 17)
    st = settled_state(qtbot, app, ids=[p.car_id for p in grid_positions(0)],
                       check=lambda s: not s["density"]["active"])
    d = st["density"]
    assert d["clusters"] == 0 and d["aggregated"] == 0 and d["individual"] == st["visible"] > 4
    shown = [u for u in st["unit"].values() if u["visible"]]
    assert shown and all(u["drawn"] and not u["aggregated"] for u in shown)
    img = map_image(app)
    for u in shown:
        x, y = round(u["x"]), round(u["y"])
        if 12 < x < img.width() - 12 and 12 < y < img.height() - 12:
            assert close_to(img.pixelColor(x, y), GREEN), (u["id"], img.pixelColor(x, y).name())
    labelled = {b["id"] for b in d["labels"]}
    assert {u["id"] for u in shown if 60 < u["x"] < img.width() - 90 and 20 < u["y"] < img.height() - 20} <= labelled


def test_labels_never_overlap(qtbot, app, redis_url):
    write_units(qtbot, redis_url, grid_positions(time.time()))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == GRID_N * GRID_N, timeout=15_000)
    for zoom in (15, 16):
        centre(qtbot, app, *ATL, zoom)
        st = settled_state(qtbot, app, ids=[p.car_id for p in grid_positions(0)],
                           check=lambda s: len(s["density"]["labels"]) > 10)
        labels = st["density"]["labels"]
        units = st["unit"]
        for k, a in enumerate(labels):
            u = units[a["id"]]
            assert u["drawn"] and u["labelled"], a
            # beside its unit: within a label's length of it
            assert a["x0"] - 40 <= u["x"] <= a["x1"] + 40 and a["y0"] - 30 <= u["y"] <= a["y1"] + 30, (a, u)
            for b in labels[k + 1:]:
                overlap = a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and b["y0"] < a["y1"]
                assert not overlap, (a, b)
        size = st["size"]
        assert all(0 <= b["x0"] and b["x1"] <= size[0] and 0 <= b["y0"] and b["y1"] <= size[1] for b in labels)


def test_tracked_dispatched_and_alarm_units_are_never_aggregated(qtbot, app, redis_url):
    write_units(qtbot, redis_url, grid_positions(time.time()))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == GRID_N * GRID_N, timeout=15_000)
    dispatch = app.desk.runtime.dispatch
    inc = run_coro(qtbot, dispatch.create_incident(*ATL, "Robbery", 1, ""))
    assert run_coro(qtbot, dispatch.dispatch(inc.incident_id, ["G-1010"]))[0].ok
    app.desk.tracking.track("G-0505")
    app.desk.channel.track("G-0505", follow=False)               # tracked, the map left where the test puts it
    app.desk.ctx.map_filter.always.set("alarm", ["G-2020"])     # as the alarm banner joins
    qtbot.waitUntil(lambda: app.desk.fleet.units["G-1010"].status is UnitStatus.DISPATCHED, timeout=5000)
    centre(qtbot, app, *ATL, 12)
    ids = ["G-1010", "G-0505", "G-2020", "G-1515"]
    st = settled_state(qtbot, app, ids=ids, check=lambda s: s["unit"]["G-1010"]["status"] == "dispatched"
                       and s["unit"]["G-2020"]["always"] and s["density"]["clusters"] > 0)
    u = st["unit"]
    assert u["G-1515"]["aggregated"]                     # an ordinary unit next to them is in a cluster
    for cid in ("G-1010", "G-0505", "G-2020"):
        assert u[cid]["visible"] and not u[cid]["aggregated"], (cid, u[cid])
    assert u["G-1010"]["drawn"] and u["G-2020"]["drawn"]   # the tracked one is the DOM marker on top
    assert st["trackedLabel"] == "G-0505"
    assert st["density"]["aggregated"] <= GRID_N * GRID_N - 3
    # the alarm is over: the unit aggregates again
    app.desk.ctx.map_filter.always.set("alarm", [])
    settled_state(qtbot, app, ids=["G-2020"], check=lambda s: s["unit"]["G-2020"]["aggregated"])


def test_cluster_click_zooms_in_or_lists_units_parked_together(qtbot, app, redis_url):
    t = time.time()
    write_units(qtbot, redis_url, grid_positions(t) + station_positions(t))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == GRID_N * GRID_N + 6, timeout=15_000)
    target = app.view.focusProxy() or app.view
    # a spread-out cluster: a click zooms in until it splits, and places no incident pin
    centre(qtbot, app, *ATL, 12)
    st = settled_state(qtbot, app, check=lambda s: s["density"]["clusters"] > 0)
    c = max(st["density"]["clusterList"], key=lambda c: c["n"])
    at = QPoint(round(c["x"]), round(c["y"]))
    QTest.mouseMove(target, at + QPoint(40, 40))
    QTest.mouseMove(target, at)
    qtbot.waitUntil(lambda: (page_state(qtbot, app)["tooltip"] or {}).get("title") == f"{c['n']} units here",
                    timeout=5000)
    tip = page_state(qtbot, app)["tooltip"]
    assert f"{c['n']} Available" in tip["line"] and "click to zoom in" in tip["line"]
    QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["zoom"] > 13, timeout=5000)
    assert app.desk.session.pin is None
    # units parked at one spot: no zoom would split them, so the click lists them
    centre(qtbot, app, *STATION, 12)
    st = settled_state(qtbot, app, check=lambda s: any(c["n"] == 6 for c in s["density"]["clusterList"]))
    c = next(c for c in st["density"]["clusterList"] if c["n"] == 6)
    QTest.mouseClick(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(round(c["x"]), round(c["y"])))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["clusterList"] is not None, timeout=5000)
    listed = page_state(qtbot, app)["clusterList"]
    assert listed["title"] == "6 units here"
    assert sorted(r["id"] for r in listed["rows"]) == [f"ST-{k}" for k in range(6)]
    box, size = listed["box"], page_state(qtbot, app)["size"]
    assert box["left"] >= 0 and box["top"] >= 0 and box["left"] + box["width"] <= size[0] \
        and box["top"] + box["height"] <= size[1]
    assert page_state(qtbot, app)["zoom"] == 12 and app.desk.session.pin is None
    # choosing one tracks it (a constant script clicks the list's first row, as the mouse would)
    first = listed["rows"][0]["id"]
    with qtbot.waitSignal(app.desk.tracking.trackingChanged, timeout=5000, check_params_cb=lambda cid: cid == first):
        run_js(qtbot, app, "document.querySelector('.ct-cluster-list-row').click(); true")
    assert page_state(qtbot, app)["clusterList"] is None


# ---- the status filter ---------------------------------------------------------------------------
def _fleet_ids(app) -> set[str]:
    return {u.car_id for u in app.window.fleet.model.rows}


def test_status_filter_applies_to_map_nearby_and_fleet_and_is_remembered(qtbot, launcher, redis_url, mongo_uri,
                                                                          mongo_db_name, forget_filter):
    app = start_app(launcher, redis_url, mongo_uri, mongo_db_name)
    write_units(qtbot, redis_url, grid_positions(time.time()))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == GRID_N * GRID_N, timeout=15_000)
    out = ["G-1414", "G-1415", "G-1514", "G-1515"]           # next to the centre, out of service
    dispatch = app.desk.runtime.dispatch
    for cid in out:
        assert run_coro(qtbot, dispatch.set_out_of_service(cid, True)).ok
    qtbot.waitUntil(lambda: all(app.desk.fleet.units[c].status is UnitStatus.OUT_OF_SERVICE for c in out),
                    timeout=5000)
    app.desk.session.place_pin(*ATL)
    qtbot.waitUntil(lambda: set(out) <= {r.car_id for r in app.window.nearby.model.rows}, timeout=5000)
    qtbot.waitUntil(lambda: set(out) <= _fleet_ids(app), timeout=5000)
    # hide "Out of service" from the toolbar's menu
    button = app.window.status_filter
    assert button.text() == "Showing all statuses"
    button.actions_by_status[UnitStatus.OUT_OF_SERVICE].trigger()
    assert button.text() == "Hiding Out of service"
    centre(qtbot, app, *ATL, 16)
    st = settled_state(qtbot, app, ids=[*out, "G-1313"], check=lambda s: s["density"]["hidden"] == ["out_of_service"])
    assert all(not st["unit"][c]["drawn"] and not st["unit"][c]["aggregated"] for c in out)   # map
    assert st["unit"]["G-1313"]["drawn"]
    qtbot.waitUntil(lambda: not set(out) & {r.car_id for r in app.window.nearby.model.rows}, timeout=5000)  # Nearby
    assert "hiding Out of service (status filter)" in app.window.nearby.header.text()
    assert not set(out) & _fleet_ids(app) and len(_fleet_ids(app)) == GRID_N * GRID_N - 4               # Fleet
    assert app.window.fleet.summary.text().startswith(f"{GRID_N * GRID_N - 4} shown")
    # zoomed out, the hidden units are not counted in any cluster either
    centre(qtbot, app, *ATL, 12)
    st = settled_state(qtbot, app, check=lambda s: s["density"]["clusters"] > 0)
    assert st["density"]["aggregated"] == GRID_N * GRID_N - 4
    assert all("out_of_service" not in c["byStatus"] for c in st["density"]["clusterList"])
    # a unit in alarm (always shown) is listed and drawn whatever the filter; so is the tracked unit
    app.desk.ctx.map_filter.always.set("alarm", ["G-1415"])
    qtbot.waitUntil(lambda: "G-1415" in _fleet_ids(app), timeout=5000)
    qtbot.waitUntil(lambda: "G-1415" in {r.car_id for r in app.window.nearby.model.rows}, timeout=5000)
    st = settled_state(qtbot, app, ids=["G-1415"], check=lambda s: s["unit"]["G-1415"]["drawn"])
    app.desk.ctx.map_filter.always.set("alarm", [])
    qtbot.waitUntil(lambda: "G-1415" not in _fleet_ids(app), timeout=5000)
    app.desk.tracking.track("G-1414")
    app.desk.channel.track("G-1414", follow=False)
    st = settled_state(qtbot, app, ids=["G-1414"], check=lambda s: s["unit"]["G-1414"]["visible"])
    assert st["tracked"] == "G-1414" and "G-1414" in _fleet_ids(app)
    app.desk.session.stop_tracking()
    launcher.stop(app)
    # remembered: the next run starts with the same filter, in all three places
    again = start_app(launcher, redis_url, mongo_uri, mongo_db_name)
    assert again.window.status_filter.text() == "Hiding Out of service"
    assert not again.window.status_filter.actions_by_status[UnitStatus.OUT_OF_SERVICE].isChecked()
    qtbot.waitUntil(lambda: page_state(qtbot, again)["density"]["hidden"] == ["out_of_service"], timeout=5000)
    qtbot.waitUntil(lambda: len(_fleet_ids(again)) == GRID_N * GRID_N - 4, timeout=10_000)
    again.window.status_filter.menu().actions()[-1].trigger()     # "Show all"
    assert again.window.status_filter.text() == "Showing all statuses"
    qtbot.waitUntil(lambda: page_state(qtbot, again)["density"]["hidden"] == [], timeout=5000)
    qtbot.waitUntil(lambda: len(_fleet_ids(again)) == GRID_N * GRID_N, timeout=5000)


# ---- tooltip ---------------------------------------------------------------------------------------
def _deg_per_px(zoom: int) -> float:
    return 360.0 / (256 * 2 ** zoom)


@pytest.mark.parametrize("corner", ["right", "bottom-right"])
def test_tooltip_stays_inside_the_map(qtbot, app, redis_url, corner):
    unit = ("EDGE-1", 33.75, -84.39)
    write_units(qtbot, redis_url, [Position(*unit, 0.0, 90.0, time.time())])   # parked: it stays at the edge
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 1, timeout=10_000)
    zoom = 16
    size = page_state(qtbot, app)["size"]
    d = _deg_per_px(zoom)
    # the map centred so that the unit is drawn 6 px from the right (and bottom) edge
    lng = unit[2] - (size[0] / 2 - 6) * d
    lat = unit[1] + ((size[1] / 2 - 6) * d * math.cos(math.radians(unit[1])) if corner == "bottom-right" else 0.0)
    centre(qtbot, app, lat, lng, zoom)
    u = settled_state(qtbot, app, ids=["EDGE-1"], check=lambda s: s["unit"]["EDGE-1"]["visible"])["unit"]["EDGE-1"]
    assert u["x"] > size[0] - 15 and (u["y"] > size[1] - 15 if corner == "bottom-right" else True), u
    target = app.view.focusProxy() or app.view
    at = QPoint(round(u["x"]), round(u["y"]))
    QTest.mouseMove(target, at - QPoint(40, 40))
    QTest.mouseMove(target, at)
    qtbot.waitUntil(lambda: (page_state(qtbot, app)["tooltip"] or {}).get("title") == "EDGE-1", timeout=5000)
    box = page_state(qtbot, app)["tooltip"]["box"]
    assert box["left"] >= 0 and box["top"] >= 0, box
    assert box["left"] + box["width"] <= size[0] and box["top"] + box["height"] <= size[1], (box, size)
    assert box["left"] + box["width"] <= u["x"]          # flipped to the left of the unit
    if corner == "bottom-right":
        assert box["top"] + box["height"] <= u["y"]      # and above it
    # the tooltip really is there on the screen, inside the map: its dark box under its middle (waited
    # for: the X server's copy of the web view can be a frame behind the page that reported the tooltip)
    def on_screen() -> None:
        mid = map_image(app).pixelColor(box["left"] + box["width"] // 2, box["top"] + 2)
        assert max(mid.red(), mid.green(), mid.blue()) < 90, mid.name()

    qtbot.waitUntil(on_screen, timeout=3000)


# ---- --screenshot ------------------------------------------------------------------------------------
def test_screenshot_is_taken_once_the_panels_show_what_the_map_draws(qtbot, launcher, redis_url, mongo_uri,
                                                                     mongo_db_name, forget_filter, tmp_path):
    shot = tmp_path / "window.png"
    app = start_app(launcher, redis_url, mongo_uri, mongo_db_name, screenshot=shot)
    reports = []
    window = app.window
    window.docks["fleet"].raise_()   # the Fleet tab in front (an earlier test's saved layout may have another)
    seen = {}   # each widget as it was when the picture was taken (a notice may change the layout later)

    def on_saved(report):
        reports.append(report)
        for widget in (window.st_units, window.fleet.summary):
            if widget.isVisible() and not widget.visibleRegion().isEmpty():
                seen[widget] = (widget.mapTo(window, QPoint(0, 0)), widget.grab().toImage())

    app.desk.screenshots.saved.connect(on_saved)
    t = time.time()
    units = grid_positions(t) + [Position(f"X-{k:04d}", 33.9 + (k // 50) * 0.002, -84.5 + (k % 50) * 0.002,
                                          20.0, 0.0, t) for k in range(2100)]   # 3,000, in three ticks
    write_units(qtbot, redis_url, units[:1000])
    qtbot.waitUntil(lambda: app.desk.frames.units_drawn, timeout=15_000)   # the map shows the first ones ...
    for k in range(1000, len(units), 1000):                                 # ... while the rest arrive
        write_units(qtbot, redis_url, units[k:k + 1000])
    qtbot.waitUntil(lambda: bool(reports), timeout=60_000)
    r = reports[0]
    assert r.saved and r.consistent, r
    assert r.on_map == 3000 and r.status_text == "Live units: 3000" and "· 3000 live" in r.fleet_text
    assert page_state(qtbot, app)["units"] == 3000
    # the picture shows those texts: the status bar field and the Fleet summary as they rendered when it
    # was taken (grabbed in the same call that saved it)
    img = QImage(str(shot))
    assert window.st_units in seen and window.fleet.summary in seen
    for widget, (at, grabbed) in seen.items():
        crop = img.copy(at.x(), at.y(), grabbed.width(), grabbed.height())
        ref = grabbed.convertToFormat(crop.format())
        differ = sum(crop.pixelColor(x, y) != ref.pixelColor(x, y)
                     for x in range(ref.width()) for y in range(ref.height()))
        assert differ == 0, (widget.objectName(), differ)   # one digit of another count differs in ~10 pixels
