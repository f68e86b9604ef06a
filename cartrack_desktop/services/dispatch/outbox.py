"""Dispatcher writes to MongoDB that must not be lost: a durable, ordered outbox.

Incidents, timeline entries, unit statuses and audit entries are put here first and written
by one task, oldest first, with retries. While MongoDB is away they wait; they are also
appended to a journal file under the data directory, so even a restart of the app does not
lose them. Every operation is idempotent (ids, `$ne` guards, newer-wins timestamps), so
replaying one that was in fact written is harmless.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pymongo.errors import PyMongoError

from ..infra.drain import DrainQueue
from ..infra.errors import ErrorBus, Level, first_line
from ..infra.retry import Backoff
from ..infra.timeouts import within

log = logging.getLogger(__name__)

WRITE_TIMEOUT_S = 5.0
MAX_PENDING = 100_000
COMPACT_AFTER_DONE = 200
RETRY_BACKOFF = Backoff(1.0, 10.0)


class OpKind(enum.StrEnum):
    """What a dispatcher write does in MongoDB (dispatch/records.py applies each)."""

    INCIDENT_INSERT = "incident.insert"
    INCIDENT_EVENT = "incident.event"
    INCIDENT_CLOSE = "incident.close"
    CAR_STATUS = "car.status"
    AUDIT = "audit"


@dataclass(frozen=True, slots=True)
class Op:
    op_id: str
    kind: OpKind
    payload: dict[str, Any]
    at: float


Applier = Callable[[Op], Awaitable[None]]


class Journal:
    """Append-only JSON lines: {"op": {...}} for a new op, {"done": id} once written."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / f"outbox-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._done_since_compact = 0

    def append(self, record: dict[str, Any]) -> None:
        os.write(self._fd, orjson.dumps(record) + b"\n")

    def add(self, op: Op) -> None:
        self.append({"op": {"id": op.op_id, "kind": op.kind, "payload": op.payload, "at": op.at}})
        os.fsync(self._fd)  # dispatcher actions are rare and precious

    def done(self, op_id: str, pending: int) -> None:
        self.append({"done": op_id})
        self._done_since_compact += 1
        if pending == 0 and self._done_since_compact >= COMPACT_AFTER_DONE:
            os.ftruncate(self._fd, 0)
            self._done_since_compact = 0

    def close(self, *, remove_if_empty: bool) -> None:
        with contextlib.suppress(OSError):
            if remove_if_empty:
                self.path.unlink()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)

    def adopt_orphans(self) -> tuple[list[Op], list[str]]:
        """Pending ops from journals of instances that are gone (their files are not locked), and
        the kinds of pending entries this version does not know (not adopted)."""
        ops: list[Op] = []
        unknown: list[str] = []
        for f in sorted(self.directory.glob("outbox-*.jsonl")):
            if f == self.path:
                continue
            try:
                fd = os.open(f, os.O_RDONLY)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live instance owns it
                found, odd = _read_pending(f)
                ops.extend(found)
                unknown.extend(odd)
                f.unlink()
            finally:
                os.close(fd)
        return ops, unknown


def _read_pending(path: Path) -> tuple[list[Op], list[str]]:
    """The ops of a journal not marked done, and the kinds of those of no known kind."""
    pending: dict[str, tuple[str, dict[str, Any], float]] = {}
    try:
        data = path.read_bytes()
    except OSError:
        return [], []
    for line in data.splitlines():
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn last line after a crash
        if not isinstance(rec, dict):
            continue
        if "done" in rec and isinstance(rec["done"], str):
            pending.pop(rec["done"], None)
            continue
        op = rec.get("op")
        if isinstance(op, dict) and isinstance(op.get("id"), str) and isinstance(op.get("kind"), str) \
                and isinstance(op.get("payload"), dict) and isinstance(op.get("at"), int | float):
            pending[op["id"]] = (op["kind"], op["payload"], float(op["at"]))
    ops: list[Op] = []
    unknown: list[str] = []
    known = {k.value for k in OpKind}
    for op_id, (kind, payload, at) in pending.items():
        if kind in known:
            ops.append(Op(op_id, OpKind(kind), payload, at))
        else:
            unknown.append(kind)
    return ops, unknown


class Outbox:
    def __init__(self, apply: Applier, journal_dir: Path | None, *, errors: ErrorBus | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._apply = apply
        self._clock = clock
        self.pending: DrainQueue[Op] = DrainQueue(max_items=MAX_PENDING, backoff=RETRY_BACKOFF)
        self.written = 0
        self.failures = 0
        self.last_error = ""
        self.unknown_skipped = 0   # journalled writes of a kind this version does not know (another version's)
        self.journal: Journal | None = None
        if journal_dir is not None:
            try:
                self.journal = Journal(journal_dir)
                adopted, unknown = self.journal.adopt_orphans()
            except OSError as exc:
                log.warning("outbox journal unavailable (%s); pending writes are kept in memory only", exc)
                self.journal = None
                adopted, unknown = [], []
            if unknown:
                self._skipped(unknown, errors)
            for op in sorted(adopted, key=lambda o: o.at):
                self._enqueue(op)
            if adopted:
                log.info("outbox: %d write(s) left by an earlier run will be written", len(adopted))

    def _skipped(self, kinds: list[str], errors: ErrorBus | None) -> None:
        self.unknown_skipped += len(kinds)
        names = ", ".join(repr(k[:40]) for k in sorted(set(kinds))[:5])
        message = (f"{len(kinds)} journalled dispatcher write(s) of unknown kind ({names}) not written: "
                   "left by another version of the app?")
        if errors is not None:
            errors.report("outbox", message, Level.WARNING)
        else:
            log.warning("outbox: %s", message)

    def _enqueue(self, op: Op) -> None:
        for dropped in self.pending.put(op):
            log.error("outbox full: dropped the oldest pending write (%s %s)", dropped.kind, dropped.op_id)
        if self.journal is not None:
            try:
                self.journal.add(op)
            except OSError as exc:
                log.warning("outbox journal write failed: %s", exc)

    def put(self, kind: OpKind, payload: dict[str, Any]) -> Op:
        """Queue a write; a kind that is not an OpKind raises ValueError (it could never be written)."""
        op = Op(uuid.uuid4().hex, OpKind(kind), payload, self._clock())
        self._enqueue(op)
        return op

    async def write_one(self) -> bool:
        """Try the oldest pending write once. True if it was written."""
        op = self.pending.oldest()
        if op is None:
            return False
        try:
            await within(self._apply(op), WRITE_TIMEOUT_S)
        except (PyMongoError, OSError, TimeoutError) as exc:
            self.failures += 1
            self.last_error = first_line(exc, 200)
            return False
        self.pending.take_oldest()
        self.written += 1
        if self.journal is not None:
            try:
                self.journal.done(op.op_id, len(self.pending))
            except OSError as exc:
                log.warning("outbox journal write failed: %s", exc)
        return True

    def _failing(self, failures: int) -> None:
        if failures == 1:
            log.warning("outbox: MongoDB write failed (%s); %d write(s) kept and retried",
                        self.last_error, len(self.pending))

    def _recovered(self, _failures: int) -> None:
        log.info("outbox: writing to MongoDB again (%d pending)", len(self.pending))

    async def run(self) -> None:
        await self.pending.drain(self.write_one, on_failure=self._failing, on_recovery=self._recovered)

    async def flush(self, timeout: float) -> bool:
        """Write what is pending (at shutdown). True if nothing is left."""
        return await self.pending.flush(timeout, lambda _left: self.write_one())

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close(remove_if_empty=not self.pending)
            self.journal = None
