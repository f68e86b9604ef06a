"""The last sync cycle any instance wrote, as every desktop shows it.

Only the instance holding the sync lease captures and writes cycles, so its own counters say
nothing on the other desktops. The shared truth is `sync_stats` in MongoDB: each written cycle's
document names the instance that wrote it, when and how long it took. This reads the newest one
every few seconds (one indexed query on `written_at`).
"""

from __future__ import annotations

import logging

import pymongo
from pymongo.asynchronous.database import AsyncDatabase

from ...domain.messages import MessageRejected, validate_sync_record
from ...domain.models import SyncRecord
from ..infra.mongo import Doc
from ..infra.observers import Observers
from ..infra.rejections import RejectionCounter
from .sync import SyncStats

log = logging.getLogger(__name__)

SYNC_STATUS_EVERY_S = 5.0     # half the sync interval: a new cycle shows within ~5 s everywhere
_SCAN_LIMIT = 5               # newest documents looked at, in case the newest is unreadable


class SyncStatusReader:
    def __init__(self, db: AsyncDatabase[Doc], *, rejections: RejectionCounter) -> None:
        self.db = db
        self.rejections = rejections
        self.last: SyncRecord | None = None
        self.changed: Observers[SyncRecord] = Observers("sync status")
        self._rejected: set[object] = set()   # a bad document is counted once, not at every read

    async def latest(self) -> SyncRecord | None:
        """The newest readable cycle record (the totals document and bad documents are skipped)."""
        cursor = self.db.sync_stats.find({"_id": {"$ne": "totals"}}).sort(
            "written_at", pymongo.DESCENDING).limit(_SCAN_LIMIT)
        async for doc in cursor:
            try:
                return validate_sync_record(doc)
            except MessageRejected as exc:
                key = doc.get("_id")
                if isinstance(key, int | str) and key not in self._rejected and len(self._rejected) < _SCAN_LIMIT * 20:
                    self._rejected.add(key)
                    self.rejections.reject(exc.kind, None)
        return None

    async def refresh(self) -> None:
        record = await self.latest()
        if record is not None and record != self.last:
            self.last = record
            self.changed.emit(record)


def newest_sync(local: SyncStats | None, shared: SyncRecord | None, instance: str) -> SyncRecord | None:
    """What to show as the last sync: the shared record, or this instance's own last write (named
    `instance`) while it is newer than the record read back (it reaches MongoDB's within seconds)."""
    mine = None
    if local is not None and local.last_success_at is not None and local.last_cycle_id is not None:
        mine = SyncRecord(local.last_cycle_id, local.last_taken_at or local.last_success_at, local.last_success_at,
                          local.last_cars, local.last_duration_s, instance)
    if mine is None or (shared is not None and shared.cycle_id >= mine.cycle_id):
        return shared
    return mine
