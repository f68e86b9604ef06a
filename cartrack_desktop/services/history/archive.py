"""MongoDB: fleet registry, last known positions, location history, sync statistics.

Collections (database `cartrack` unless the URI names one):
  cars              {_id: car_id, car_id, call_sign, status, simulated, incident_id, status_at}
  last_known        one document per shard of the fleet (shard = crc32(car_id) % 64):
                     {_id: shard, cycle, units: {car_id: {t, lat, lng, speed, heading}}}
  location_buckets  history, one document per (sync cycle, shard), columns as arrays:
                     {_id: "cycle:shard", cycle, shard, ts, n, car_id: [..], t: [..], lat: [..],
                      lng: [..], speed: [..], heading: [..]}
  sync_stats        {_id: cycle_id, taken_at, written_at, cars, attempts} per written cycle
                    (the idempotency ledger) and {_id: "totals", ...} running counters

Why buckets (MongoDB's "bucket pattern") instead of a document per unit per cycle: a cycle of
10,000 units is then 64 inserts and 64 updates instead of 20,000 writes. The embedded
MongoDB-wire server spends ~0.2-0.5 ms per written document, so per-unit documents made one
cycle take ~7 s; buckets take well under a second, and a real MongoDB benefits the same way.
A unit's track is read from its own shard only (index shard+ts).

Every field read back is validated: a document that does not fit is skipped and counted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ...domain.dispatch import Incident
from ...domain.messages import (
    MessageRejected,
    validate_car_id,
    validate_incident,
    validate_position,
    validate_text,
)
from ...domain.models import Car, Position, SyncCycle, UnitStatus
from ..infra.rejections import RejectionCounter

log = logging.getLogger(__name__)

Doc = dict[str, Any]

CALL_SIGN_MAX = 32
SHARDS = 64                    # fixed: changing it would move units to other shards
WRITE_SLICE = 16               # shards per bulk request: big fleets do not stall the UI's loop
HISTORY_READ_LIMIT = 100_000
MAX_BUCKET_UNITS = 200_000     # a bucket from the database with longer columns is rejected
HISTORY_CAPTURE_LAG_S = 310.0  # a fix is captured at most one TTL (+ one cycle) after it was taken
REGISTRY_REFRESH_CYCLES = 30   # re-read the registered ids every 5 minutes (units removed elsewhere)
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


def shard_of(car_id: str) -> int:
    """Stable across processes and versions (not Python's salted hash)."""
    return zlib.crc32(car_id.encode("utf-8")) % SHARDS


def _is_number(v: Any) -> bool:
    return type(v) is float or type(v) is int


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
        self._registered: set[str] | None = None   # ids known to be in `cars` (auto-registration)
        self._cycles_since_refresh = 0

    @property
    def client(self) -> AsyncMongoClient[Doc]:
        return self._client

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    # ---- schema -----------------------------------------------------------------------------
    async def ensure_schema(self) -> None:
        buckets = self.db.location_buckets
        await buckets.create_index([("shard", pymongo.ASCENDING), ("ts", pymongo.ASCENDING)])
        await buckets.create_index([("cycle", pymongo.ASCENDING)])
        await self.db.cars.create_index([("call_sign", pymongo.ASCENDING)], unique=True)
        await self.db.sync_stats.create_index([("written_at", pymongo.DESCENDING)])
        await self.db.incidents.create_index([("status", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)])
        await self.db.audit_log.create_index([("at", pymongo.DESCENDING)])

    # ---- fleet registry ----------------------------------------------------------------------
    def _car_from_doc(self, doc: Doc, location: Position | None) -> Car | None:
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
            return Car(car_id, call_sign, status, location if location and location.car_id == car_id else None,
                       incident)
        except MessageRejected as exc:
            raw_id = doc.get("_id")
            self.rejections.reject(exc.kind, raw_id if isinstance(raw_id, str) else None)
            return None

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

    async def load_fleet(self) -> list[Car]:
        last = await self.last_known_positions()
        cars = []
        async for doc in self.db.cars.find({}).sort("_id", pymongo.ASCENDING):
            cid = doc.get("_id")
            car = self._car_from_doc(doc, last.get(cid) if isinstance(cid, str) else None)
            if car is not None:
                cars.append(car)
        return cars

    async def get_car(self, car_id: str) -> Car | None:
        doc = await self.db.cars.find_one({"_id": car_id})
        return None if doc is None else self._car_from_doc(doc, await self.last_known(car_id))

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
        validate_car_id(car_id)
        res = await self.db.cars.delete_one({"_id": car_id})
        await self.db.last_known.update_one({"_id": shard_of(car_id)}, {"$unset": {f"units.{car_id}": ""}})
        if self._registered is not None:
            self._registered.discard(car_id)
        return res.deleted_count == 1

    # ---- sync -------------------------------------------------------------------------------
    async def cycle_written(self, cycle_id: int) -> bool:
        return await self.db.sync_stats.find_one({"_id": cycle_id}, projection={"_id": 1}) is not None

    async def write_cycle(self, cycle: SyncCycle, *, retry: bool, attempts: int = 1) -> bool:
        """Write one sync cycle exactly once. Returns False if it was already written.

        The `sync_stats` document for the cycle is the commit record, written last. Every other
        write is idempotent: bucket ids are "cycle:shard" (a retry finds the first attempt's
        buckets and skips them), last-known shards only move forward (a shard already at this
        or a newer cycle is left alone), and registration inserts ignore existing units.
        """
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
        await self._register_new_units(cycle.positions)
        try:
            await self.db.sync_stats.insert_one({
                "_id": cycle.cycle_id, "taken_at": utc(cycle.taken_at), "written_at": utc(self._clock()),
                "cars": len(cycle.positions), "attempts": attempts,
            })
        except DuplicateKeyError:
            return False
        return True

    @staticmethod
    def _bucket_doc(cycle: SyncCycle, shard: int, positions: list[Position]) -> Doc:
        return {"_id": f"{cycle.cycle_id}:{shard}", "cycle": cycle.cycle_id, "shard": shard,
                "ts": utc(cycle.taken_at), "n": len(positions),
                "car_id": [p.car_id for p in positions], "t": [p.timestamp for p in positions],
                "lat": [p.lat for p in positions], "lng": [p.lng for p in positions],
                "speed": [p.speed for p in positions], "heading": [p.heading for p in positions]}

    async def _insert_buckets(self, cycle: SyncCycle, shards: list[tuple[int, list[Position]]],
                              *, retry: bool) -> None:
        docs = [self._bucket_doc(cycle, shard, ps) for shard, ps in shards]
        try:
            await self.db.location_buckets.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # 11000 on a retry: that bucket landed in an earlier attempt (same cycle, same content)
            if not retry or any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
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
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    async def _register_new_units(self, positions: Iterable[Position]) -> None:
        """Units seen live but not in the registry (outside producers) are registered once."""
        self._cycles_since_refresh += 1
        if self._registered is None or self._cycles_since_refresh >= REGISTRY_REFRESH_CYCLES:
            self._registered = {d["_id"] async for d in self.db.cars.find({}, projection={"_id": 1})
                                if isinstance(d.get("_id"), str)}
            self._cycles_since_refresh = 0
        new = sorted({p.car_id for p in positions} - self._registered)
        if not new:
            return
        now = utc(self._clock())
        docs = [{"_id": cid, "car_id": cid, "call_sign": cid, "status": UnitStatus.AVAILABLE.value,
                 "simulated": False, "created_at": now} for cid in new]
        try:
            await self.db.cars.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # 11000: registered meanwhile, or its id is taken as another unit's call sign
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
        self._registered.update(new)

    async def positions_in_cycle(self, cycle_id: int) -> int:
        """How many unit positions the history holds for one cycle (diagnostics, tests)."""
        total = 0
        async for doc in self.db.location_buckets.find({"cycle": cycle_id}, projection={"n": 1}):
            n = doc.get("n")
            total += n if type(n) is int else 0
        return total

    async def save_sync_totals(self, totals: Doc) -> None:
        await self.db.sync_stats.update_one({"_id": "totals"}, {"$set": totals}, upsert=True)

    # ---- history ------------------------------------------------------------------------------
    async def history(self, car_id: str, since: float, until: float) -> list[Position]:
        """A unit's synced track between two instants, oldest first, validated.

        Reads only the unit's shard; a fix that several cycles captured again (a unit that
        stopped reporting stays live until its key expires) appears once.
        """
        validate_car_id(car_id)
        out: list[Position] = []
        cursor = self.db.location_buckets.find(
            {"shard": shard_of(car_id), "ts": {"$gte": utc(since), "$lte": utc(until + HISTORY_CAPTURE_LAG_S)}},
            projection={"_id": 0, "car_id": 1, "t": 1, "lat": 1, "lng": 1, "speed": 1, "heading": 1},
        ).sort("ts", pymongo.ASCENDING)
        seen: set[float] = set()
        async for doc in cursor:
            cols: list[list[Any]] = [c for c in (doc.get(k) for k in ("car_id", "t", "lat", "lng", "speed",
                                                                         "heading")) if type(c) is list]
            if len(cols) != 6 or len(cols[0]) > MAX_BUCKET_UNITS or any(len(c) != len(cols[0]) for c in cols):
                self.rejections.reject("bad_type", car_id)
                continue
            ids = cols[0]
            try:
                i = ids.index(car_id)
            except ValueError:
                continue
            t = cols[1][i]
            if not _is_number(t) or not since <= t <= until or t in seen:
                continue
            try:
                p = validate_position({"car_id": car_id, "lat": cols[2][i], "lng": cols[3][i],
                                       "speed": cols[4][i], "heading": cols[5][i], "timestamp": t}, now=None)
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, car_id)
                continue
            seen.add(t)
            out.append(p)
            if len(out) >= HISTORY_READ_LIMIT:
                break
        out.sort(key=lambda p: p.timestamp)
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
