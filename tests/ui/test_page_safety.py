"""Nothing from Redis or MongoDB runs as code: hostile ids, call signs and broken messages.

Assertions are made from inside the page (its own DOM text and globals), not only in Python.
"""

import time

import orjson
import pytest
import redis
from pymongo import MongoClient
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.corpus import BAD_MESSAGES, HOSTILE_TEXT
from tests.ui.conftest import page_state, run_js

ATL = (33.7490, -84.3880)
PWNED = "typeof window.__pwned === 'undefined' && typeof window.alert === 'function'"


@pytest.fixture
def hostile_app(launcher, redis_url, mongo_uri, mongo_db_name):
    mc = MongoClient(mongo_uri)
    docs = [{"_id": f"HX-{i}", "car_id": f"HX-{i}", "call_sign": text, "status": "available", "simulated": False}
            for i, text in enumerate(HOSTILE_TEXT)]
    mc[mongo_db_name].cars.insert_many(docs)
    mc.close()
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    app = launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--no-simulator")
    r = redis.Redis.from_url(redis_url)
    now = time.time()
    for i in range(len(HOSTILE_TEXT)):
        msg = orjson.dumps({"car_id": f"HX-{i}", "lat": ATL[0] + i * 0.0008, "lng": ATL[1], "speed": 20.0,
                            "heading": 0.0, "timestamp": now})
        r.set(f"car:location:HX-{i}", msg, ex=300)
        r.publish(f"car:location:stream:HX-{i}", msg)
    yield app, r
    r.close()


def test_hostile_call_signs_are_shown_literally_and_run_nothing(qtbot, hostile_app):
    app, _ = hostile_app
    ids = [f"HX-{i}" for i in range(len(HOSTILE_TEXT))]
    qtbot.waitUntil(lambda: all((page_state(qtbot, app, ids)["unit"][i] or {}).get("sign", "").startswith(
        HOSTILE_TEXT[int(i[3:])][:3]) for i in ids), timeout=10_000)
    units = page_state(qtbot, app, ids)["unit"]
    for i, text in enumerate(HOSTILE_TEXT):
        assert units[f"HX-{i}"]["sign"] == text
    # the tracked unit's label, from the page's DOM text
    for i, text in enumerate(HOSTILE_TEXT):
        app.desk.tracking.track(f"HX-{i}")
        qtbot.waitUntil(lambda t=text: page_state(qtbot, app)["trackedLabel"] == t, timeout=5000)
        assert app.window.unit.title.text() == text
        assert app.window.unit.title.textFormat() == Qt.TextFormat.PlainText
    # hover tooltip shows it as text
    app.desk.session.stop_tracking()
    app.bridge.centerRequested.emit(orjson.dumps({"lat": ATL[0], "lng": ATL[1], "zoom": 17}).decode())
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["HX-0"])["unit"]["HX-0"]["visible"], timeout=5000)
    u = page_state(qtbot, app, ["HX-0"])["unit"]["HX-0"]
    target = app.view.focusProxy()
    QTest.mouseMove(target, QPoint(round(u["x"]) + 40, round(u["y"]) + 40))
    QTest.mouseMove(target, QPoint(round(u["x"]), round(u["y"])))
    qtbot.waitUntil(lambda: page_state(qtbot, app)["tooltip"] is not None, timeout=5000)
    assert page_state(qtbot, app)["tooltip"]["title"].startswith(HOSTILE_TEXT[0])
    # no element came from the strings, and nothing they carried ran
    assert run_js(qtbot, app, PWNED) is True
    assert run_js(qtbot, app, "document.querySelectorAll('img[src=x], svg[onload], b, [onerror]').length") == 0
    # only folium's own two inline scripts (plus the JSON config block) exist
    assert run_js(qtbot, app, "document.querySelectorAll('script:not([src]):not([type])').length") == 2
    qtbot.waitUntil(lambda: set(HOSTILE_TEXT) <= {row.call_sign for row in app.window.fleet.model.rows},
                    timeout=5000)


def test_hostile_ids_and_broken_messages_are_rejected_and_counted(qtbot, hostile_app, redis_url):
    app, r = hostile_app
    before = app.desk.runtime.redis_rejections.total
    now = time.time()
    hostile_ids = ["<img src=x onerror=window.__pwned=1>", "</script><script>window.__pwned=1</script>",
                   "`${window.__pwned=1}`", "PC-*", "a\u2028b"]
    for hid in hostile_ids:
        msg = orjson.dumps({"car_id": hid, "lat": ATL[0], "lng": ATL[1], "speed": 1.0, "heading": 1.0,
                            "timestamp": now})
        r.publish(f"car:location:stream:{hid}", msg)
    for _label, raw, _kind in BAD_MESSAGES:
        r.publish("car:location:stream:PC-001", raw)
    r.publish("cartrack:batch", b'{"v":1,"sent":0,"cars":[["<b>x</b>",1,2,3,4,5]]}')
    r.publish("cartrack:batch", b"{not json")
    expected = len(hostile_ids) + len(BAD_MESSAGES) + 2
    qtbot.waitUntil(lambda: app.desk.runtime.redis_rejections.total - before >= expected, timeout=10_000)
    qtbot.waitUntil(lambda: app.window.st_rejected.text() == f"Rejected: {before + expected}", timeout=5000)
    # the window still works: a valid unit arrives and is drawn
    r.publish("car:location:stream:OK-1", orjson.dumps({"car_id": "OK-1", "lat": ATL[0], "lng": ATL[1],
                                                        "speed": 5.0, "heading": 5.0, "timestamp": time.time()}))
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["OK-1"])["unit"]["OK-1"] is not None, timeout=5000)
    st = page_state(qtbot, app)
    assert st["errors"] == []
    assert st["units"] == len(HOSTILE_TEXT) + 1
    assert run_js(qtbot, app, PWNED) is True
