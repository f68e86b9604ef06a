"""Writing one sync cycle into MongoDB, exactly once however many attempts it takes.

    location_buckets  history, one document per (sync cycle, shard), columns as arrays:
                      {_id: "cycle:shard", cycle, shard, ts, n, car_id: [..], t: [..], lat: [..],
                       lng: [..], speed: [..], heading: [..]}
    last_known        one document per shard, merged forward (never back to an older cycle)
    sync_stats        {_id: cycle_id, taken_at, written_at, cars, attempts, duration_s, instance} per
                      written cycle (the idempotency ledger, and what every desktop shows as the last
                      sync: see sync_status.py) and {_id: "totals", ...} running counters

Why buckets (MongoDB's "bucket pattern") instead of a document per unit per cycle: a cycle of
10,000 units is then 64 inserts and 64 updates instead of 20,000 writes. The embedded
MongoDB-wire server spends ~0.2-0.5 ms per written document, so per-unit documents made one
cycle take ~7 s; buckets take well under a second, and a real MongoDB benefits the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pymongo
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ...domain.models import Position, SyncCycle
from ..infra.mongo import Doc, only_duplicates, utc
from .registry import FleetRegistry
from .shards import shard_of

WRITE_SLICE = 16               # shards per bulk request: big fleets do not stall the UI's loop


class BucketWriter:
    def __init__(self, db: AsyncDatabase[Doc], registry: FleetRegistry, *,
                 clock: Callable[[], float] = time.time, instance: str = "") -> None:
        self.db = db
        self._registry = registry
        self._clock = clock
        self.instance = instance     # recorded with each cycle: which instance wrote it

    async def ensure_indexes(self) -> None:
        buckets = self.db.location_buckets
        await buckets.create_index([("shard", pymongo.ASCENDING), ("ts", pymongo.ASCENDING)])
        await buckets.create_index([("cycle", pymongo.ASCENDING)])
        await self.db.sync_stats.create_index([("written_at", pymongo.DESCENDING)])

    async def cycle_written(self, cycle_id: int) -> bool:
        return await self.db.sync_stats.find_one({"_id": cycle_id}, projection={"_id": 1}) is not None

    async def write_cycle(self, cycle: SyncCycle, *, retry: bool, attempts: int = 1) -> bool:
        """Write one sync cycle exactly once. Returns False if it was already written.

        The `sync_stats` document for the cycle is the commit record, written last. Every other
        write is idempotent: bucket ids are "cycle:shard" (a retry finds the first attempt's
        buckets and skips them), last-known shards only move forward (a shard already at this
        or a newer cycle is left alone), and registration inserts ignore existing units.
        """
        t0 = time.monotonic()
        if await self.cycle_written(cycle.cycle_id):
            return False  # committed before (a retry, or the same 10 s slot after a restart)
        by_shard: dict[int, list[Position]] = {}
        for p in cycle.positions:
            by_shard.setdefault(shard_of(p.car_id), []).append(p)
        shards = sorted(by_shard.items())
        for start in range(0, len(shards), WRITE_SLICE):
            part = shards[start:start + WRITE_SLICE]
            await self._insert_buckets(cycle, part, retry=retry)
            await asyncio.sleep(0)
            await self._update_last_known(cycle.cycle_id, part)
            await asyncio.sleep(0)
        await self._registry.register_seen(cycle.positions)
        try:
            await self.db.sync_stats.insert_one({
                "_id": cycle.cycle_id, "taken_at": utc(cycle.taken_at), "written_at": utc(self._clock()),
                "cars": len(cycle.positions), "attempts": attempts,
                "duration_s": round(time.monotonic() - t0, 4), "instance": self.instance,
            })
        except DuplicateKeyError:
            return False
        return True

    @staticmethod
    def bucket_doc(cycle: SyncCycle, shard: int, positions: list[Position]) -> Doc:
        return {"_id": f"{cycle.cycle_id}:{shard}", "cycle": cycle.cycle_id, "shard": shard,
                "ts": utc(cycle.taken_at), "n": len(positions),
                "car_id": [p.car_id for p in positions], "t": [p.timestamp for p in positions],
                "lat": [p.lat for p in positions], "lng": [p.lng for p in positions],
                "speed": [p.speed for p in positions], "heading": [p.heading for p in positions]}

    async def _insert_buckets(self, cycle: SyncCycle, shards: list[tuple[int, list[Position]]],
                              *, retry: bool) -> None:
        docs = [self.bucket_doc(cycle, shard, ps) for shard, ps in shards]
        try:
            await self.db.location_buckets.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # 11000 on a retry: that bucket landed in an earlier attempt (same cycle, same content)
            if not retry or not only_duplicates(exc):
                raise

    async def _update_last_known(self, cycle_id: int, shards: list[tuple[int, list[Position]]]) -> None:
        """Merge this cycle's positions into each shard's last-known map, never going back.

        The filter matches only a shard that holds an older cycle (or none); a shard already at
        this or a newer cycle makes the upsert collide on _id (11000), which leaves it as it is.
        Values go in as $literal: data, never expressions.
        """
        ops = []
        for shard, ps in shards:
            units = {p.car_id: {"t": p.timestamp, "lat": p.lat, "lng": p.lng, "speed": p.speed,
                                "heading": p.heading} for p in ps}
            ops.append(UpdateOne(
                {"_id": shard, "cycle": {"$not": {"$gte": cycle_id}}},
                [{"$set": {"cycle": {"$literal": cycle_id},
                           "units": {"$mergeObjects": [{"$ifNull": ["$units", {}]}, {"$literal": units}]}}}],
                upsert=True,
            ))
        if not ops:
            return
        try:
            await self.db.last_known.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            if not only_duplicates(exc):
                raise

    async def save_totals(self, totals: Doc) -> None:
        await self.db.sync_stats.update_one({"_id": "totals"}, {"$set": totals}, upsert=True)
