"""GUI fixtures: the real window and QtWebEngine map, driven on a qasync loop.

The app's own `gui_main()` runs as a task; tests wait on Qt signals and conditions
(qtbot.waitUntil / waitSignal), which spin the Qt loop and with it every asyncio task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtWebEngineWidgets  # noqa: F401 - before the QApplication exists

from cartrack_desktop.config import load_settings
from cartrack_desktop.ui.application import configure_rendering, configure_threads
from cartrack_desktop.ui.map_view import register_scheme

configure_rendering()   # the app's own choice (software compositing on a machine without a GPU)
configure_threads()
register_scheme()


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    return ["cartrack-tests"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_qsettings(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))


@pytest.fixture
def qloop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    import qasync

    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp, already_running=True)
    # getaddrinfo & co. run in the default executor: plain threads we can join, not QThreads
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-loop")
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    yield loop
    executor.shutdown(wait=True, cancel_futures=True)
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@dataclass
class RunningApp:
    task: asyncio.Task[int]
    window: Any
    desk: Any           # ui/desk.py: the window's jobs around the session
    settings: Any

    @property
    def view(self) -> Any:
        return self.desk.view

    @property
    def bridge(self) -> Any:
        return self.desk.view.bridge


class AppLauncher:
    def __init__(self, qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
        self.qtbot = qtbot
        self.loop = loop
        self.tmp_path = tmp_path
        self.apps: list[RunningApp] = []
        self.console_errors: list[str] = []

    def start(self, *argv: str, wait_ready: bool = True, **overrides: Any) -> RunningApp:
        from cartrack_desktop.ui.application import gui_main

        settings = load_settings(["--data-dir", str(self.tmp_path / f"data{len(self.apps)}"), "--tiles", "none",
                                  *argv], environ={}, dotenv_path=self.tmp_path / "no.env")
        if overrides:
            settings = replace(settings, **overrides)
        holder: dict[str, Any] = {}

        def hook(window: Any, desk: Any) -> None:
            holder["window"], holder["desk"] = window, desk

        task = self.loop.create_task(gui_main(settings, ready_hook=hook))
        self.qtbot.waitUntil(lambda: "desk" in holder or task.done(), timeout=30_000)
        if task.done():
            task.result()  # raise what went wrong
        app = RunningApp(task, holder["window"], holder["desk"], settings)
        app.view.web_page.consoleMessage.connect(self._console)
        self.apps.append(app)
        if wait_ready:
            self.qtbot.waitUntil(lambda: app.view.is_ready, timeout=30_000)
        return app

    def _console(self, level: int, message: str) -> None:
        if level >= 2:
            self.console_errors.append(message)

    def stop(self, app: RunningApp, timeout_ms: int = 10_000) -> int:
        if not app.task.done():
            app.window.closeRequested.emit()
            self.qtbot.waitUntil(app.task.done, timeout=timeout_ms)
        return app.task.result()


@pytest.fixture
def launcher(qtbot, qloop, tmp_path) -> Iterator[AppLauncher]:
    la = AppLauncher(qtbot, qloop, tmp_path)
    yield la
    for app in la.apps:
        if not app.task.done():
            la.stop(app)
    assert la.console_errors == [], f"errors in the map page: {la.console_errors}"


def page_state(qtbot: Any, app: RunningApp, ids: list[str] | None = None) -> dict[str, Any]:
    """Ask the page (through the bridge) what it shows."""
    loop = asyncio.get_event_loop()
    fut = asyncio.ensure_future(app.view.page_state(ids), loop=loop)
    qtbot.waitUntil(fut.done, timeout=10_000)
    return fut.result()


def run_js(qtbot: Any, app: RunningApp, script: str) -> Any:
    """Evaluate a *constant* script in the page (tests only; never built from data)."""
    with qtbot.wait_callback(timeout=10_000) as cb:
        app.view.page().runJavaScript(script, 0, cb)
    return cb.args[0] if cb.args else None


def run_coro(qtbot: Any, coro: Any, timeout_ms: int = 10_000) -> Any:
    fut = asyncio.ensure_future(coro)
    qtbot.waitUntil(fut.done, timeout=timeout_ms)
    return fut.result()
