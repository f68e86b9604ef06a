"""The dispatch workflow in the window, as a dispatcher does it, against real servers."""

import datetime as dt
import time

import pytest
from pymongo import MongoClient
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from cartrack_desktop.domain import geo
from cartrack_desktop.domain.models import UnitStatus
from cartrack_desktop.services.history.shards import shard_of
from tests.ui.conftest import page_state

pytestmark = pytest.mark.slow


def start(launcher, redis_url, mongo_uri, db, *extra, name=None):
    uri = mongo_uri.replace("/?", f"/{db}?")
    args = ["--redis-url", redis_url, "--mongo-uri", uri, *extra]
    if name:
        args += ["--dispatcher", name]
    return launcher.start(*args)


def live_position(qtbot, app, car_id):
    qtbot.waitUntil(lambda: (u := app.desk.fleet.units.get(car_id)) is not None and u.position is not None,
                    timeout=15_000)
    return app.desk.fleet.units[car_id].position


def create_incident_via_dialog(qtbot, app, kind="Burglary", priority_index=0, notes="rear door"):
    nearby = app.window.nearby
    qtbot.waitUntil(nearby.create_button.isEnabled, timeout=5000)
    nearby.create_button.click()
    qtbot.waitUntil(lambda: app.desk.incidents.dialog is not None, timeout=3000)
    dialog = app.desk.incidents.dialog
    dialog.kind.setCurrentText(kind)
    dialog.priority.setCurrentIndex(priority_index)
    dialog.notes.setPlainText(notes)
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(app.desk.incidents.incidentCreated, timeout=5000) as blocker:
        ok.click()
    return blocker.args[0]


def test_dispatch_a_unit_watch_it_arrive_then_clear(qtbot, launcher, redis_url, mongo_uri, mongo_db_name):
    app = start(launcher, redis_url, mongo_uri, mongo_db_name, "--cars", "3", "--seed", "11")
    pos = live_position(qtbot, app, "PC-002")
    scene = geo.destination_point(pos.lat, pos.lng, 120.0, 0.2)
    app.desk.session.place_pin(*scene)           # as a click on the map does
    qtbot.waitUntil(lambda: any(r.car_id == "PC-002" for r in app.window.nearby.model.rows), timeout=5000)
    incident = create_incident_via_dialog(qtbot, app, "Traffic collision", 1, "two cars, one injured")
    assert app.desk.session.active_incident == incident
    qtbot.waitUntil(lambda: incident in page_state(qtbot, app)["incidents"], timeout=5000)
    # select the unit in Nearby units and press Dispatch
    nearby = app.window.nearby
    row = nearby.model.row_of("PC-002")
    nearby.table.selectRow(row)
    with qtbot.waitSignal(app.desk.dispatching.dispatched, timeout=5000) as blocker:
        nearby.dispatch_button.click()
    assert all(r.ok for r in blocker.args[0])
    app.desk.tracking.track("PC-002")
    qtbot.waitUntil(lambda: app.desk.fleet.units["PC-002"].status in (UnitStatus.EN_ROUTE,), timeout=5000)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-002"])["unit"]["PC-002"]["status"] == "en_route",
                    timeout=5000)
    assert "ETA" in app.window.unit.fields["scene"].text() and "estimate" in app.window.unit.fields["scene"].text()
    assert app.window.unit.fields["incident"].text() == incident
    with qtbot.waitSignal(app.desk.arrivals.arrived, timeout=40_000):
        pass
    assert app.desk.fleet.units["PC-002"].status is UnitStatus.ON_SCENE
    assert "on scene" in app.window.banner.text.text()
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-002"])["unit"]["PC-002"]["status"] == "on_scene",
                    timeout=5000)
    timeline = app.window.incidents.timeline.toPlainText()
    assert "unit assigned PC-002" in timeline and "on scene PC-002" in timeline
    # Clear: Available, and back on patrol
    qtbot.waitUntil(app.window.unit.clear.isEnabled, timeout=3000)
    app.window.unit.clear.click()
    qtbot.waitUntil(lambda: app.desk.fleet.units["PC-002"].status is UnitStatus.AVAILABLE, timeout=5000)
    qtbot.waitUntil(lambda: app.desk.runtime.simulator.units["PC-002"].mode.value == "patrol", timeout=5000)
    # the audit log shows what happened
    app.desk.audit.refresh()
    qtbot.waitUntil(lambda: {"incident.create", "unit.dispatch", "unit.arrive", "unit.clear"}
                    <= {e.action for e in app.window.audit.model.rows}, timeout=10_000)


def test_two_windows_share_incidents_and_statuses(qtbot, launcher, redis_url, mongo_uri, mongo_db_name):
    a = start(launcher, redis_url, mongo_uri, mongo_db_name, "--cars", "3", "--seed", "2", name="alice")
    b = start(launcher, redis_url, mongo_uri, mongo_db_name, "--cars", "3", "--seed", "2", name="bob")
    pos = live_position(qtbot, a, "PC-001")
    live_position(qtbot, b, "PC-001")
    a.desk.session.place_pin(pos.lat + 0.01, pos.lng)
    inc_a = create_incident_via_dialog(qtbot, a, "Robbery", 0, "")
    t0 = time.monotonic()
    qtbot.waitUntil(lambda: b.window.incidents.model.row_of(inc_a) >= 0, timeout=2000)
    assert time.monotonic() - t0 < 2.0
    # bob opens another incident and both try to send PC-001
    b.desk.session.place_pin(pos.lat - 0.01, pos.lng)
    inc_b = create_incident_via_dialog(qtbot, b, "Assault", 0, "")
    qtbot.waitUntil(lambda: a.window.incidents.model.row_of(inc_b) >= 0, timeout=2000)
    with qtbot.waitSignal(a.desk.dispatching.dispatched, timeout=5000) as first:
        a.desk.dispatching.dispatch_selected(["PC-001"])
    assert first.args[0][0].ok
    qtbot.waitUntil(lambda: b.desk.fleet.units["PC-001"].status is not UnitStatus.AVAILABLE, timeout=2000)
    qtbot.waitUntil(lambda: page_state(qtbot, b, ["PC-001"])["unit"]["PC-001"]["status"] != "available",
                    timeout=2000)
    notices = []
    b.desk.notices.notice.connect(notices.append)
    # bob's registry names the unit (it loads in the background; on a busy machine after the first fixes)
    qtbot.waitUntil(b.desk.runtime.fleet.loaded.is_set, timeout=15_000)
    with qtbot.waitSignal(b.desk.dispatching.dispatched, timeout=5000) as second:
        b.desk.dispatching.dispatch_selected(["PC-001"])
    result = second.args[0][0]
    assert not result.ok
    assert "Adam-1" in result.message and inc_a in result.message and "alice" in result.message
    assert any(result.message in n for n in notices)       # shown to bob

    qtbot.waitUntil(lambda: "Adam-1" in b.window.incidents.model.rows[
        b.window.incidents.model.row_of(inc_a)].units_text, timeout=2000)
    assert inc_b not in {a.incident_id for a in b.desk.runtime.dispatch.statuses.values()}



def test_fleet_editor_add_invalid_then_valid_remove_and_service(qtbot, launcher, redis_url, mongo_uri,
                                                               mongo_db_name):
    app = start(launcher, redis_url, mongo_uri, mongo_db_name, "--cars", "2")
    live_position(qtbot, app, "PC-001")
    editor, notices = app.desk.fleet_editor, app.desk.notices
    app.window.fleet.add.click()
    qtbot.waitUntil(lambda: editor.add_dialog is not None, timeout=3000)
    dlg = editor.add_dialog
    for car_id, sign, expected in (("bad id!", "Zulu-1", "Unit id"), ("PC-077", "", "Call sign"),
                                   ("PC-001", "Zulu-1", "already registered"), ("PC-077", "Adam-1", "in use")):
        dlg.car_id.setText(car_id)
        dlg.call_sign.setText(sign)
        with qtbot.waitSignal(notices.notice, timeout=5000):
            dlg.buttons.accepted.emit()
        assert expected in dlg.error.text(), (car_id, dlg.error.text())
        assert dlg.isVisible()
    dlg.car_id.setText("PC-077")
    dlg.call_sign.setText("Zulu-1")
    with qtbot.waitSignal(notices.notice, timeout=5000):
        dlg.buttons.accepted.emit()
    qtbot.waitUntil(lambda: editor.add_dialog is None, timeout=3000)
    qtbot.waitUntil(lambda: "PC-077" in app.desk.runtime.simulator.units, timeout=3000)
    qtbot.waitUntil(lambda: app.window.fleet.model.row_of("PC-077") >= 0, timeout=5000)
    qtbot.waitUntil(lambda: (page_state(qtbot, app, ["PC-077"])["unit"]["PC-077"] or {}).get("sign") == "Zulu-1",
                    timeout=5000)
    # out of service and back
    fleet = app.window.fleet
    fleet.table.selectRow(fleet.model.row_of("PC-077"))
    fleet.service.click()
    qtbot.waitUntil(lambda: app.desk.fleet.units["PC-077"].status is UnitStatus.OUT_OF_SERVICE, timeout=3000)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-077"])["unit"]["PC-077"]["status"] == "out_of_service",
                    timeout=3000)
    fleet.table.selectRow(fleet.model.row_of("PC-077"))
    qtbot.waitUntil(lambda: fleet.service.text() == "Back in service", timeout=3000)
    fleet.service.click()
    qtbot.waitUntil(lambda: app.desk.fleet.units["PC-077"].status is UnitStatus.AVAILABLE, timeout=3000)
    # remove (after confirming)
    fleet.table.selectRow(fleet.model.row_of("PC-077"))
    fleet.remove.click()
    box = app.window.findChild(QMessageBox, "confirmRemove")
    qtbot.waitUntil(lambda: app.window.findChild(QMessageBox, "confirmRemove") is not None, timeout=3000)
    box = app.window.findChild(QMessageBox, "confirmRemove")
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: "PC-077" not in app.desk.runtime.fleet, timeout=5000)
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-077"])["unit"]["PC-077"] is None, timeout=5000)
    assert MongoClient(mongo_uri)[mongo_db_name].cars.find_one({"_id": "PC-077"}) is None


def test_history_replay_moves_a_marker_along_the_track(qtbot, launcher, redis_url, mongo_uri, mongo_db_name):
    now = time.time()
    start_pt = (33.75, -84.40)
    docs = []
    for i in range(12):   # two minutes of history, every 10 s, heading east at ~40 mph
        lat, lng = geo.destination_point(*start_pt, 90.0, i * 0.18)
        t = now - 600 + i * 10
        docs.append({"_id": f"{i}:{shard_of('PC-001')}", "cycle": i, "shard": shard_of("PC-001"),
                     "ts": dt.datetime.fromtimestamp(t + 1, tz=dt.UTC), "n": 1, "car_id": ["PC-001"], "t": [t],
                     "lat": [lat], "lng": [lng], "speed": [40.0], "heading": [90.0]})
    db = MongoClient(mongo_uri)[mongo_db_name]
    db.location_buckets.insert_many(docs)
    app = start(launcher, redis_url, mongo_uri, mongo_db_name, "--cars", "2")
    live_position(qtbot, app, "PC-001")
    app.desk.tracking.track("PC-001")
    with qtbot.waitSignal(app.desk.replay.replayLoaded, timeout=10_000) as blocker:
        app.window.unit.replay.click()
    assert blocker.args[0] == 12
    qtbot.waitUntil(lambda: (page_state(qtbot, app)["replay"] or {}).get("points") == 12, timeout=5000)
    replay = app.window.replay
    replay.slider.setValue(6)
    qtbot.waitUntil(lambda: abs(page_state(qtbot, app)["replay"]["at"][1] - docs[6]["lng"][0]) < 1e-9, timeout=3000)
    assert "40 mph" in replay.info.text() and "fix 7 of 12" in replay.info.text()
    replay.speed.setCurrentIndex(replay.speed.count() - 1)   # 20x
    replay.play.click()
    qtbot.waitUntil(lambda: replay.slider.value() >= 8, timeout=5000)
    assert page_state(qtbot, app)["tracked"] == "PC-001"    # live tracking continues meanwhile
    replay.play.click()
    replay.clear.click()
    qtbot.waitUntil(lambda: page_state(qtbot, app)["replay"] is None, timeout=3000)


def test_two_windows_automatic_transitions_are_the_systems_and_both_show_the_shared_sync(
        qtbot, launcher, redis_url, mongo_uri, mongo_db_name):
    """Issue 17 §5 and §6, as two dispatchers see it: alice dispatches; the en route and on scene that
    follow are the system's (with the instance that saw them) in both windows' timeline and in the
    audit log, never bob's or alice's; and both status bars show the last sync and who wrote it."""
    a = start(launcher, redis_url, mongo_uri, mongo_db_name, "--cars", "3", "--seed", "4", name="alice")
    b = start(launcher, redis_url, mongo_uri, mongo_db_name, "--cars", "3", "--seed", "4", name="bob")
    instances = {a.desk.runtime.instance, b.desk.runtime.instance}
    assert len(instances) == 2
    pos = live_position(qtbot, a, "PC-002")
    live_position(qtbot, b, "PC-002")
    scene = geo.destination_point(pos.lat, pos.lng, 60.0, 0.15)   # ~150 m: a few seconds' drive
    a.desk.session.place_pin(*scene)
    incident = create_incident_via_dialog(qtbot, a, "Alarm", 1, "")
    with qtbot.waitSignal(a.desk.dispatching.dispatched, timeout=5000) as done:
        a.desk.dispatching.dispatch_selected(["PC-002"])
    assert done.args[0][0].ok
    for app in (a, b):
        qtbot.waitUntil(lambda app=app: app.desk.fleet.units["PC-002"].status is UnitStatus.ON_SCENE, timeout=40_000)
    # both windows' timelines: alice assigned it, the system (with the instance that saw it) did the rest
    for app in (a, b):
        app.window.incidents.table.selectRow(app.window.incidents.model.row_of(incident))
        qtbot.waitUntil(lambda app=app: "on scene PC-002" in app.window.incidents.timeline.toPlainText(),
                        timeout=5000)
        text = app.window.incidents.timeline.toPlainText()
        assert "unit assigned PC-002  (alice)" in text
        for kind in ("en route", "on scene"):
            line = next(ln for ln in text.splitlines() if f"{kind} PC-002" in ln)
            assert "(system, seen by " in line and any(i in line for i in instances), line
            assert "bob)" not in line and "(alice)" not in line
    db = MongoClient(mongo_uri)[mongo_db_name]
    qtbot.waitUntil(lambda: db.audit_log.count_documents({"action": "unit.arrive"}) == 1, timeout=10_000)
    audit = {d["action"]: d for d in db.audit_log.find()}
    assert audit["unit.dispatch"]["dispatcher"] == "alice"
    for action in ("unit.en_route", "unit.arrive"):
        assert audit[action]["dispatcher"] == "system" and audit[action]["details"]["instance"] in instances
    # the sync is shared: whichever instance holds the sync lease, both windows show its last cycle and its name
    def shown_sync(app):
        text = app.window.st_sync.text()
        return text if " by " in text else None

    qtbot.waitUntil(lambda: bool(shown_sync(a) and shown_sync(b)), timeout=30_000)   # (None would mean "passed")
    writer = db.sync_stats.find({"_id": {"$type": "number"}}).sort("written_at", -1).limit(1)[0]["instance"]
    assert writer in instances
    qtbot.waitUntil(lambda: all((shown_sync(x) or "").endswith(f"by {writer}") for x in (a, b)), timeout=15_000)
    assert "units)" in shown_sync(b) and shown_sync(b).startswith("Last sync: ")
