"""Redis -> MongoDB every 10 s: bounded, idempotent, nothing lost while MongoDB is away.

Two loops: `capture` snapshots the live positions on a fixed 10 s schedule into a bounded
backlog; `writer` drains the backlog oldest-first into MongoDB. A slow or absent MongoDB
therefore never delays the captures, and cycles are written in order once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pymongo
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from ...domain.models import SyncCycle
from ..infra.drain import DrainQueue
from ..infra.errors import first_line
from ..infra.retry import Backoff
from ..infra.timeouts import within
from ..live.live_store import LiveStore
from .buckets import BucketWriter

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 10.0
CYCLE_TIMEOUT_S = 8.0
TIMEOUT_PER_POSITION_S = 0.0015   # big fleets on a slow server need longer than the base timeout
BACKLOG_MAX_CYCLES = 360  # one hour of cycles
CAPTURE_LATE_FRACTION = 0.3


@dataclass
class SyncStats:
    cycles: int = 0                 # cycles written
    cars_synced: int = 0            # positions written, all cycles
    last_cars: int = 0
    last_duration_s: float = 0.0
    failures: int = 0
    capture_failures: int = 0
    last_success_at: float | None = None
    last_cycle_id: int | None = None
    last_taken_at: float | None = None
    last_error: str = ""
    pending: int = 0
    dropped: int = 0
    duplicates_skipped: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class LocationSync:
    def __init__(
        self,
        store: LiveStore,
        writer: BucketWriter,
        *,
        interval_s: float = SYNC_INTERVAL_S,
        timeout_s: float = CYCLE_TIMEOUT_S,
        backlog_max: int = BACKLOG_MAX_CYCLES,
        clock: Callable[[], float] = time.time,
        on_stats: Callable[[SyncStats], None] | None = None,
    ) -> None:
        self._store = store
        self.writer = writer
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._on_stats = on_stats
        # retried with backoff from ~1 s up to one interval while MongoDB is away
        self.backlog: DrainQueue[SyncCycle] = DrainQueue(max_items=backlog_max, backoff=Backoff(1.0, interval_s))
        self._attempts: dict[int, int] = {}
        self.stats = SyncStats()

    def _publish(self) -> None:
        self.stats.pending = len(self.backlog)
        if self._on_stats is not None:
            self._on_stats(self.stats)

    # ---- capture ------------------------------------------------------------------------------
    def cycle_id_for(self, t: float) -> int:
        """The index of the 10 s boundary a capture belongs to.

        Scheduled captures run just after a boundary (up to 30 % of an interval late still
        counts); an off-schedule capture (at shutdown) takes the next boundary's id. Any two
        capturers therefore agree on ids, and the ledger makes a second write of an id a no-op.
        """
        return math.ceil(t / self.interval_s - CAPTURE_LATE_FRACTION)

    async def capture(self) -> SyncCycle | None:
        taken_at = self._clock()
        try:
            positions = await within(self._store.get_all_car_locations(), self.timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            self.stats.capture_failures += 1
            self.stats.last_error = f"Redis: {exc}"
            log.warning("sync: cannot read live positions (%s)", exc)
            self._publish()
            return None
        cycle = SyncCycle(self.cycle_id_for(taken_at), taken_at, tuple(positions))
        if self.backlog and self.backlog[-1].cycle_id >= cycle.cycle_id:
            return None  # same slot captured twice (clock step); the first one stands
        for old in self.backlog.put(cycle):
            self._attempts.pop(old.cycle_id, None)
            self.stats.dropped += 1
            log.warning("sync: backlog full (%d cycles); dropped the oldest cycle %d", self.backlog.max_items,
                        old.cycle_id)
        self._publish()
        return cycle

    async def run_capture(self) -> None:
        while True:
            now = self._clock()
            next_slot = (math.floor(now / self.interval_s) + 1) * self.interval_s
            await asyncio.sleep(max(0.0, next_slot - now))
            await self.capture()

    # ---- write --------------------------------------------------------------------------------
    async def write_one(self, timeout: float | None = None) -> bool:
        """Try the oldest pending cycle once. True if the backlog advanced."""
        cycle = self.backlog.oldest()
        if cycle is None:
            return False
        if timeout is None:
            timeout = max(self.timeout_s, TIMEOUT_PER_POSITION_S * len(cycle.positions))
        attempts = self._attempts.get(cycle.cycle_id, 0) + 1
        self._attempts[cycle.cycle_id] = attempts
        t0 = time.monotonic()
        try:
            with pymongo.timeout(timeout):
                written = await within(
                    self.writer.write_cycle(cycle, retry=attempts > 1, attempts=attempts), timeout + 2.0
                )
        except (PyMongoError, OSError, TimeoutError) as exc:
            self.stats.failures += 1
            self.stats.last_error = f"MongoDB: {first_line(exc, 200)}"
            if attempts == 1 or attempts % 10 == 0:
                log.warning("sync: cycle %d not written (attempt %d): %s; %d cycle(s) pending",
                            cycle.cycle_id, attempts, self.stats.last_error, len(self.backlog))
            self._publish()
            return False
        duration = time.monotonic() - t0
        self.backlog.take_oldest()
        self._attempts.pop(cycle.cycle_id, None)
        if written:
            self.stats.cycles += 1
            self.stats.cars_synced += len(cycle.positions)
        else:
            self.stats.duplicates_skipped += 1
        self.stats.last_cars = len(cycle.positions)
        self.stats.last_duration_s = duration
        self.stats.last_success_at = self._clock()
        self.stats.last_cycle_id = cycle.cycle_id
        self.stats.last_taken_at = cycle.taken_at
        self.stats.last_error = ""
        if attempts > 1:
            log.info("sync: cycle %d written after %d attempts", cycle.cycle_id, attempts)
        try:
            with pymongo.timeout(timeout):
                await self.writer.save_totals({
                    "cycles": self.stats.cycles, "cars_synced": self.stats.cars_synced,
                    "failures": self.stats.failures, "last_duration_s": duration,
                    "last_cycle": cycle.cycle_id, "updated_at": self._clock(), "instance": self.writer.instance,
                })
        except PyMongoError as exc:
            log.debug("sync: totals not saved: %s", exc)
        self._publish()
        return True

    async def run_writer(self) -> None:
        await self.backlog.drain(self.write_one)

    async def flush(self, timeout: float) -> bool:
        """Write what is pending (used at shutdown). True if the backlog emptied."""
        return await self.backlog.flush(timeout, lambda left: self.write_one(timeout=left - 0.1), min_left_s=0.2)
