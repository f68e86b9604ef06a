"""A hostile or broken producer (its own process) floods the channels: no crash, no freeze,
bounded memory, every bad input counted, logs rate-limited."""

import logging
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers.flood import BIG_BAD
from tests.ui.conftest import page_state
from tests.ui.test_outages import FREEZE_MS, LagProbe

pytestmark = pytest.mark.slow

FLOOD = 30_000        # messages, published as fast as Redis takes them (the fleet's normal rate: 25/s)


def test_flood_of_bad_and_duplicate_messages(qtbot, launcher, redis_url, mongo_uri, mongo_db_name, caplog):
    caplog.set_level(logging.WARNING, logger="cartrack_desktop.services.infra.rejections")
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    app = launcher.start("--redis-url", redis_url, "--mongo-uri", uri, "--cars", "25", "--seed", "4")
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 25, timeout=15_000)
    me = psutil.Process()
    rss0 = me.memory_info().rss
    rejected0 = app.desk.runtime.redis_rejections.total
    probe = LagProbe()
    probe.start()
    producer = subprocess.Popen([sys.executable, "-m", "tests.helpers.flood", redis_url, str(FLOOD)],
                                cwd=Path(__file__).resolve().parents[2])
    qtbot.waitUntil(lambda: producer.poll() is not None, timeout=60_000)
    assert producer.returncode == 0
    expected = FLOOD // 3 + 3 * len(BIG_BAD)
    qtbot.waitUntil(lambda: app.desk.runtime.redis_rejections.total - rejected0 >= expected, timeout=30_000)
    worst = probe.stop()
    print(f"worst event-loop lag during the flood: {worst:.0f} ms")
    assert worst < FREEZE_MS, f"the UI froze for {worst:.0f} ms during the flood"
    # the window is still live and draws the real fleet and the flood's 300 valid units (newest fix each)
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 25 + 300, timeout=10_000)
    before = page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["ts"]
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["ts"] > before, timeout=5000)
    assert page_state(qtbot, app)["errors"] == []
    # every kind is counted and visible; the log says each kind at most once (per minute)
    snap = app.desk.runtime.redis_rejections.snapshot()
    assert {"malformed_json", "oversize", "not_object", "missing_field", "bad_type", "lat_range", "bad_car_id",
            "future_timestamp", "stale_timestamp"} <= set(snap)
    per_kind: dict[str, int] = {}
    for rec in caplog.records:
        kind = rec.getMessage().split(": ", 1)[1].split(" ")[0]
        per_kind[kind] = per_kind.get(kind, 0) + 1
    assert per_kind and max(per_kind.values()) <= 2, per_kind
    app.window.docks["stats"].raise_()
    app.window.docks["stats"].show()
    qtbot.waitUntil(lambda: int(app.window.stats.value("Rejected (Redis)", "total") or 0) >= expected,
                    timeout=5000)  # the panel refreshes every second
    # memory stays bounded
    assert me.memory_info().rss - rss0 < 150 * 1024 * 1024
