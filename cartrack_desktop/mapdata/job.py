"""Run a map import in another process, with progress by stage and cancel: the API the window uses.

    job = ImportJob(Path("georgia.osm.pbf"), settings.data_dir, bbox=BBox(33.6, -84.6, 33.9, -84.2)).start()
    # from a QTimer on the UI thread (poll never blocks):
    for event in job.poll():
        ...                                  # ProgressEvent / DoneEvent / FailedEvent / CancelledEvent
    job.cancel()                             # never blocks: kills the import's process group; the build
                                             # directory is removed and the current map stays as it was
    result = job.wait()                      # blocking (CLI, tests, a worker thread): InstalledMap or raises

Nothing here imports Qt; a background thread reads the child's JSON lines into a queue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .manifest import BBox, Manifest
from .progress import MapImportError, Progress
from .store import BUILD_PREFIX, InstalledMap, current_map, mapdata_dir

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1_000_000
# The window's import yields the CPU to the live map and the feed (the machine may have two cores);
# it only runs slower when something else wants the CPU. The command line passes 0.
WINDOW_NICE = 10
State = Literal["new", "running", "done", "failed", "cancelled"]


class ImportCancelled(MapImportError):
    """The import was cancelled; the current map is unchanged."""


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    progress: Progress


@dataclass(frozen=True, slots=True)
class DoneEvent:
    installed: InstalledMap


@dataclass(frozen=True, slots=True)
class FailedEvent:
    message: str


@dataclass(frozen=True, slots=True)
class CancelledEvent:
    pass


ImportEvent = ProgressEvent | DoneEvent | FailedEvent | CancelledEvent


class ImportJob:
    """One import in a child process. start() once; poll() from any thread; cancel() at any time."""

    def __init__(self, source: Path, data_dir: Path, bbox: BBox | None = None,
                 on_event: Callable[[ImportEvent], None] | None = None, nice: int = WINDOW_NICE) -> None:
        self.source = Path(source)
        self.nice = nice
        self.data_dir = Path(data_dir)
        self.bbox = bbox
        self.on_event = on_event      # called on the reader thread: marshal to the UI thread yourself
        self.state: State = "new"
        self.progress: Progress | None = None
        self.installed: InstalledMap | None = None
        self.error: str | None = None
        self._events: queue.SimpleQueue[ImportEvent] = queue.SimpleQueue()
        self._proc: subprocess.Popen[bytes] | None = None
        self._build_dir: Path | None = None
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ImportJob:
        if self.state != "new":
            raise RuntimeError("an ImportJob runs once")
        cmd = [sys.executable, "-m", "cartrack_desktop.mapdata.worker", str(self.source), str(self.data_dir)]
        if self.bbox is not None:
            cmd += ["--bbox", ",".join(repr(v) for v in self.bbox.as_list())]
        if self.nice > 0:
            cmd += ["--nice", str(self.nice)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env, start_new_session=True)   # its own group: cancel kills its tools too
        self.state = "running"
        self._thread = threading.Thread(target=self._read, name="map-import-reader", daemon=True)
        self._thread.start()
        threading.Thread(target=self._drain_stderr, name="map-import-stderr", daemon=True).start()
        return self

    @property
    def pid(self) -> int | None:
        """The import process's id (also its process group's): for monitoring, e.g. the benchmark's RSS."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def poll(self) -> list[ImportEvent]:
        """Events since the last poll (never blocks)."""
        out: list[ImportEvent] = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self._events.get_nowait())
        return out

    def next_events(self, timeout: float | None = None) -> list[ImportEvent]:
        """Block up to timeout for an event, then return all queued ones (CLI, tests, worker threads)."""
        try:
            first = self._events.get(timeout=timeout)
        except queue.Empty:
            return []
        return [first, *self.poll()]

    def cancel(self) -> None:
        """Stop the import now (SIGKILL to its process group); returns at once. The old map stays."""
        if self.state != "running" or self._proc is None:
            return
        self._cancel.set()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> InstalledMap:
        """Block until the import ends: the installed map, or MapImportError / ImportCancelled / TimeoutError."""
        if not self._finished.wait(timeout):
            raise TimeoutError("map import still running")
        if self.state == "done" and self.installed is not None:
            return self.installed
        if self.state == "cancelled":
            raise ImportCancelled("import cancelled; the previous map is unchanged")
        raise MapImportError(self.error or "import failed")

    # --- reader thread -------------------------------------------------------------------------
    def _push(self, event: ImportEvent) -> None:
        self._events.put(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("map import event handler failed")

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        final: ImportEvent | None = None
        for raw in proc.stdout:
            event = self._parse(raw[:MAX_LINE_BYTES])
            if isinstance(event, DoneEvent | FailedEvent):
                final = event
            elif event is not None:
                self._push(event)
        code = proc.wait()
        self._finish(code, final)

    def _parse(self, raw: bytes) -> ImportEvent | None:
        try:
            msg = json.loads(raw)
            kind = msg["type"]
            if kind == "build_dir":
                path = Path(str(msg["path"]))
                if path.parent == mapdata_dir(self.data_dir):   # only ever remove a directory of ours
                    self._build_dir = path
                return None
            if kind == "progress":
                p = Progress(str(msg["stage"]), float(msg["stage_fraction"]), float(msg["fraction"]),
                             str(msg.get("message", ""))[:300])
                self.progress = p
                return ProgressEvent(p)
            if kind == "done":
                manifest = Manifest.from_json(json.dumps(msg["manifest"]))
                return DoneEvent(InstalledMap(Path(str(msg["map_dir"])), manifest))
            if kind == "error":
                return FailedEvent(str(msg["message"])[:500])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("map import: unreadable line from the worker: %s", exc)
        return None

    def _finish(self, code: int, final: ImportEvent | None) -> None:
        if self._cancel.is_set() and final is None:
            final = self._installed_anyway()
        if self._cancel.is_set() and not isinstance(final, DoneEvent):
            self._remove_build_dir()
            self.state = "cancelled"
            event: ImportEvent = CancelledEvent()
        elif isinstance(final, DoneEvent) and (code == 0 or self._cancel.is_set()):
            self.installed = final.installed
            self.state = "done"
            event = final
        else:
            self._remove_build_dir()
            self.error = final.message if isinstance(final, FailedEvent) else f"import process ended ({code})"
            self.state = "failed"
            event = FailedEvent(self.error)
        self._finished.set()
        self._push(event)

    def _installed_anyway(self) -> DoneEvent | None:
        """A cancel that came after the worker swapped the new map in (but before it said so): report done."""
        if self._build_dir is None:
            return None
        try:
            installed = current_map(self.data_dir)
        except ValueError:
            return None
        if installed is not None and installed.directory.name == self._build_dir.name.removeprefix(BUILD_PREFIX):
            return DoneEvent(installed)
        return None

    def _remove_build_dir(self) -> None:
        if self._build_dir is not None:
            shutil.rmtree(self._build_dir, ignore_errors=True)

    def _drain_stderr(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        for line in proc.stderr:
            text = line.decode("utf-8", errors="replace").rstrip()
            if text:
                log.info("map import: %s", text[:500])
