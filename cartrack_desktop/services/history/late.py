"""Late fixes into the history: the `cartrack:late` stream lands in location_buckets, exactly once.

A phone out of coverage sends its buffered fixes minutes later. The device ingest never lets them
move the live marker back; it adds each to the stream `cartrack:late` (field `p`, position JSON).
This writer reads the stream with a consumer group (every instance may run one; the group hands
each entry to one of them), writes the fixes into `location_buckets` at their own time, and only
then acknowledges and deletes the entries (XACK + XDEL).

Documents: one per (10 s cycle of the fix time, shard) of a read, in the sync's bucket format plus
`late: true` and `eid` (the stream entry ids it holds):
    {_id: "late:<first entry id>:<shard>", cycle, shard, ts: newest fix time, n, late: true,
     eid: [..], fk: [..], car_id: [..], t: [..], lat: [..], lng: [..], speed: [..], heading: [..]}
`ts` is within one cycle of every fix in it, so the history reader's time window finds them.

Exactly once, by stream entry id: before writing, the entry ids already in a document (an
earlier attempt that wrote and then lost Redis, or an instance that died before its XACK) are
looked up (`eid` index) and skipped, and a document's _id is derived from its first entry id, so a
retry of the same read collides instead of writing twice. A fix a device sent twice (it resends
what it got no answer for) is two entries: the unit and fix time (`fk`, "car_id@ms") are looked up
too, so it is written once. Survives MongoDB outages (the read is
retried with backoff, the entries wait in the stream) and restarts (entries read but never
acknowledged are claimed by a live instance after CLAIM_IDLE_S). The stream keeps at most ~200,000
entries (the ingest trims it): a MongoDB outage long enough to exceed that loses the oldest late
fixes, never a live position.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pymongo
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError
from redis.exceptions import RedisError, ResponseError

from ...domain.messages import MessageRejected, decode_position
from ...domain.models import Position
from ..infra.mongo import Doc, only_duplicates, utc
from ..infra.rejections import RejectionCounter
from ..infra.retry import Attempts, Backoff
from ..infra.timeouts import within
from ..live.keys import LATE_STREAM
from .shards import shard_of
from .sync import SYNC_INTERVAL_S

log = logging.getLogger(__name__)

GROUP = "history"
READ_COUNT = 1000            # entries per read: one lookup, a few inserts, one XACK + XDEL
POLL_S = 1.0                 # an empty stream is polled this often (late fixes are not urgent)
CLAIM_IDLE_S = 30.0          # entries read by an instance that died are taken over after this
CLAIM_EVERY_S = 15.0
WRITE_TIMEOUT_S = 10.0
RETRY = Backoff(1.0, 15.0)


@dataclass
class LateStats:
    landed: int = 0            # fixes written into the history
    duplicates: int = 0        # entries found already written (a retry after a lost acknowledgement)
    rejected: int = 0          # entries that are not a valid position (acknowledged, never written)
    claimed: int = 0           # entries taken over from an instance that stopped before acknowledging
    failures: int = 0          # failed attempts (MongoDB or Redis unreachable)
    waiting: int = 0           # entries read and not yet written (while MongoDB is away)
    last_landed_at: float = 0.0


def consumer_name() -> str:
    """This process in the consumer group (another process on the host is another consumer)."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}"


def _fix_key(p: Position) -> str:
    """One fix of one unit: its id and fix time (ms, as the position JSON carries it)."""
    return f"{p.car_id}@{round(p.timestamp * 1000)}"


def _text(value: Any) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


class LateFixWriter:
    def __init__(self, redis: aioredis.Redis, db: AsyncDatabase[Doc], *, rejections: RejectionCounter,
                 consumer: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._r = redis
        self.db = db
        self.rejections = rejections
        self.consumer = consumer or consumer_name()
        self._clock = clock
        self.stats = LateStats()
        self._next_claim = 0.0
        self._prepared = False
        # read, not yet landed (entry ids, valid fixes): retried before anything else is read
        self._held: tuple[list[str], list[tuple[str, Position]]] | None = None

    async def ensure_indexes(self) -> None:
        await self.db.location_buckets.create_index([("eid", pymongo.ASCENDING)], sparse=True)
        await self.db.location_buckets.create_index([("fk", pymongo.ASCENDING)], sparse=True)

    async def ensure_group(self) -> None:
        """The consumer group, from the stream's start (MKSTREAM: the stream may not exist yet)."""
        try:
            await self._r.xgroup_create(LATE_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def prepare(self) -> None:
        await within(self.ensure_indexes(), WRITE_TIMEOUT_S)
        await self.ensure_group()
        self._prepared = True

    # ---- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Forever: read, land, acknowledge; back off while Redis or MongoDB is away."""
        attempts = Attempts(RETRY)
        while True:
            try:
                if not self._prepared:
                    await self.prepare()
                n = await self.step()
                if attempts.reset():
                    log.info("late fixes: writing to the history again")
            except (PyMongoError, RedisError, OSError, TimeoutError) as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    self._prepared = False   # the stream was deleted (a Redis that restarted empty): make it again
                self.stats.failures += 1
                if attempts.failures == 0:
                    log.warning("late fixes: cannot land them in the history yet (%s); retrying", exc)
                await attempts.pause()
                continue
            if n == 0:
                await asyncio.sleep(POLL_S)

    async def step(self) -> int:
        """One read (a failed one again first, then entries of stopped instances), landed and
        acknowledged; returns its size."""
        if self._held is None:
            entries = await self._claim() if self._clock() >= self._next_claim else []
            if not entries:
                reply: Any = await self._r.xreadgroup(GROUP, self.consumer, {LATE_STREAM: ">"}, count=READ_COUNT)
                entries = [(_text(eid), fields) for _name, msgs in reply or [] for eid, fields in msgs]
            if not entries:
                return 0
            self._held = ([eid for eid, _ in entries], [f for f in map(self._decode, entries) if f is not None])
        ids, fixes = self._held
        self.stats.waiting = len(fixes)
        if fixes:
            self.stats.landed += await within(self.land(fixes), WRITE_TIMEOUT_S)
            self.stats.last_landed_at = time.time()
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.xack(LATE_STREAM, GROUP, *ids)
            pipe.xdel(LATE_STREAM, *ids)
            await pipe.execute()
        self._held = None
        self.stats.waiting = 0
        return len(ids)

    async def _claim(self) -> list[tuple[str, Any]]:
        self._next_claim = self._clock() + CLAIM_EVERY_S
        reply = await self._r.xautoclaim(LATE_STREAM, GROUP, self.consumer, int(CLAIM_IDLE_S * 1000),
                                         start_id="0-0", count=READ_COUNT)
        msgs = reply[1] if isinstance(reply, list | tuple) and len(reply) > 1 else []
        out = [(_text(eid), fields) for eid, fields in msgs if fields is not None]
        if out:
            self.stats.claimed += len(out)
            log.info("late fixes: took over %d entries an instance read and never acknowledged", len(out))
            self._next_claim = 0.0   # there may be more
        return out

    def _decode(self, entry: tuple[str, Any]) -> tuple[str, Position] | None:
        eid, fields = entry
        raw = fields.get(b"p", fields.get("p")) if isinstance(fields, dict) else None
        try:
            if raw is None:
                raise MessageRejected("missing_field", "p")
            return eid, decode_position(raw, now=None, loads=orjson.loads)
        except MessageRejected as exc:
            self.stats.rejected += 1
            self.rejections.reject(exc.kind, None)
            log.debug("late fixes: entry %s rejected: %s", eid, exc)
            return None

    # ---- MongoDB -------------------------------------------------------------------------------
    async def land(self, fixes: list[tuple[str, Position]]) -> int:
        """Write the fixes not already written; returns how many were written now.

        Already written: the same stream entry (a retry of this read, or an instance that died
        before its XACK), or the same unit and fix time (a device that sent a buffered fix again
        after a lost answer puts it in the stream twice)."""
        ids = [eid for eid, _ in fixes]
        keys = [_fix_key(p) for _, p in fixes]
        done: set[str] = set()
        query = {"$or": [{"eid": {"$in": ids}}, {"fk": {"$in": keys}}]}
        async for d in self.db.location_buckets.find(query, projection={"eid": 1, "fk": 1}):
            for name in ("eid", "fk"):
                values = d.get(name)
                if isinstance(values, list):
                    done.update(v for v in values if isinstance(v, str))
        groups: dict[tuple[int, int], list[tuple[str, Position]]] = {}
        for eid, p in fixes:
            key = _fix_key(p)
            if eid in done or key in done:
                self.stats.duplicates += 1
                continue
            done.add(key)
            groups.setdefault((int(p.timestamp // SYNC_INTERVAL_S), shard_of(p.car_id)), []).append((eid, p))
        if not groups:
            return 0
        docs = [self.bucket_doc(cycle, shard, group) for (cycle, shard), group in sorted(groups.items())]
        try:
            await self.db.location_buckets.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if not only_duplicates(exc):   # a document of this very read, written by an earlier attempt
                raise
        return sum(len(g) for g in groups.values())

    @staticmethod
    def bucket_doc(cycle: int, shard: int, group: list[tuple[str, Position]]) -> Doc:
        ps = [p for _, p in group]
        return {"_id": f"late:{group[0][0]}:{shard}", "cycle": cycle, "shard": shard,
                "ts": utc(max(p.timestamp for p in ps)), "n": len(ps), "late": True, "eid": [e for e, _ in group],
                "fk": [_fix_key(p) for p in ps],
                "car_id": [p.car_id for p in ps], "t": [p.timestamp for p in ps], "lat": [p.lat for p in ps],
                "lng": [p.lng for p in ps], "speed": [p.speed for p in ps], "heading": [p.heading for p in ps]}
