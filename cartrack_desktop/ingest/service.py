"""IngestService: the ingest as a task of the Qt-free runtime (headless or window), in worker processes.

Why processes and not a thread of the app: 10,000 requests/s is about a core of Python. On the
window's qasync loop that would freeze the UI; on a thread of the window's process it would
compete for the GIL with the UI thread and the live feed. A worker process has its own GIL, its
own (uvloop) event loop and its own Redis/MongoDB clients, and dies with the app (it exits when
its stdin closes). With `workers` > 1 several processes share the port (SO_REUSEPORT).

API for the wiring step:
    svc = IngestService(IngestOptions(port=5055), redis_url=..., mongo_uri=..., mongo_db="cartrack")
    supervisor.start("ingest", svc.run)   # starts the workers, restarts a dead one, stops them on cancel
    svc.stats()                           # IngestStats: state, positions/s, rejections by kind, ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..services.infra.retry import Attempts, Backoff
from .options import IngestOptions, options_to_json

log = logging.getLogger(__name__)

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 3.0
RATE_WINDOW_S = 5.0
RESTART_BACKOFF = Backoff(0.5, 10.0)


class IngestError(RuntimeError):
    """A worker could not start (port taken, bad certificate, ...): the message says why."""


@dataclass
class IngestStats:
    state: str = "off"                  # off | starting | running | degraded (Redis down) | failed
    detail: str = ""
    listening: list[str] = field(default_factory=list)
    workers: int = 0
    positions_per_s: float = 0.0        # live fixes accepted (written to Redis) per second
    late_per_s: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)      # live, late, filtered, unknown, alarms, ...
    rejections: dict[str, int] = field(default_factory=dict)  # by kind (filters, HTTP limits, decoding)
    connections: int = 0
    devices: int = 0
    redis_ok: bool = True


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.last: dict[str, Any] = {}
        self.address = ""
        self.listening = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None


class IngestService:
    def __init__(self, options: IngestOptions, *, redis_url: str, mongo_uri: str, mongo_db: str,
                 log_level: str = "INFO", python: str = sys.executable) -> None:
        self.options = options
        self._cfg = {"options": options_to_json(options), "redis_url": redis_url, "mongo_uri": mongo_uri,
                     "mongo_db": mongo_db, "log_level": log_level, "reuse_port": options.workers > 1}
        self._python = python
        self._workers: list[_Worker] = []
        self._state = "off"
        self._detail = ""
        self._stopping = False
        self._history: deque[tuple[float, int, int]] = deque(maxlen=64)   # (time, live, late)

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> list[str]:
        """Start every worker; raises IngestError when one cannot listen."""
        self._state, self._stopping = "starting", False
        self._workers = [_Worker(i) for i in range(self.options.workers)]
        try:
            await asyncio.gather(*(self._spawn(w) for w in self._workers))
        except BaseException:
            await self.stop()
            self._state = "failed"
            raise
        self._state = "running"
        return [w.address for w in self._workers]

    async def _spawn(self, w: _Worker) -> None:
        w.listening.clear()
        w.proc = await asyncio.create_subprocess_exec(
            self._python, "-m", "cartrack_desktop.ingest", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=None)
        assert w.proc.stdin is not None
        w.proc.stdin.write(orjson.dumps({**self._cfg, "index": w.index}) + b"\n")
        await w.proc.stdin.drain()
        w.reader = asyncio.ensure_future(self._read(w))
        waiter = asyncio.ensure_future(w.listening.wait())
        await asyncio.wait({waiter, w.reader}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        if not w.listening.is_set():
            waiter.cancel()
            code = w.proc.returncode
            raise IngestError(f"ingest worker {w.index} did not start listening on "
                              f"{self.options.host}:{self.options.port}"
                              + (f" (exit status {code}; see the log above)" if code is not None else ""))

    async def _read(self, w: _Worker) -> None:
        assert w.proc is not None and w.proc.stdout is not None
        while True:
            line = await w.proc.stdout.readline()
            if not line:
                return
            try:
                event = orjson.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if event.get("event") == "listening":
                w.address = f"{event.get('host')}:{event.get('port')}"
                w.listening.set()
            elif event.get("event") == "stats":
                w.last = event
                self._sample()

    async def stop(self) -> None:
        """Close the workers' stdin (they drain their batch and exit), then make sure they are gone.
        Idempotent; run() ends instead of restarting them."""
        self._stopping = True
        for w in self._workers:
            if w.proc is not None and w.proc.stdin is not None and w.proc.returncode is None:
                with contextlib.suppress(Exception):
                    w.proc.stdin.close()
        for w in self._workers:
            if w.proc is None:
                continue
            try:
                await asyncio.wait_for(w.proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.kill()
                await w.proc.wait()
            if w.reader is not None:
                w.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w.reader
        self._state = "off"

    async def run(self) -> None:
        """For a supervisor: start, restart a worker that dies (with backoff), stop when cancelled."""
        await self.start()
        attempts = [Attempts(RESTART_BACKOFF) for _ in self._workers]
        try:
            while not self._stopping:
                waits = {asyncio.ensure_future(w.proc.wait()): w for w in self._workers if w.proc is not None}
                done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for t in pending:
                    t.cancel()
                for t in done:
                    if self._stopping:
                        break
                    w = waits[t]
                    self._state, self._detail = "degraded", f"worker {w.index} exited ({t.result()}); restarting"
                    log.warning("ingest: %s", self._detail)
                    await attempts[w.index].pause()
                    try:
                        await self._spawn(w)
                        self._state, self._detail = "running", ""
                    except IngestError as exc:
                        self._detail = str(exc)
        finally:
            await self.stop()

    def pids(self) -> list[int]:
        """The worker processes (for CPU and memory figures)."""
        return [w.proc.pid for w in self._workers if w.proc is not None and w.proc.returncode is None]

    # ---- stats -------------------------------------------------------------------------------------
    def _sample(self) -> None:
        live = sum(int(w.last.get("written_live", 0)) for w in self._workers)
        late = sum(int(w.last.get("written_late", 0)) for w in self._workers)
        self._history.append((time.monotonic(), live, late))

    def stats(self) -> IngestStats:
        st = IngestStats(state=self._state, detail=self._detail,
                         listening=[w.address for w in self._workers if w.address],
                         workers=sum(1 for w in self._workers if w.proc is not None and w.proc.returncode is None))
        totals: dict[str, int] = {}
        rejections: dict[str, int] = {}
        for w in self._workers:
            for k in ("live", "late", "filtered", "unknown", "alarms", "unavailable", "requests"):
                totals[k] = totals.get(k, 0) + int(w.last.get(k, 0))
            for k, v in (w.last.get("rejections") or {}).items():
                rejections[str(k)] = rejections.get(str(k), 0) + int(v)
            st.connections += int(w.last.get("connections", 0))
            st.devices = max(st.devices, int(w.last.get("devices", 0)))
            st.redis_ok = st.redis_ok and bool(w.last.get("redis_ok", True))
        st.totals, st.rejections = totals, rejections
        now = time.monotonic()
        window = [h for h in self._history if now - h[0] <= RATE_WINDOW_S]
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            span = window[-1][0] - window[0][0]
            st.positions_per_s = round((window[-1][1] - window[0][1]) / span, 1)
            st.late_per_s = round((window[-1][2] - window[0][2]) / span, 1)
        if st.state == "running" and not st.redis_ok:
            st.state, st.detail = "degraded", "Redis unreachable: devices are answered 503 and retry"
        return st
