"""Named long-running tasks: started, restarted with capped backoff on failure, stopped in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .errors import ErrorBus, Level
from .retry import Attempts, Backoff

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Coroutine[Any, Any, None]]
RESTART_BACKOFF = Backoff(0.5, 30.0)
HEALTHY_AFTER_S = 60.0  # a run this long resets the backoff


def _where(task: asyncio.Task[None]) -> str:
    """The chain of awaits a task is suspended in (for stuck-task reports)."""
    parts: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and len(parts) < 20:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            parts.append(f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " -> ".join(parts) or "?"


class Supervisor:
    def __init__(self, errors: ErrorBus) -> None:
        self._errors = errors
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._oneshots: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def start(self, name: str, factory: TaskFactory, *, restart: bool = True) -> asyncio.Task[None]:
        if name in self._tasks and not self._tasks[name].done():
            raise RuntimeError(f"task {name!r} is already running")
        task = asyncio.get_running_loop().create_task(self._guard(name, factory, restart), name=name)
        self._tasks[name] = task
        task.add_done_callback(self._done)
        self._refuse_if_stopping(task, name)
        return task

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A one-shot background task: tracked, its failure reported, cancelled on stop."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._oneshots.add(task)
        self._refuse_if_stopping(task, name)

        def done(t: asyncio.Task[Any]) -> None:
            self._oneshots.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                self._errors.report(name, f"{type(exc).__name__}: {exc}", Level.ERROR, exc)

        task.add_done_callback(done)
        return task

    async def _guard(self, name: str, factory: TaskFactory, restart: bool) -> None:
        attempts = Attempts(RESTART_BACKOFF)
        while True:
            started = time.monotonic()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported, then restarted
                if time.monotonic() - started > HEALTHY_AFTER_S:
                    attempts.reset()
                self._errors.report(name, f"failed: {type(exc).__name__}: {exc}", Level.ERROR, exc)
                if not restart:
                    return
                delay = attempts.failed()
                log.info("restarting %s in %.1f s", name, delay)
                await asyncio.sleep(delay)

    def _refuse_if_stopping(self, task: asyncio.Task[Any], name: str) -> None:
        """A task started once stop() began is cancelled before it runs: a task that swallowed its own
        cancellation (some drivers turn it into their error) must not leave a new one running after stop."""
        if self._stopping:
            log.debug("not starting %s: stopping", name)
            task.cancel()

    def _live(self) -> set[asyncio.Task[Any]]:
        return {t for t in (*self._tasks.values(), *self._oneshots) if not t.done()}

    def _done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # only if _guard itself broke
            self._errors.report(task.get_name(), f"crashed: {exc!r}", Level.ERROR, exc)

    async def stop(self, timeout: float = 3.0) -> None:
        """Cancel every task and wait for them (bounded).

        The cancellation is repeated: a library that turns a CancelledError into its own
        error (seen with the MongoDB driver during a network call) would otherwise leave a
        loop running; the repeat reaches it at its next await.
        """
        self._stopping = True
        deadline = time.monotonic() + timeout
        pending = self._live()
        while pending and time.monotonic() < deadline:
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=min(0.25, max(0.01, deadline - time.monotonic())))
            pending = self._live()        # and any a stopping task started meanwhile
        self._tasks.clear()
        self._oneshots.clear()
        if pending:
            for t in pending:
                log.warning("task %s did not stop within %.1f s (at %s)", t.get_name(), timeout, _where(t))
