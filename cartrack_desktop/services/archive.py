"""MongoDB: fleet registry, last known positions, location history, sync statistics.

Collections (database `cartrack` unless the URI names one):
  cars              {_id: car_id, car_id, call_sign, status, simulated, incident_id,
                     location: {lat, lng, speed, heading, timestamp}, location_at}
  location_history  time-series (timeField ts, metaField car_id where supported):
                     {ts, car_id, cycle, lat, lng, speed, heading}; one per unit per sync cycle
  sync_stats        {_id: cycle_id, taken_at, written_at, cars, attempts} per written cycle
                    (the idempotency ledger) and {_id: "totals", ...} running counters

Every field read back is validated: a document that does not fit is skipped and counted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError, OperationFailure

from ..domain.dispatch import Incident
from ..domain.messages import (
    MessageRejected,
    validate_car_id,
    validate_incident,
    validate_position,
    validate_text,
)
from ..domain.models import Car, Position, SyncCycle, UnitStatus
from .rejections import RejectionCounter

log = logging.getLogger(__name__)

Doc = dict[str, Any]

CALL_SIGN_MAX = 32
WRITE_SLICE = 250
HISTORY_READ_LIMIT = 100_000
_PHONETIC = (
    "Adam", "Boy", "Charles", "David", "Edward", "Frank", "George", "Henry", "Ida", "John",
    "King", "Lincoln", "Mary", "Nora", "Ocean", "Paul", "Queen", "Robert", "Sam", "Tom",
    "Union", "Victor", "William", "Xray", "Young", "Zebra",
)


def default_car_id(n: int) -> str:
    return f"PC-{n:03d}"


def default_call_sign(n: int) -> str:
    """Radio call signs in APCO phonetic style: Adam-1, Boy-1, ... Zebra-1, Adam-2, ..."""
    return f"{_PHONETIC[(n - 1) % 26]}-{(n - 1) // 26 + 1}"


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _location_doc(p: Position) -> Doc:
    return {"lat": p.lat, "lng": p.lng, "speed": p.speed, "heading": p.heading, "timestamp": p.timestamp}


class Archive:
    def __init__(
        self,
        client: AsyncMongoClient[Doc],
        db_name: str,
        *,
        rejections: RejectionCounter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.db: AsyncDatabase[Doc] = client[db_name]
        self.rejections = rejections or RejectionCounter("mongodb documents")
        self._clock = clock
        self.history_is_timeseries = False

    @property
    def client(self) -> AsyncMongoClient[Doc]:
        return self._client

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    # ---- schema -----------------------------------------------------------------------------
    async def ensure_schema(self) -> None:
        existing = set(await self.db.list_collection_names())
        if "location_history" not in existing:
            try:
                await self.db.create_collection(
                    "location_history",
                    timeseries={"timeField": "ts", "metaField": "car_id", "granularity": "seconds"},
                )
                self.history_is_timeseries = True
            except (OperationFailure, CollectionInvalid) as exc:
                log.info("server has no time-series collections (%s); using a regular collection", exc)
                await self.db.create_collection("location_history")
        else:
            async for info in await self.db.list_collections(filter={"name": "location_history"}):
                self.history_is_timeseries = "timeseries" in (info.get("options") or {})
        hist = self.db.location_history
        await hist.create_index([("cycle", pymongo.ASCENDING)])
        await hist.create_index([("car_id", pymongo.ASCENDING), ("ts", pymongo.ASCENDING)])
        await self.db.cars.create_index([("call_sign", pymongo.ASCENDING)], unique=True)
        await self.db.sync_stats.create_index([("written_at", pymongo.DESCENDING)])
        await self.db.incidents.create_index([("status", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)])
        await self.db.audit_log.create_index([("at", pymongo.DESCENDING)])

    # ---- fleet registry ----------------------------------------------------------------------
    def _car_from_doc(self, doc: Doc) -> Car | None:
        try:
            car_id = validate_car_id(doc.get("_id"))
            try:
                call_sign = validate_text(doc.get("call_sign"), "call_sign", max_chars=CALL_SIGN_MAX)
            except MessageRejected as exc:  # keep the unit visible under its id
                self.rejections.reject(exc.kind, car_id)
                call_sign = car_id
            try:
                status = UnitStatus(doc.get("status", UnitStatus.AVAILABLE.value))
            except ValueError:
                raise MessageRejected("bad_type", "status") from None
            incident = doc.get("incident_id")
            if incident is not None and not isinstance(incident, str):
                raise MessageRejected("bad_type", "incident_id")
            location = None
            loc = doc.get("location")
            if isinstance(loc, dict):
                try:
                    location = validate_position({**loc, "car_id": car_id}, now=None)
                except MessageRejected as exc:
                    self.rejections.reject(exc.kind, car_id)  # keep the car, drop the bad location
            return Car(car_id, call_sign, status, location, incident)
        except MessageRejected as exc:
            raw_id = doc.get("_id")
            self.rejections.reject(exc.kind, raw_id if isinstance(raw_id, str) else None)
            return None

    async def load_fleet(self) -> list[Car]:
        cars = []
        async for doc in self.db.cars.find({}).sort("_id", pymongo.ASCENDING):
            car = self._car_from_doc(doc)
            if car is not None:
                cars.append(car)
        return cars

    async def get_car(self, car_id: str) -> Car | None:
        doc = await self.db.cars.find_one({"_id": car_id})
        return None if doc is None else self._car_from_doc(doc)

    async def ensure_fleet(self, min_cars: int) -> list[Car]:
        """Seed PC-001... (with call signs) until the registry holds at least min_cars units."""
        fleet = await self.load_fleet()
        missing = min_cars - len(fleet)
        if missing > 0:
            taken_ids = {c.car_id for c in fleet}
            taken_signs = {c.call_sign for c in fleet}
            now = utc(self._clock())
            docs: list[Doc] = []
            n = 0
            while len(docs) < missing:
                n += 1
                cid, sign = default_car_id(n), default_call_sign(n)
                if cid in taken_ids or sign in taken_signs:
                    continue
                docs.append({"_id": cid, "car_id": cid, "call_sign": sign, "status": UnitStatus.AVAILABLE.value,
                             "simulated": True, "created_at": now})
            try:
                await self.db.cars.insert_many(docs, ordered=False)
            except BulkWriteError as exc:  # another instance seeded concurrently
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
            log.info("fleet registry seeded with %d unit(s)", len(docs))
            fleet = await self.load_fleet()
        return fleet

    async def add_car(self, car_id: str, call_sign: str, *, simulated: bool = True) -> Car:
        """Register a unit; raises ValueError with a user-facing message when invalid or taken."""
        try:
            validate_car_id(car_id)
        except MessageRejected:
            raise ValueError("Unit id must be 1-32 letters, digits, '-' or '_'") from None
        call_sign = call_sign.strip() if isinstance(call_sign, str) else call_sign
        try:
            validate_text(call_sign, "call_sign", max_chars=CALL_SIGN_MAX)
        except MessageRejected:
            raise ValueError(f"Call sign must be 1-{CALL_SIGN_MAX} printable characters") from None
        doc = {"_id": car_id, "car_id": car_id, "call_sign": call_sign, "status": UnitStatus.AVAILABLE.value,
               "simulated": simulated, "created_at": utc(self._clock())}
        try:
            await self.db.cars.insert_one(doc)
        except DuplicateKeyError as exc:
            key = (exc.details or {}).get("keyPattern") or {}
            if "call_sign" in key or "call_sign" in str(exc):
                raise ValueError(f"Call sign {call_sign!r} is already in use") from None
            raise ValueError(f"Unit id {car_id!r} is already registered") from None
        return Car(car_id, call_sign)

    async def remove_car(self, car_id: str) -> bool:
        res = await self.db.cars.delete_one({"_id": car_id})
        return res.deleted_count == 1

    # ---- sync -------------------------------------------------------------------------------
    async def cycle_written(self, cycle_id: int) -> bool:
        return await self.db.sync_stats.find_one({"_id": cycle_id}, projection={"_id": 1}) is not None

    async def write_cycle(self, cycle: SyncCycle, *, retry: bool, attempts: int = 1) -> bool:
        """Write one sync cycle exactly once. Returns False if it was already written.

        The `sync_stats` document for the cycle is the commit record, written last. A retried
        cycle first removes whatever a failed attempt left in location_history, so the
        outcome is the same however many attempts it took.
        """
        if await self.cycle_written(cycle.cycle_id):
            return False  # committed before (a retry, or the same 10 s slot after a restart)
        hist = self.db.location_history
        if retry:
            await hist.delete_many({"cycle": cycle.cycle_id})
        n = len(cycle.positions)
        for start in range(0, n, WRITE_SLICE):  # slices: big fleets do not stall the UI's loop
            await hist.insert_many(self._history_docs(cycle, start), ordered=False)
            await asyncio.sleep(0)
        if retry and n and await hist.count_documents({"cycle": cycle.cycle_id}) != n:
            # a timed-out earlier attempt landed after our delete: redo it cleanly
            await hist.delete_many({"cycle": cycle.cycle_id})
            for start in range(0, n, WRITE_SLICE):
                await hist.insert_many(self._history_docs(cycle, start), ordered=False)
        for start in range(0, n, WRITE_SLICE):
            await self._update_last_known(cycle.positions[start:start + WRITE_SLICE])
            await asyncio.sleep(0)
        try:
            await self.db.sync_stats.insert_one({
                "_id": cycle.cycle_id, "taken_at": utc(cycle.taken_at), "written_at": utc(self._clock()),
                "cars": len(cycle.positions), "attempts": attempts,
            })
        except DuplicateKeyError:
            return False
        return True

    @staticmethod
    def _history_docs(cycle: SyncCycle, start: int) -> list[Doc]:
        cid = cycle.cycle_id
        return [{"ts": utc(p.timestamp), "car_id": p.car_id, "cycle": cid, "lat": p.lat, "lng": p.lng,
                 "speed": p.speed, "heading": p.heading} for p in cycle.positions[start:start + WRITE_SLICE]]

    async def _update_last_known(self, positions: Iterable[Position]) -> None:
        """cars.location := newest position; never moves a unit back to an older fix.

        The filter is `_id` plus a `$not`/`$gte` guard (which also matches units without a
        location): an `$or` here made the MongoDB-wire server scan the collection per update.
        """
        ops: list[UpdateOne | InsertOne[Doc]] = []
        for p in positions:
            ops.append(UpdateOne(
                {"_id": p.car_id, "location.timestamp": {"$not": {"$gte": p.timestamp}}},
                {"$set": {"location": _location_doc(p), "location_at": utc(p.timestamp)},
                 "$setOnInsert": {"car_id": p.car_id, "call_sign": p.car_id, "status": UnitStatus.AVAILABLE.value,
                                  "simulated": False}},
                upsert=True,
            ))
        if not ops:
            return
        try:
            await self.db.cars.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            # 11000: the unit already has a newer location (the filter missed, the upsert collided)
            # or an unregistered unit's id is taken as a call sign; both leave the right data.
            other = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
            if other:
                raise

    async def save_sync_totals(self, totals: Doc) -> None:
        await self.db.sync_stats.update_one({"_id": "totals"}, {"$set": totals}, upsert=True)

    # ---- history ------------------------------------------------------------------------------
    async def history(self, car_id: str, since: float, until: float) -> list[Position]:
        """A unit's synced track between two instants, oldest first, validated."""
        out: list[Position] = []
        cursor = self.db.location_history.find(
            {"car_id": car_id, "ts": {"$gte": utc(since), "$lte": utc(until)}},
            projection={"_id": 0, "lat": 1, "lng": 1, "speed": 1, "heading": 1, "ts": 1},
        ).sort("ts", pymongo.ASCENDING).limit(HISTORY_READ_LIMIT)
        async for doc in cursor:
            ts = doc.get("ts")
            if not isinstance(ts, dt.datetime):
                self.rejections.reject("bad_type", car_id)
                continue
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=dt.UTC)
            try:
                out.append(validate_position({**doc, "car_id": car_id, "timestamp": ts.timestamp()}, now=None))
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, car_id)
        return out


# ---- dispatch: incidents, unit status, audit (written through the outbox) -------------------
AUDIT_ACTIONS = (
    "incident.create", "incident.close", "unit.dispatch", "unit.en_route", "unit.arrive", "unit.clear",
    "unit.out_of_service", "unit.in_service", "fleet.add", "fleet.remove",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    dispatcher: str
    action: str
    details: str


def timeline_doc(e: dict[str, Any]) -> Doc:
    return {**e, "at": utc(e["at"])}


async def apply_op(archive: Archive, kind: str, payload: Doc) -> None:
    """Write one outbox operation. Each is idempotent: replaying it changes nothing."""
    db = archive.db
    if kind == "incident.insert":
        try:
            await db.incidents.insert_one(dict(payload, created_at=utc(payload["created_at"]),
                                               timeline=[timeline_doc(e) for e in payload["timeline"]]))
        except DuplicateKeyError:
            pass
    elif kind == "incident.event":
        update: Doc = {"$push": {"timeline": timeline_doc(payload["event"])}}
        if payload.get("car_id"):
            update["$addToSet"] = {"units": payload["car_id"]}
        await db.incidents.update_one({"_id": payload["id"], "timeline.id": {"$ne": payload["event"]["id"]}},
                                      update)
    elif kind == "incident.close":
        await db.incidents.update_one({"_id": payload["id"]},
                                      {"$set": {"status": "closed", "closed_at": utc(payload["closed_at"])}})
    elif kind == "car.status":
        at = payload["at"]
        await db.cars.update_one(
            {"_id": payload["car_id"], "$or": [{"status_at": {"$lt": at}}, {"status_at": None}]},
            {"$set": {"status": payload["status"], "incident_id": payload.get("incident"), "status_at": at}},
        )
    elif kind == "audit":
        try:
            await db.audit_log.insert_one({"_id": payload["id"], "at": utc(payload["at"]),
                                           "dispatcher": payload["dispatcher"], "action": payload["action"],
                                           "details": payload.get("details", {})})
        except DuplicateKeyError:
            pass
    else:
        log.error("outbox: unknown operation %r dropped", kind)


async def load_open_incidents(archive: Archive, limit: int = 500) -> list[Incident]:
    out = []
    cursor = archive.db.incidents.find({"status": "open"}).sort("created_at", pymongo.DESCENDING).limit(limit)
    async for doc in cursor:
        try:
            out.append(validate_incident(doc))
        except MessageRejected as exc:
            raw_id = doc.get("_id")
            archive.rejections.reject(exc.kind, raw_id if isinstance(raw_id, str) else None)
    return out


async def load_audit(archive: Archive, limit: int = 200) -> list[AuditEntry]:
    out = []
    async for doc in archive.db.audit_log.find({}).sort("at", pymongo.DESCENDING).limit(limit):
        try:
            at = doc.get("at")
            if not isinstance(at, dt.datetime):
                raise MessageRejected("bad_type", "at")
            action = doc.get("action")
            if action not in AUDIT_ACTIONS:
                raise MessageRejected("bad_type", "action")
            who = validate_text(doc.get("dispatcher", ""), "dispatcher", max_chars=64, allow_empty=True)
            details = doc.get("details", {})
            if not isinstance(details, dict):
                raise MessageRejected("bad_type", "details")
            text = ", ".join(f"{k}={_short_value(v)}" for k, v in list(details.items())[:12] if isinstance(k, str))
            out.append(AuditEntry((at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp(), who, action,
                                  text[:400]))
        except MessageRejected as exc:
            archive.rejections.reject(exc.kind, None)
    return out


def _short_value(v: Any) -> str:
    if isinstance(v, bool | int | float):
        return str(v)
    if isinstance(v, str):
        return "".join(c if c.isprintable() else " " for c in v[:80])
    if isinstance(v, list):
        return "[" + " ".join(_short_value(x) for x in v[:10]) + "]"
    return "?"
