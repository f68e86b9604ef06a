"""The history pieces (registry, bucket writer, reader) on one test database, as the runtime wires them."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from cartrack_desktop.services.history.buckets import BucketWriter
from cartrack_desktop.services.history.reader import HistoryReader
from cartrack_desktop.services.history.registry import FleetRegistry
from cartrack_desktop.services.infra.mongo import Doc
from cartrack_desktop.services.infra.rejections import RejectionCounter


@dataclass
class History:
    db: AsyncDatabase[Doc]
    rejections: RejectionCounter
    reader: HistoryReader
    registry: FleetRegistry
    writer: BucketWriter

    async def ensure_indexes(self) -> None:
        await self.registry.ensure_indexes()
        await self.writer.ensure_indexes()

    async def positions_in_cycle(self, cycle_id: int) -> int:
        """How many unit positions the history holds for one cycle."""
        total = 0
        async for doc in self.db.location_buckets.find({"cycle": cycle_id}, projection={"n": 1}):
            n = doc.get("n")
            total += n if type(n) is int else 0
        return total


def history_on(client: AsyncMongoClient[Doc], db_name: str) -> History:
    db = client[db_name]
    rejections = RejectionCounter("mongodb documents")
    reader = HistoryReader(db, rejections=rejections)
    registry = FleetRegistry(db, reader, rejections=rejections)
    return History(db, rejections, reader, registry, BucketWriter(db, registry))
