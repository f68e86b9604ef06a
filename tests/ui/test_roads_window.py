"""Roads in the window (issue 14): Nearby by drive time, Recommend and Ctrl+D, the route drawn, the ETA.

The synthetic city is imported into the window's data directory first; units are real (an outside
producer writes their fixes), so their positions are exactly where the test puts them.
"""

import time

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from cartrack_desktop.domain.models import Position, UnitStatus
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore
from tests.helpers.mapdata import import_map
from tests.helpers.synthetic_city import build_city, grid_point
from tests.ui.conftest import page_state, run_coro

pytestmark = pytest.mark.slow


@pytest.fixture
def roads_app(launcher, tmp_path, redis_url, mongo_uri, mongo_db_name):
    city = build_city(tmp_path / "city.osm.pbf", rows=12, cols=12, buildings=False, addresses=False)
    import_map(city.path, tmp_path / "data0")          # the launcher's first app uses data0
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    app = launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--no-simulator")
    return app, city


def test_nearby_by_drive_time_recommend_ctrl_d_route_and_eta(qtbot, roads_app, redis_url):
    app, city = roads_app
    qtbot.waitUntil(lambda: app.desk.runtime.roads.router is not None, timeout=20_000)
    r = city.river_row                                  # the river runs between rows r and r + 1
    pin = grid_point(r, 11, r)                          # south bank, east end (bridges at columns 2, 6, 7)
    t = time.time()
    units = [
        Position("ACROSS", *grid_point(r + 1, 10.5, r), 25.0, 90.0, t),    # just across the river: nearest
        Position("SAMEBANK", *grid_point(r, 6.5, r), 25.0, 90.0, t),       # farther, on the pin's bank
        Position("OOS", *grid_point(r, 10.5, r), 25.0, 90.0, t),           # nearest by road, out of service
        Position("FAR", *grid_point(r - 3, 3.5, r), 25.0, 90.0, t),
    ]
    client = make_redis(redis_url)
    run_coro(qtbot, LiveStore(client).update_car_locations(units))
    qtbot.waitUntil(lambda: all(u.car_id in app.desk.fleet.units for u in units), timeout=10_000)
    result = run_coro(qtbot, app.desk.runtime.dispatch.set_out_of_service("OOS", True))
    assert result.ok
    qtbot.waitUntil(lambda: app.desk.fleet.units["OOS"].status is UnitStatus.OUT_OF_SERVICE, timeout=5000)

    nearby = app.window.nearby
    with qtbot.waitSignal(app.desk.nearby.nearbyUpdated, timeout=10_000) as blocker:
        app.desk.session.place_pin(*pin)
    rows = {row.car_id: row for row in blocker.args[0]}
    order = [row.car_id for row in blocker.args[0]]
    assert rows["ACROSS"].distance_km < rows["SAMEBANK"].distance_km          # straight-line: across is nearer
    assert order.index("SAMEBANK") < order.index("ACROSS")                    # by road: the river's detour
    assert rows["ACROSS"].drive_s > rows["SAMEBANK"].drive_s + 30
    assert order[0] == "OOS"                                                  # nearest by road, but not available
    assert rows["SAMEBANK"].recommended and not rows["OOS"].recommended
    assert "drive time" in nearby.header.text()
    # a radius that leaves out units a few minutes away by road: they are listed anyway, by drive time
    with qtbot.waitSignal(app.desk.nearby.nearbyUpdated, timeout=10_000,
                          check_params_cb=lambda got: "FAR" in {x.car_id for x in got}) as small:
        nearby.radius.setValue(0.3)
    beyond = {row.car_id: row for row in small.args[0]}
    assert beyond["FAR"].distance_km > 0.3 and beyond["SAMEBANK"].distance_km > 0.3
    assert beyond["FAR"].drive_s is not None and beyond["FAR"].drive_order == 0
    assert beyond["SAMEBANK"].recommended and "min by road" in nearby.header.text()
    with qtbot.waitSignal(app.desk.nearby.nearbyUpdated, timeout=10_000):
        nearby.radius.setValue(3.0)
    qtbot.waitUntil(lambda: nearby.selected_ids() == ["SAMEBANK"], timeout=3000)   # pre-selected
    assert nearby.model.data(nearby.model.index(nearby.model.row_of("SAMEBANK"), 1)).startswith("★")

    # Ctrl+D with nothing selected: the incident form first, then the recommended unit is dispatched
    nearby.table.clearSelection()
    app.desk.dispatching.dispatch_shortcut()
    qtbot.waitUntil(lambda: app.desk.incidents.dialog is not None, timeout=3000)
    ok = app.desk.incidents.dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(app.desk.dispatching.dispatched, timeout=10_000) as done:
        ok.click()
    assert [res.car_id for res in done.args[0] if res.ok] == ["SAMEBANK"]

    # the route on the map in the unit's status colour, along the pin's bank, ending at the pin
    def route():
        return (page_state(qtbot, app).get("routes") or {}).get("SAMEBANK")
    qtbot.waitUntil(lambda: route() is not None, timeout=10_000)
    drawn = route()
    assert drawn["status"] == "dispatched" and drawn["color"].lower() == "#f9a825"
    assert drawn["end"] == pytest.approx(list(pin), abs=2e-5)
    active = app.desk.routes.book.routes["SAMEBANK"]
    assert all(lat < grid_point(r + 0.5, 0, r)[0] for lat, _lng in active.route.points)   # never over the river
    assert active.route.distance_m == pytest.approx(4.5 * 110, rel=0.05)
    # Unit details: road distance and an ETA counting down
    app.desk.tracking.track("SAMEBANK")
    scene = app.window.unit.fields["scene"]
    qtbot.waitUntil(lambda: "by road" in scene.text() and "ETA" in scene.text(), timeout=5000)
    first = scene.text()
    qtbot.waitUntil(lambda: scene.text() != first, timeout=5000)          # the countdown ticks
    # the incident timeline records the ETA given at dispatch
    inc = app.desk.runtime.dispatch.incidents[app.desk.session.active_incident]
    assigned = [e for e in inc.timeline if e.kind == "unit assigned" and e.car_id == "SAMEBANK"]
    assert assigned and "by road" in assigned[0].note and "free-flow" in assigned[0].note
    run_coro(qtbot, client.aclose())
