"""The app as `make run` starts it: embedded servers, simulator, window; then a clean close."""

import json

import psutil
import pytest

from tests.ui.conftest import page_state

pytestmark = pytest.mark.slow


def _children() -> set[int]:
    """Our server children (QtWebEngine's own helper processes are children of the test process too)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "redis-server" in cmd or "secantusd" in cmd:
            out.add(p.pid)
    return out


def _window_texts(window) -> list[str]:
    """Every text a widget shows or offers: labels, buttons, fields, tooltips, titles, table cells."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractItemView, QWidget

    out = [window.windowTitle()]
    for w in window.findChildren(QWidget):
        for attr in ("text", "toolTip", "windowTitle", "placeholderText", "statusTip"):
            value = getattr(w, attr, None)
            if callable(value):
                text = value()
                if isinstance(text, str) and text:
                    out.append(text)
        if isinstance(w, QAbstractItemView) and w.model() is not None:
            m = w.model()
            for r in range(min(m.rowCount(), 500)):
                for c in range(m.columnCount()):
                    for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                        v = m.data(m.index(r, c), role)
                        if isinstance(v, str) and v:
                            out.append(v)
    return out


def test_embedded_defaults_show_moving_units_and_close_cleanly(qtbot, launcher, tmp_path):
    before = _children()
    app = launcher.start("--seed", "1", wait_ready=True)
    # 25 units drawn and moving within 10 s of start
    qtbot.waitUntil(lambda: page_state(qtbot, app)["units"] == 25, timeout=10_000)
    first = page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]
    qtbot.waitUntil(lambda: page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]["ts"] > first["ts"], timeout=5000)
    moved = page_state(qtbot, app, ["PC-001"])["unit"]["PC-001"]
    assert (moved["lat"], moved["lng"]) != (first["lat"], first["lng"])
    assert moved["sign"] == "Adam-1"
    spawned = _children() - before
    assert len(spawned) == 2  # redis-server and secantusd-py
    qtbot.waitUntil(lambda: app.window.st_units.text() == "Live units: 25", timeout=5000)
    # the embedded database's password (authentication is on) is nowhere in the window
    password = json.loads((tmp_path / "data0" / "mongo-credentials.json").read_text())["password"]
    shown = _window_texts(app.window)
    assert len(shown) > 20 and "Live units: 25" in shown
    assert not [t for t in shown if password in t]
    assert launcher.stop(app, timeout_ms=8000) == 0
    still = [p for p in spawned if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert still == [], "child servers left running after the window closed"


def test_layout_persists_between_runs(qtbot, launcher, redis_url, mongo_uri):
    app = launcher.start("--redis-url", redis_url, "--mongo-uri", mongo_uri, "--no-simulator")
    app.window.resize(1111, 777)
    app.window.docks["fleet"].setFloating(True)
    qtbot.waitUntil(lambda: app.window.width() == 1111, timeout=3000)
    launcher.stop(app)
    again = launcher.start("--redis-url", redis_url, "--mongo-uri", mongo_uri, "--no-simulator")
    # (without a window manager, Xvfb may shave a few pixels of frame off the height)
    qtbot.waitUntil(lambda: again.window.width() == 1111 and abs(again.window.height() - 777) <= 30, timeout=3000)
    assert again.window.docks["fleet"].isFloating()
    again.window.docks["fleet"].setFloating(False)


def test_screenshot_option_saves_a_png(qtbot, launcher, redis_url, mongo_uri, tmp_path):
    shot = tmp_path / "shot.png"
    app = launcher.start("--redis-url", redis_url, "--mongo-uri", mongo_uri, "--cars", "5", "--screenshot",
                         str(shot), "--duration", "60")
    qtbot.waitUntil(shot.exists, timeout=15_000)
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 800 and img.height() >= 500
    # refreshing the panels between the clock's seconds (as the screenshot does while it waits for them
    # to agree) leaves the update rate's one-second window alone: it read 0 in every screenshot
    ticker = app.desk.ticker
    qtbot.waitUntil(lambda: ticker.updates_per_s > 0, timeout=10_000)
    rate = ticker.updates_per_s
    for _ in range(3):
        ticker.refresh()
    assert ticker.updates_per_s == rate and app.window.st_rate.text() == f"Updates/s: {rate:.0f}"
    launcher.stop(app)
