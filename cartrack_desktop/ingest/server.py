"""IngestServer: HTTP requests -> decoded reports -> devices -> filters -> micro-batches in Redis.

One asyncio loop runs all of it (in its own process: see service.py). The hot path of a request
is synchronous: decode, look the device up, filter, append to the batch, and return the batch's
future; no task per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from ..domain.messages import MessageRejected, check_position, validate_device_id
from ..domain.models import Position
from ..services.infra.rejections import RejectionCounter
from ..services.infra.retry import every
from ..services.infra.timeouts import within
from ..services.live.live_store import LiveStore
from . import filters as f
from . import options as o
from .alarms import AlarmGate
from .devices import DeviceRegistry, UnitDevice, UnknownDevices
from .http_server import OK, OK_JSON, HttpServer, Response
from .protocols import Decoded, Request, decode_request
from .report import DecodeError, DeviceReport
from .writer import UNAVAILABLE, Batch, BatchWriter

log = logging.getLogger(__name__)

UNKNOWN_DEVICE = Response(400, b"unknown device\n")
BAD_DEVICE_ID = Response(400, b"bad device id\n")
BAD_TOKEN = Response(401, b"bad device token\n")
LATENCY_SAMPLES = 20_000
DROPPED_KINDS = frozenset(("speed_range", "stale_timestamp", "future_timestamp"))


def bad_request(kind: str) -> Response:
    return Response(400, f"bad report: {kind}\n".encode("ascii", "replace"))


@dataclass
class Counters:
    live: int = 0
    late: int = 0
    filtered: int = 0
    unknown: int = 0
    alarms: int = 0
    unavailable: int = 0


class IngestServer:
    """Everything of one ingest process; start()/stop() on the running loop."""

    def __init__(self, opts: o.IngestOptions, redis: aioredis.Redis, db: AsyncDatabase[dict[str, Any]],
                 *, rejections: RejectionCounter | None = None, reuse_port: bool = False) -> None:
        self.opts = opts
        self.redis = redis
        self.rejections = rejections or RejectionCounter("ingest")
        self.store = LiveStore(redis)
        self.registry = DeviceRegistry(db, self.rejections)
        self.unknown = UnknownDevices(redis)
        self.writer = BatchWriter(self.store, interval_s=opts.batch_interval_s, on_done=self._batch_done,
                                  on_latency=self._latency)
        self.http = HttpServer(self.handle, opts, self.rejections)
        self.counters = Counters()
        self.last: dict[str, f.LastFix] = {}
        self._pending: dict[str, asyncio.Future[Response]] = {}   # car -> future of its unacknowledged fix
        self.alarms = AlarmGate(opts.alarm_kinds)
        self._registering: dict[str, asyncio.Future[UnitDevice]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._oneshots: set[asyncio.Task[None]] = set()
        self._registered_at: deque[float] = deque()
        self._reuse_port = reuse_port
        self._refresh = asyncio.Event()
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.address: tuple[str, int] | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        try:
            await self.reload_devices()
        except (PyMongoError, RedisError, OSError) as exc:   # listen anyway; the refresher retries
            log.warning("ingest: device registry not loaded yet (%s)", exc)
        self.address = await self.http.start(reuse_port=self._reuse_port)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._refresher()),
                       loop.create_task(every(o.UNKNOWN_FLUSH_S, self.unknown.flush, what="unknown devices",
                                              errors=(RedisError, OSError)))]
        log.info("ingest listening on %s:%d%s", *self.address, " (TLS)" if self.opts.tls else "")
        return self.address

    async def stop(self) -> None:
        await self.http.stop()
        await self.writer.drain()
        for t in self._tasks:
            t.cancel()
        for t in self._oneshots:
            t.cancel()
        await asyncio.gather(*self._tasks, *self._oneshots, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await within(self.unknown.flush(), 1.0)

    def request_refresh(self) -> None:
        """A fleet event: re-read the device map soon."""
        self._refresh.set()

    async def reload_devices(self) -> None:
        before = set(self.registry.units)
        units = await self.registry.load()
        fresh = [d for d in units if d not in before]
        await self.unknown.forget(fresh)
        unseen = [u.car_id for u in units.values() if u.car_id not in self.last]
        if unseen:   # never move a unit back behind the fix another instance wrote before we started
            for p in await self.store.get_car_locations(unseen):
                self.last.setdefault(p.car_id, f.LastFix(p.timestamp, p.lat, p.lng))

    async def _refresher(self) -> None:
        while True:
            try:
                jitter = random.uniform(-o.REGISTRY_REFRESH_JITTER, o.REGISTRY_REFRESH_JITTER)
                await asyncio.wait_for(self._refresh.wait(), o.REGISTRY_REFRESH_S * (1 + jitter))
            except TimeoutError:
                pass
            self._refresh.clear()
            try:
                await self.reload_devices()
            except (PyMongoError, RedisError, OSError) as exc:
                log.debug("ingest: device registry refresh failed: %s", exc)

    # ---- the request path ----------------------------------------------------------------------
    def handle(self, req: Request) -> Response | asyncio.Future[Response]:
        try:
            decoded = decode_request(req, loads=orjson.loads, speed_unit=self.opts.speed_unit)
        except DecodeError as exc:
            self.rejections.reject(exc.kind)
            return bad_request(exc.kind)
        ok = OK_JSON if decoded.json_reply else OK
        report = decoded.report
        if report is None:
            return ok
        try:
            validate_device_id(report.device_id)
        except MessageRejected:
            self.rejections.reject("bad_device_id")
            return BAD_DEVICE_ID
        unit = self.registry.lookup(report.device_id)
        if unit is None:
            if not self.registry.loaded_at:   # MongoDB not reached yet: we do not know, say "retry"
                self.counters.unavailable += 1
                return UNAVAILABLE
            return self._unknown(report, decoded)
        return self.accept(report, unit, ok)

    def _unknown(self, report: DeviceReport, decoded: Decoded) -> Response | asyncio.Future[Response]:
        if not self.opts.register_unknown:
            self.counters.unknown += 1
            self.rejections.reject("unknown_device")
            self.unknown.record(report, time.time())
            return UNKNOWN_DEVICE
        now = time.monotonic()
        while self._registered_at and now - self._registered_at[0] > 60.0:
            self._registered_at.popleft()
        if len(self._registered_at) >= o.MAX_REGISTRATIONS_PER_MIN and report.device_id not in self._registering:
            self.rejections.reject("registration_rate")   # a flood of new ids must not flood the fleet
            self.unknown.record(report, time.time())
            return UNKNOWN_DEVICE
        if report.device_id not in self._registering:
            self._registered_at.append(now)
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(self._register_then(report, decoded, answer))
        self._oneshots.add(task)
        task.add_done_callback(self._oneshots.discard)
        return answer

    async def _register_then(self, report: DeviceReport, decoded: Decoded, answer: asyncio.Future[Response]) -> None:
        """--ingest-register: the first report of a new device creates its unit, then counts."""
        fut = self._registering.get(report.device_id)
        try:
            if fut is None:
                fut = asyncio.ensure_future(self.registry.register(report.device_id, self.redis))
                self._registering[report.device_id] = fut
            unit = await fut
        except (PyMongoError, RedisError, OSError, RuntimeError) as exc:
            log.warning("ingest: could not register device %r: %s", report.device_id, exc)
            answer.set_result(UNAVAILABLE)
            return
        finally:
            if fut is not None and fut.done():
                self._registering.pop(report.device_id, None)
        result = self.accept(report, unit, OK_JSON if decoded.json_reply else OK)
        if isinstance(result, Response):
            answer.set_result(result)
        else:
            result.add_done_callback(lambda r: None if answer.done() else answer.set_result(r.result()))

    def accept(self, report: DeviceReport, unit: UnitDevice, ok: Response) -> Response | asyncio.Future[Response]:
        """A known device's report: token, validation, filters, then into the batch."""
        if unit.secret_sha256 is not None and not unit.token_ok(report.token):
            self.rejections.reject("bad_token", unit.car_id)
            return BAD_TOKEN
        writer = self.writer
        mono = time.monotonic()
        if not writer.available(mono):
            self.counters.unavailable += 1
            return UNAVAILABLE
        now = time.time()
        car = unit.car_id
        if not report.has_position:
            if report.alarm and self._raise_alarm(report, car, now, None):
                return writer.future(ok)
            self.rejections.reject("no_position", car)
            return ok
        t = report.fix_time if report.fix_time is not None else now
        fix = f.Fix(t, report.lat or 0.0, report.lng or 0.0, report.valid, report.accuracy_m)
        last = self.last.get(car)
        verdict, kind = f.check(fix, last, now, self.opts.filters)
        if verdict is f.Verdict.REJECTED:
            assert kind is not None
            return self._refused(report, car, fix, last, kind, now, ok)
        try:
            pos = check_position(car, fix.lat, fix.lng, report.speed_mph, report.heading, t, now)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, car)
            # a glitch (a GPS speed spike, a fix buffered for days) is dropped with a 200: the apps
            # retry a refused report forever, and it would block every report queued behind it
            return ok if exc.kind in DROPPED_KINDS else bad_request(exc.kind)
        if verdict is f.Verdict.LIVE:
            self.last[car] = f.LastFix(t, fix.lat, fix.lng)
            writer.add_live(pos, mono)
            self.counters.live += 1
        else:
            writer.add_late(pos)
            self.counters.late += 1
        if report.alarm:
            self._raise_alarm(report, car, now, pos)
        fut = writer.future(ok)
        if verdict is f.Verdict.LIVE:
            self._pending[car] = fut   # a duplicate of this fix, sent again before the answer, shares it
        return fut

    def _refused(self, report: DeviceReport, car: str, fix: f.Fix, last: f.LastFix | None, kind: f.FilterKind,
                 now: float, ok: Response) -> Response | asyncio.Future[Response]:
        """A filtered fix: counted, answered 200 (or as the fix it repeats), never written."""
        self.counters.filtered += 1
        self.rejections.reject(kind, car)
        state = f.advance(last, fix, f.Verdict.REJECTED, kind)
        if state is not None:
            self.last[car] = state
        if report.alarm and self._raise_alarm(report, car, now, None):
            return self.writer.future(ok)
        pending = self._pending.get(car)
        if kind == "duplicate" and pending is not None and not pending.done():
            return pending  # answered as the fix it repeats
        return ok

    def _raise_alarm(self, report: DeviceReport, car: str, now: float, pos: Position | None) -> bool:
        last = self.last.get(car)
        fix = (pos.lat, pos.lng, pos.timestamp) if pos else ((last.lat, last.lng, report.fix_time or now) if last
                                                              else None)
        alarm = self.alarms.check(report, car, now=now, mono=time.monotonic(), fix=fix)
        if alarm is None:
            return False
        self.writer.add_alarm(alarm)
        self.counters.alarms += 1
        return True

    # ---- batch outcome ---------------------------------------------------------------------------
    def _batch_done(self, batch: Batch, ok: bool) -> None:
        """Nothing to do per fix when the batch is in Redis (`_pending` keeps one done future per unit
        at most, and a done future is never shared again). A failed batch: the devices will send it
        all again (503), so forget what would refuse the retries."""
        if ok:
            return
        for a in batch.alarms:   # the device will send the alarm again: it must be raised then
            self.alarms.forget(a)
        for p in batch.live:
            # not in Redis: forget the filter state so the device's retry is taken as new
            last = self.last.get(p.car_id)
            if last is not None and last.t == p.timestamp:
                del self.last[p.car_id]
        self.counters.unavailable += len(batch)

    def _latency(self, arrived: list[float], done: float) -> None:
        self.latencies_ms.extend((done - a) * 1000.0 for a in arrived)

    def snapshot(self) -> dict[str, Any]:
        """Counters for the stats line the service aggregates (plain JSON types)."""
        w = self.writer.stats
        c = self.counters
        return {"live": c.live, "late": c.late, "filtered": c.filtered, "unknown": c.unknown, "alarms": c.alarms,
                "unavailable": c.unavailable, "written_live": w.written_live, "written_late": w.written_late,
                "failed_fixes": w.failed_fixes, "idle_closed": self.http.idle_closed,
                "batches": w.batches, "failed_batches": w.failed_batches, "redis_ok": w.redis_ok,
                "last_batch_ms": round(w.last_batch_ms, 2), "connections": len(self.http.connections),
                "requests": self.http.requests, "rejections": self.rejections.snapshot(),
                "devices": len(self.registry.units)}
