"""The window through outages: Redis paused, Redis down at start, servers unreachable at close."""

import asyncio
import signal
import time

import psutil
import pytest
from PySide6.QtCore import QElapsedTimer, QTimer

from tests.ui.conftest import page_state

pytestmark = pytest.mark.slow


# A freeze detector, not a performance figure: the event loop must never stop answering for this long
# (a blocking call on the Qt thread — a synchronous Redis or MongoDB wait — shows as seconds). How
# responsive the window is, is measured by `make bench` (ui_loop_lag_p99_ms_10k), never asserted here:
# on a loaded 2-core machine a normal tick can be late by a couple of hundred milliseconds.
FREEZE_MS = 1000.0


class LagProbe:
    """A 20 ms Qt timer measuring how late it fires: the UI's event-loop lag."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(20)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.lags.clear()
        self._clock.start()
        self._timer.start()

    def _tick(self) -> None:
        self.lags.append(max(0.0, self._clock.restart() - 20.0))

    def stop(self) -> float:
        self._timer.stop()
        return max(self.lags) if self.lags else 0.0


def test_redis_paused_20s_ui_keeps_running_and_recovers(qtbot, launcher, own_redis, mongo_uri, mongo_db_name):
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    app = launcher.start("--redis-url", own_redis.url, "--mongo-uri", uri, "--cars", "10", "--seed", "3")
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 10, timeout=15_000)
    qtbot.waitUntil(lambda: app.window.st_redis.text() == "Redis: live", timeout=5000)
    probe = LagProbe()
    probe.start()
    own_redis.pause()
    paused = time.monotonic()
    try:
        qtbot.waitUntil(lambda: app.window.st_redis.text().startswith("Redis: down"), timeout=8000)
        assert time.monotonic() - paused < 6.0
        st = page_state(qtbot, app, ["PC-001"])
        assert not st["live"] and "paused" in st["pausedText"]
        assert st["unit"]["PC-001"]["stale"]         # last position kept, shown as stale
        assert "paused" in app.window.banner.text.text()
        # a sync capture now (the scheduled ones stop with the lease) fails after its timeout and is counted
        capture = asyncio.ensure_future(app.desk.runtime.sync.capture())
        qtbot.waitUntil(lambda: time.monotonic() - paused >= 20.0, timeout=25_000)
    finally:
        own_redis.resume()
    worst = probe.stop()
    print(f"worst event-loop lag while Redis was paused: {worst:.0f} ms")
    assert worst < FREEZE_MS, f"the UI froze for {worst:.0f} ms while Redis was paused"
    resumed = time.monotonic()
    qtbot.waitUntil(lambda: app.window.st_redis.text() == "Redis: live", timeout=10_000)
    before = page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["ts"]
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["ts"] > before, timeout=10_000)
    assert time.monotonic() - resumed < 5.0
    st = page_state(qtbot, app, ["PC-001"])
    assert st["live"] and not st["unit"]["PC-001"]["stale"]
    # the sync could not capture the live positions while Redis was paused, and the Stats tab says so
    assert capture.done() and capture.result() is None
    assert app.desk.runtime.sync.stats.capture_failures >= 1
    app.window.docks["stats"].raise_()
    app.window.docks["stats"].show()
    qtbot.waitUntil(lambda: int(app.window.stats.value("Sync", "failed captures (Redis unreachable)") or 0) >= 1,
                    timeout=5000)  # the panel refreshes every second


def test_starting_while_redis_is_down(qtbot, launcher, tmp_path, mongo_uri, mongo_db_name):
    from tests.helpers.servers import RedisServer

    redis = RedisServer(tmp_path / "late-redis")        # not started yet
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    app = launcher.start("--redis-url", redis.url, "--mongo-uri", uri, "--cars", "4")
    assert app.window.isVisible()
    qtbot.waitUntil(lambda: app.window.st_redis.text().startswith("Redis: down"), timeout=10_000)
    assert page_state(qtbot, app)["units"] == 0
    redis.start()
    try:
        qtbot.waitUntil(lambda: app.window.st_redis.text() == "Redis: live", timeout=10_000)
        qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 4, timeout=15_000)
        assert page_state(qtbot, app)["live"]
    finally:
        launcher.stop(app)
        redis.stop()


def test_close_with_servers_unreachable_is_quick_and_leaves_no_child(qtbot, launcher):
    app = launcher.start("--cars", "3")                  # embedded servers
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 3, timeout=15_000)
    rt = app.desk.runtime
    children = [psutil.Process(srv.pid) for srv in (rt.servers.redis, rt.servers.mongo)]
    assert all(p.is_running() for p in children)
    for p in children:
        p.send_signal(signal.SIGSTOP)                    # both servers stop answering
    qtbot.waitUntil(lambda: app.window.st_redis.text().startswith("Redis: down"), timeout=10_000)
    t0 = time.monotonic()
    assert launcher.stop(app, timeout_ms=6000) == 0
    assert time.monotonic() - t0 < 5.0
    for p in children:
        assert not p.is_running() or p.status() == psutil.STATUS_ZOMBIE

