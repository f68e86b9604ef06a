"""A hostile or broken producer floods the channels: no crash, no freeze, bounded memory,
every bad input counted, logs rate-limited."""

import logging
import threading
import time

import orjson
import psutil
import pytest
import redis

from tests.corpus import BAD_MESSAGES
from tests.ui.conftest import page_state
from tests.ui.test_outages import LagProbe

pytestmark = pytest.mark.slow

FLOOD = 30_000        # messages, published as fast as Redis takes them (the fleet's normal rate: 25/s)
# The 1 MB entries are published a few times only: thousands of them would (rightly) make Redis
# disconnect the subscriber for exceeding its pub/sub output buffer, and the counts would be moot.
SMALL_BAD = [b for b in BAD_MESSAGES if len(b[1]) < 10_000]
BIG_BAD = [b for b in BAD_MESSAGES if len(b[1]) >= 10_000]


def flood(url: str, done: threading.Event) -> None:
    r = redis.Redis.from_url(url)
    now = time.time()
    good = [orjson.dumps({"car_id": f"FL-{i % 300}", "lat": 33.75 + i * 1e-6, "lng": -84.39, "speed": 10.0,
                          "heading": 10.0, "timestamp": now - (i % 7)}) for i in range(2000)]
    try:
        sent = 0
        while sent < FLOOD:
            pipe = r.pipeline(transaction=False)
            for k in range(1000):
                i = sent + k
                if i % 3 == 0:
                    _label, raw, _kind = SMALL_BAD[i % len(SMALL_BAD)]
                    pipe.publish("car:location:stream:FL-X", raw)
                else:    # valid, duplicate and out-of-order fixes for 300 units
                    j = i % len(good)
                    pipe.publish(f"car:location:stream:FL-{j % 300}", good[j])
            if sent % 10_000 == 0:
                for _label, raw, _kind in BIG_BAD:
                    pipe.publish("car:location:stream:FL-X", raw)
            pipe.execute()
            sent += 1000
    finally:
        r.close()
        done.set()


def test_flood_of_bad_and_duplicate_messages(qtbot, launcher, redis_url, mongo_uri, mongo_db_name, caplog):
    caplog.set_level(logging.WARNING, logger="cartrack_desktop.services.rejections")
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    app = launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--cars", "25", "--seed", "4")
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 25, timeout=15_000)
    me = psutil.Process()
    rss0 = me.memory_info().rss
    rejected0 = app.controller.runtime.redis_rejections.total
    probe = LagProbe()
    probe.start()
    done = threading.Event()
    worker = threading.Thread(target=flood, args=(redis_url, done), daemon=True)
    worker.start()
    qtbot.waitUntil(done.is_set, timeout=60_000)
    expected = FLOOD // 3 + 3 * len(BIG_BAD)
    qtbot.waitUntil(lambda: app.controller.runtime.redis_rejections.total - rejected0 >= expected, timeout=30_000)
    worst = probe.stop()
    assert worst < 100, f"the UI froze for {worst:.0f} ms during the flood"
    # the window is still live and draws the real fleet and the flood's 300 valid units (newest fix each)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 25 + 300, timeout=10_000)
    before = page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["ts"]
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["ts"] > before, timeout=5000)
    assert page_state(qtbot, app)["errors"] == []
    # every kind is counted and visible; the log says each kind at most once (per minute)
    snap = app.controller.runtime.redis_rejections.snapshot()
    assert {"malformed_json", "oversize", "not_object", "missing_field", "bad_type", "lat_range", "bad_car_id",
            "future_timestamp", "stale_timestamp"} <= set(snap)
    per_kind: dict[str, int] = {}
    for rec in caplog.records:
        kind = rec.getMessage().split(": ", 1)[1].split(" ")[0]
        per_kind[kind] = per_kind.get(kind, 0) + 1
    assert per_kind and max(per_kind.values()) <= 2, per_kind
    app.window.docks["stats"].raise_()
    app.window.docks["stats"].show()
    qtbot.waitUntil(lambda: app.window.stats.value("Rejected (Redis)", "total") is not None, timeout=5000)
    assert int(app.window.stats.value("Rejected (Redis)", "total")) >= expected
    # memory stays bounded
    assert me.memory_info().rss - rss0 < 150 * 1024 * 1024
