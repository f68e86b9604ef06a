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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..services.infra.timeouts import within

if TYPE_CHECKING:
    from .desk import Desk
    from .main_window import MainWindow
    from .map_view import MapView

ReadyHook = Callable[["MainWindow", "Desk"], None]

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
    _favour_memory(env)
    software = choice == "software" or (choice != "gpu" and not has_gpu())
    if not software:
        return "gpu"
    env.setdefault("QT_QUICK_BACKEND", "software")
    # Qt WebEngine asks OpenGL for the GPU's vendor once at start-up (GPUInfo in its
    # web_engine_context.cpp, to special-case NVIDIA), whatever the flags. Without a GPU that made
    # Mesa load llvmpipe and LLVM into the window's process for that one question: ~60 MB resident
    # (libLLVM 43 MB, the driver 8.5 MB, two rasteriser threads that then never ran). Indirect GLX
    # makes the question fail at once without loading a driver; Qt keeps its GL integration, so
    # nothing else changes (no OpenGL draws in this mode: Qt Quick and Chromium render in software).
    env.setdefault("LIBGL_ALWAYS_INDIRECT", "1")
    flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if "--disable-gpu" not in flags.split():
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --disable-gpu").strip()
    return "software"


PAGE_JS_FLAGS = "--js-flags=--optimize-for-size"


def _favour_memory(env: dict[str, str] | os._Environ[str]) -> None:
    """The map page's JavaScript engine trades speed for memory (V8's --optimize-for-size).

    Drawing the street map decodes and paints vector tiles, which leaves tens of MB of short-lived
    objects that V8 otherwise lets pile up before collecting them: measured, the page's process
    peaked ~35-40 MB lower with the flag (a static view of the metro city, and at zoom 15) and the
    window's tree at 10,000 units with the basemap panning 670 MB instead of 754 MB, while the fleet
    batch's draw time (map_apply_ms_10k) did not change measurably. A --js-flags the user set wins.
    """
    flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if not any(f.startswith("--js-flags") for f in flags.split()):
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " " + PAGE_JS_FLAGS).strip()


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


async def gui_main(settings: Settings, *, ready_hook: ReadyHook | None = None) -> int:
    """The whole life of the window. `ready_hook(window, desk)` lets tests and benchmarks drive it."""
    return await _WindowLife(settings, ready_hook).run()


class _WindowLife:
    """gui_main as named steps (qutebrowser's MainWindow._init_* style), in the order `run` lists them."""

    def __init__(self, settings: Settings, ready_hook: ReadyHook | None) -> None:
        self.settings = settings
        self.ready_hook = ready_hook
        self.t0 = time.monotonic()
        self.loop = asyncio.get_running_loop()
        self.exit_code = 0
        self.view: MapView | None = None

    async def run(self) -> int:
        self._init_window()
        self._init_close_requests()
        self._init_desk()
        self._init_screenshot()
        # File work off the Qt thread, in a plain thread we shut down ourselves.
        self.io_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cartrack-io")
        try:
            map_task = asyncio.ensure_future(self._build_map())
            await self._start_runtime()
            self.view = await map_task
            self._settle()
            if self.ready_hook is not None:
                self.ready_hook(self.window, self.desk)
            await self._until_closed()
        finally:
            await self._shut_down()
        return self.exit_code

    def _init_window(self) -> None:
        from .main_window import MainWindow

        self.window = MainWindow()
        self.window.restore_layout()
        self.window.show()
        log.info("window shown after %.2f s", time.monotonic() - self.t0)

    def _init_close_requests(self) -> None:
        """The window's close button and SIGINT/SIGTERM both resolve `closing`."""
        self.closing: asyncio.Future[None] = self.loop.create_future()
        self.window.closeRequested.connect(self._request_close)
        self.watcher = _SignalWatcher(self._request_close)

    def _request_close(self) -> None:
        if not self.closing.done():
            self.closing.set_result(None)

    def _init_desk(self) -> None:
        from ..mapdata.store import patrol_area
        from ..services.infra.errors import ErrorBus
        from ..services.runtime import Runtime
        from .desk import Desk

        self.errors = ErrorBus()
        imported = patrol_area(self.settings.data_dir)    # a small JSON file: where simulated units patrol
        self.runtime = Runtime(self.settings, errors=self.errors, map_area=imported[0] if imported else None)
        self.desk = Desk(self.window, self.runtime, self.errors)

    def _init_screenshot(self) -> None:
        """--screenshot: once live units are drawn and the panels agree with the map (ScreenshotJob)."""
        path = self.settings.screenshot
        if path is None:
            return
        frames = self.desk.frames

        async def when_drawn() -> None:
            drawn = asyncio.Event()
            if frames.units_drawn:
                drawn.set()
            frames.firstUnitsDrawn.connect(drawn.set)
            await drawn.wait()
            await self.desk.screenshots.take(path)

        self.desk.ctx.spawn(when_drawn(), "screenshot")

    async def _build_map(self) -> MapView:
        from ..mapgen.page import build_map_page
        from .map_view import MapView, load_assets

        s = self.settings
        page = await self.loop.run_in_executor(self.io_pool, functools.partial(
            build_map_page, s.data_dir / "map", tile_url=s.tile_url, tile_attribution=s.tile_attribution,
        ))
        assets = await self.loop.run_in_executor(self.io_pool, load_assets, page)
        view = MapView(page, assets, tile_contact=s.tile_contact)
        self.desk.attach_view(view)
        self.window.set_map(view)
        view.load_page()
        return view

    async def _start_runtime(self) -> None:
        from ..services.infra.embedded import EmbeddedError
        from ..services.infra.errors import Level

        try:
            await self.runtime.start(progress=self.window.show_progress)
        except EmbeddedError as exc:
            self.errors.report("start-up", str(exc), Level.ERROR)
            self.window.show_progress(f"Cannot start: {exc}")
            self.exit_code = 1
        else:
            self.desk.start()
            self.window.show_progress("Waiting for live units…")
            await self._start_api()

    async def _start_api(self) -> None:
        """--api: served from a thread of its own (api/host.py), never from the Qt thread."""
        if self.settings.api is None:
            return
        from ..api.host import ApiRefused, start_api
        from ..services.infra.errors import Level

        try:
            await start_api(self.runtime)
        except ApiRefused as exc:
            self.errors.report("api", str(exc), Level.ERROR)

    def _settle(self) -> None:
        # Everything built so far lives as long as the app: keep it out of the garbage collector's
        # full passes, which otherwise stall the UI (and, holding the GIL, the feed) now and then.
        gc.collect()
        gc.freeze()
        log.info("start-up finished after %.2f s", time.monotonic() - self.t0)

    async def _until_closed(self) -> None:
        if self.settings.duration:
            with contextlib.suppress(TimeoutError):
                await within(asyncio.shield(self.closing), self.settings.duration)
        else:
            await self.closing

    async def _shut_down(self) -> None:
        t_stop = time.monotonic()
        window = self.window
        window.hide()
        with contextlib.suppress(Exception):
            window.save_layout()
        await _bounded(self.desk.stop(), 1.0)
        # runtime.stop() bounds itself and always stops the child servers: not cancelled from here
        await self.runtime.stop(budget_s=max(1.5, SHUTDOWN_BUDGET_S - (time.monotonic() - t_stop)))
        self.watcher.close()
        self.io_pool.shutdown(wait=False, cancel_futures=True)
        if self.view is not None:
            self.view.shutdown()
        window.deleteLater()
        await asyncio.sleep(0.05)  # let Qt process the deferred deletes before the loop ends
        log.info("shut down in %.2f s", time.monotonic() - t_stop)


async def _bounded(coro: Any, timeout: float) -> None:
    try:
        await within(coro, max(0.1, timeout))
    except TimeoutError:
        log.warning("shutdown step timed out after %.1f s", timeout)
    except Exception:
        log.exception("shutdown step failed")
