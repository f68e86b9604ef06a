"""The window's lifecycle: QApplication, the qasync loop, start-up with progress, clean shutdown.

One `run_until_complete(gui_main())` for the whole life of the app: `gui_main` awaits the
window's close request, then cancels and awaits every task, closes clients and stops the
child servers itself before returning. (Running the loop a second time after QtWebEngine
has been used crashes PySide6 6.11 and 6.12 in QApplication.exit(), so asyncio.Runner's extra
shutdown run is avoided on purpose.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from ..config import Settings
from ..services.infra.timeouts import within

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET_S = 4.5


def has_gpu() -> bool:
    """A GPU render node exists (Linux DRM). Without one, OpenGL is emulated on the CPU."""
    if not sys.platform.startswith("linux"):
        return True
    try:
        return any(name.startswith("renderD") for name in os.listdir("/dev/dri"))
    except OSError:
        return False


def configure_rendering(choice: str = "auto", environ: dict[str, str] | None = None) -> str:
    """Choose how the map is composited; must run before the QApplication exists.

    Without a GPU, Mesa's software OpenGL makes Qt composite every web frame on the UI thread
    at great cost (measured: event-loop lag p99 ~135 ms with 10,000 moving units). Qt Quick's
    software backend plus Chromium's software compositing cut that to ~36 ms. With a GPU
    nothing changes. `choice` (the rendering setting: software or gpu) overrides the detection;
    a QT_QUICK_BACKEND set by the user is respected.
    """
    env = os.environ if environ is None else environ
    software = choice == "software" or (choice != "gpu" and not has_gpu())
    if not software:
        return "gpu"
    env.setdefault("QT_QUICK_BACKEND", "software")
    flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if "--disable-gpu" not in flags.split():
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --disable-gpu").strip()
    return "software"


UI_SWITCH_INTERVAL_S = 0.001


def configure_threads() -> None:
    """The live feed parses on its own thread; under a flood it is busy all the time, and each
    Python callback of the UI then waits for the GIL for up to the switch interval (5 ms by
    default). 1 ms keeps the UI responsive for a negligible cost in thread switches."""
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)


def _prepare_environment(rendering: str = "auto") -> str | None:
    """Returns an error line when no display is available."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to run its sandbox as root; only ever relaxed for root.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    log.info("rendering: %s", configure_rendering(rendering))
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        return ("no display found (DISPLAY/WAYLAND_DISPLAY unset): run inside a desktop session, under "
                "xvfb-run, or use --headless")
    return None


def run_gui(settings: Settings) -> int:
    problem = _prepare_environment(settings.rendering)
    if problem:
        print(f"cartrack-desktop: error: {problem}", file=sys.stderr)  # noqa: T201
        return 1
    import qasync
    from PySide6 import QtWebEngineWidgets  # noqa: F401 - must be imported before the QApplication
    from PySide6.QtWidgets import QApplication

    from .map_view import register_scheme

    register_scheme()
    configure_threads()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("CarTrack Desktop")
    app.setOrganizationName("CarTrack")
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        try:
            exit_code: int = loop.run_until_complete(gui_main(settings))
            return exit_code
        except RuntimeError as exc:
            # Qt ended its loop under us (the X display went away): gui_main's orderly shutdown
            # cannot run any more, and running the loop again crashes PySide6. The child servers
            # get SIGKILL from the kernel (PR_SET_PDEATHSIG); unsent dispatch writes stay in the
            # outbox journal for the next start.
            if "Event loop stopped before Future completed" not in str(exc):
                raise
            log.error("the window system ended the application (display connection lost?); exiting")
            # Tearing down Qt objects without a display segfaults in QtWebEngine's destructors:
            # leave at once instead (logs flushed; children are killed by the kernel).
            logging.shutdown()
            os._exit(1)


class _SignalWatcher:
    """SIGINT/SIGTERM while Qt's C++ loop runs: a wakeup fd read by a QSocketNotifier."""

    def __init__(self, on_signal: Any) -> None:
        from PySide6.QtCore import QSocketNotifier

        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._w.fileno())
        self._old = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
        self._notifier = QSocketNotifier(self._r.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._drain)
        self._on_signal = on_signal

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            data = self._r.recv(64)
            if data:
                self._on_signal()

    def close(self) -> None:
        self._notifier.setEnabled(False)
        with contextlib.suppress(OSError, ValueError):  # another window in this process may own it by now
            if signal.set_wakeup_fd(-1) == self._w.fileno():
                signal.set_wakeup_fd(self._old_fd)
                for s, h in self._old.items():
                    signal.signal(s, h)
        self._r.close()
        self._w.close()


async def gui_main(settings: Settings, *, ready_hook: Any = None) -> int:
    """The whole life of the window. `ready_hook(window, controller)` lets tests drive it."""
    from ..mapgen.page import build_map_page
    from ..services.infra.embedded import EmbeddedError
    from ..services.infra.errors import ErrorBus, Level
    from ..services.runtime import Runtime
    from .controller import Controller
    from .main_window import MainWindow
    from .map_view import MapView, load_assets

    t0 = time.monotonic()
    loop = asyncio.get_running_loop()
    errors = ErrorBus()
    window = MainWindow()
    window.restore_layout()
    window.show()
    log.info("window shown after %.2f s", time.monotonic() - t0)
    closing: asyncio.Future[None] = loop.create_future()

    def request_close() -> None:
        if not closing.done():
            closing.set_result(None)

    window.closeRequested.connect(request_close)
    watcher = _SignalWatcher(request_close)
    runtime = Runtime(settings, errors=errors)
    controller = Controller(window, runtime, settings, errors)
    view: MapView | None = None
    exit_code = 0

    # File work off the Qt thread, in a plain thread we shut down ourselves.
    io_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cartrack-io")

    async def build_map() -> MapView:
        page = await loop.run_in_executor(io_pool, functools.partial(
            build_map_page, settings.data_dir / "map", tile_url=settings.tile_url,
            tile_attribution=settings.tile_attribution,
        ))
        assets = await loop.run_in_executor(io_pool, load_assets, page)
        v = MapView(page, assets)
        controller.attach_view(v)
        window.set_map(v)
        v.load_page()
        return v

    if settings.screenshot is not None:
        async def screenshot_when_drawn() -> None:
            drawn = asyncio.Event()
            if controller.units_drawn:
                drawn.set()
            controller.firstUnitsDrawn.connect(drawn.set)
            await drawn.wait()
            await asyncio.sleep(0.8)  # let the compositor present the drawn frame
            assert settings.screenshot is not None
            controller.save_screenshot(settings.screenshot)

        controller.spawn(screenshot_when_drawn(), "screenshot")

    try:
        map_task = asyncio.ensure_future(build_map())
        try:
            await runtime.start(progress=window.show_progress)
        except EmbeddedError as exc:
            errors.report("start-up", str(exc), Level.ERROR)
            window.show_progress(f"Cannot start: {exc}")
            exit_code = 1
        else:
            controller.start_feed()
            window.show_progress("Waiting for live units…")
        view = await map_task
        # Everything built so far lives as long as the app: keep it out of the garbage collector's
        # full passes, which otherwise stall the UI (and, holding the GIL, the feed) now and then.
        gc.collect()
        gc.freeze()
        log.info("start-up finished after %.2f s", time.monotonic() - t0)
        if ready_hook is not None:
            ready_hook(window, controller)
        if settings.duration:
            with contextlib.suppress(TimeoutError):
                await within(asyncio.shield(closing), settings.duration)
        else:
            await closing
    finally:
        t_stop = time.monotonic()
        window.hide()
        with contextlib.suppress(Exception):
            window.save_layout()
        await _bounded(controller.stop(), 1.0)
        # runtime.stop() bounds itself and always stops the child servers: not cancelled from here
        await runtime.stop(budget_s=max(1.5, SHUTDOWN_BUDGET_S - (time.monotonic() - t_stop)))
        watcher.close()
        io_pool.shutdown(wait=False, cancel_futures=True)
        if view is not None:
            view.shutdown()
        window.deleteLater()
        await asyncio.sleep(0.05)  # let Qt process the deferred deletes before the loop ends
        log.info("shut down in %.2f s", time.monotonic() - t_stop)
    return exit_code


async def _bounded(coro: Any, timeout: float) -> None:
    try:
        await within(coro, max(0.1, timeout))
    except TimeoutError:
        log.warning("shutdown step timed out after %.1f s", timeout)
    except Exception:
        log.exception("shutdown step failed")
