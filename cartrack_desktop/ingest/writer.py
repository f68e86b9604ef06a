"""Micro-batches into Redis: a 200 means the fix is in Redis.

Fixes wait at most `batch_interval_s` (or until BATCH_MAX are waiting) and are then written
through LiveStore.update_car_locations, the simulator's own Lua tick script (key + TTL, GEO
index, seen index, per-unit channel and batch channel: every desktop sees them as any other
unit). Late fixes (older than the unit's newest) go to the stream `cartrack:late` for the history
writer, alarms to `cartrack:alarms` + `cartrack:events`, in a second round trip of the same batch.
Every request of the batch is answered from one future when Redis has acknowledged the batch,
or with 503 + Retry-After if it failed or timed out. One batch is in flight at a time, so a unit's
fixes reach Redis in the order they were accepted; the next batch grows while one is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..domain.messages import encode_alarm, encode_event, encode_position
from ..domain.models import Alarm, Position
from ..services.dispatch.keys import EVENTS_CHANNEL
from ..services.infra.timeouts import within
from ..services.live.keys import LATE_STREAM_MAXLEN
from ..services.live.live_store import LiveStore
from . import options as o
from .http_server import Response
from .keys import ALARMS_KEY, LATE_STREAM

log = logging.getLogger(__name__)

UNAVAILABLE = Response(503, b"storage unavailable, retry later\n", retry_after_s=o.RETRY_AFTER_S)


@dataclass
class Batch:
    live: list[Position] = field(default_factory=list)
    late: list[Position] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)    # monotonic arrival per live fix (latency)
    futures: dict[Response, asyncio.Future[Response]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.live) + len(self.late) + len(self.alarms)


@dataclass
class WriterStats:
    batches: int = 0
    written_live: int = 0
    written_late: int = 0
    alarms: int = 0
    failed_batches: int = 0
    failed_fixes: int = 0
    last_batch_ms: float = 0.0
    redis_ok: bool = True


class BatchWriter:
    def __init__(self, store: LiveStore, *, interval_s: float = o.BATCH_INTERVAL_S,
                 on_done: Callable[[Batch, bool], None] | None = None,
                 on_latency: Callable[[list[float], float], None] | None = None) -> None:
        self._store = store
        self._r: aioredis.Redis = store.client
        self.interval_s = interval_s
        self.on_done = on_done
        self.on_latency = on_latency
        self.stats = WriterStats()
        self._batch = Batch()
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight: asyncio.Task[None] | None = None
        self._due = False
        self._down_until = 0.0

    # ---- adding ----------------------------------------------------------------------------
    def available(self, mono: float | None = None) -> bool:
        """False for a moment after a failed write: answer 503 at once instead of queueing."""
        return (time.monotonic() if mono is None else mono) >= self._down_until

    def future(self, success: Response) -> asyncio.Future[Response]:
        """The answer every request of the current batch gets (success, or 503)."""
        fut = self._batch.futures.get(success)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._batch.futures[success] = fut
        return fut

    def add_live(self, p: Position, arrived: float) -> None:
        batch = self._batch
        batch.live.append(p)
        batch.arrived.append(arrived)
        if self._timer is None or len(batch.live) >= o.BATCH_MAX:   # else the timer is armed: nothing to do
            self._kick()

    def add_late(self, p: Position) -> None:
        self._batch.late.append(p)
        self._kick()

    def add_alarm(self, a: Alarm) -> None:
        self._batch.alarms.append(a)
        self._kick()

    def current(self) -> Batch:
        return self._batch

    def _kick(self) -> None:
        if len(self._batch) >= o.BATCH_MAX:
            self._due = True
            self._start()
        elif self._timer is None and not self._due:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._due = True
        self._start()

    def _start(self) -> None:
        if self._in_flight is not None or not self._due or not len(self._batch):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = False
        batch, self._batch = self._batch, Batch()
        self._in_flight = asyncio.get_running_loop().create_task(self._write(batch))

    # ---- writing ---------------------------------------------------------------------------
    async def _write(self, batch: Batch) -> None:
        t0 = time.monotonic()
        ok = True
        try:
            await within(self._write_redis(batch), o.WRITE_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            ok = False
            if self.stats.redis_ok:
                log.warning("ingest: cannot write to Redis (%s); answering 503 until it is back", exc)
            self._down_until = time.monotonic() + o.REDIS_DOWN_HOLD_S
        done = time.monotonic()
        st = self.stats
        st.last_batch_ms = (done - t0) * 1000.0
        if ok:
            if not st.redis_ok:
                log.info("ingest: writing to Redis again")
            st.batches += 1
            st.written_live += len(batch.live)
            st.written_late += len(batch.late)
            st.alarms += len(batch.alarms)
            if self.on_latency is not None and batch.arrived:
                self.on_latency(batch.arrived, done)
        else:
            st.failed_batches += 1
            st.failed_fixes += len(batch)
        st.redis_ok = ok
        if self.on_done is not None:
            self.on_done(batch, ok)
        for success, fut in batch.futures.items():
            if not fut.done():
                fut.set_result(success if ok else UNAVAILABLE)
        self._in_flight = None
        if len(self._batch) and self._timer is None:
            self._due = True   # it waited at least as long as this write took: go now
        self._start()

    async def _write_redis(self, batch: Batch) -> None:
        if batch.live:
            await self._store.update_car_locations(batch.live, newest_only=True)
        if batch.late or batch.alarms:
            async with self._r.pipeline(transaction=False) as pipe:
                for p in batch.late:
                    pipe.xadd(LATE_STREAM, {"p": orjson.dumps(encode_position(p))},
                              maxlen=LATE_STREAM_MAXLEN, approximate=True)
                for a in batch.alarms:
                    fields = encode_alarm(a)
                    pipe.hset(ALARMS_KEY, a.alarm_id, orjson.dumps(fields))
                    pipe.publish(EVENTS_CHANNEL, orjson.dumps(encode_event("alarm", action="raise", **fields)))
                await pipe.execute()

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Write what is waiting (clean stop)."""
        deadline = time.monotonic() + timeout_s
        while (len(self._batch) or self._in_flight is not None) and time.monotonic() < deadline:
            self._due = True
            self._start()
            if self._in_flight is not None:
                await asyncio.wait({self._in_flight}, timeout=max(0.01, deadline - time.monotonic()))
