"""Reading the history back: a unit's track for replay, every unit's last synced position.

    last_known        one document per shard: {_id: shard, cycle, units: {car_id: {t, lat, lng, speed, heading}}}
    location_buckets  one document per (sync cycle, shard), columns as arrays (see buckets.py)

Every value read back is validated (types, ranges, NaN/inf, equal column lengths, sizes); a bad
entry is skipped and counted, never shown.
"""

from __future__ import annotations

from typing import Any

import pymongo
from pymongo.asynchronous.database import AsyncDatabase

from ...domain.messages import MessageRejected, validate_car_id, validate_position
from ...domain.models import Position
from ..infra.mongo import Doc, utc
from ..infra.rejections import RejectionCounter
from .shards import MAX_BUCKET_UNITS, shard_of

HISTORY_READ_LIMIT = 100_000
HISTORY_CAPTURE_LAG_S = 310.0  # a fix is captured at most one TTL (+ one cycle) after it was taken
_COLUMNS = ("car_id", "t", "lat", "lng", "speed", "heading")


def _is_number(v: Any) -> bool:
    return type(v) is float or type(v) is int


class HistoryReader:
    def __init__(self, db: AsyncDatabase[Doc], *, rejections: RejectionCounter) -> None:
        self.db = db
        self.rejections = rejections

    def _unit_position(self, car_id: Any, entry: Any) -> Position | None:
        """One validated entry of a last_known shard document."""
        try:
            cid = validate_car_id(car_id)
            if type(entry) is not dict:
                raise MessageRejected("bad_type", "last_known")
            return validate_position({"car_id": cid, "lat": entry.get("lat"), "lng": entry.get("lng"),
                                      "speed": entry.get("speed"), "heading": entry.get("heading"),
                                      "timestamp": entry.get("t")}, now=None)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, car_id if isinstance(car_id, str) else None)
            return None

    async def last_known_positions(self) -> dict[str, Position]:
        """Every unit's last synced position (validated; bad entries skipped and counted)."""
        out: dict[str, Position] = {}
        async for doc in self.db.last_known.find({}, projection={"units": 1}):
            units = doc.get("units")
            if type(units) is not dict or len(units) > MAX_BUCKET_UNITS:
                self.rejections.reject("bad_type", None)
                continue
            for cid, entry in units.items():
                p = self._unit_position(cid, entry)
                if p is not None:
                    out[p.car_id] = p
        return out

    async def last_known(self, car_id: str) -> Position | None:
        validate_car_id(car_id)
        doc = await self.db.last_known.find_one({"_id": shard_of(car_id)}, projection={f"units.{car_id}": 1})
        units = (doc or {}).get("units")
        if type(units) is not dict or car_id not in units:
            return None
        return self._unit_position(car_id, units[car_id])

    async def track(self, car_id: str, since: float, until: float) -> list[Position]:
        """A unit's synced track between two instants, oldest first, validated.

        Reads only the unit's shard; a fix that several cycles captured again (a unit that
        stopped reporting stays live until its key expires), or that also arrived late, appears once.
        """
        validate_car_id(car_id)
        out: list[Position] = []
        cursor = self.db.location_buckets.find(
            {"shard": shard_of(car_id), "ts": {"$gte": utc(since), "$lte": utc(until + HISTORY_CAPTURE_LAG_S)}},
            projection={"_id": 0, **dict.fromkeys(_COLUMNS, 1)},
        ).sort("ts", pymongo.ASCENDING)
        seen: set[float] = set()
        async for doc in cursor:
            cols: list[list[Any]] = [c for c in (doc.get(k) for k in _COLUMNS) if type(c) is list]
            if len(cols) != len(_COLUMNS) or len(cols[0]) > MAX_BUCKET_UNITS \
                    or any(len(c) != len(cols[0]) for c in cols):
                self.rejections.reject("bad_type", car_id)
                continue
            ids = cols[0]
            for i in _indexes(ids, car_id):   # a sync bucket holds a unit once, a late-fix bucket maybe more
                p = self._point(car_id, cols, i, since, until, seen)
                if p is not None:
                    seen.add(p.timestamp)
                    out.append(p)
            if len(out) >= HISTORY_READ_LIMIT:
                break
        out.sort(key=lambda p: p.timestamp)
        return out[:HISTORY_READ_LIMIT]

    def _point(self, car_id: str, cols: list[list[Any]], i: int, since: float, until: float,
               seen: set[float]) -> Position | None:
        """Column entry i as a validated position inside [since, until] not seen yet, else None."""
        t = cols[1][i]
        if not _is_number(t) or not since <= t <= until or t in seen:
            return None
        try:
            return validate_position({"car_id": car_id, "lat": cols[2][i], "lng": cols[3][i],
                                      "speed": cols[4][i], "heading": cols[5][i], "timestamp": t}, now=None)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, car_id)
            return None


def _indexes(ids: list[Any], car_id: str) -> list[int]:
    """Where car_id occurs in a bucket's id column (list.index runs in C; most buckets hold it once)."""
    out: list[int] = []
    start = 0
    while True:
        try:
            i = ids.index(car_id, start)
        except ValueError:
            return out
        out.append(i)
        start = i + 1
