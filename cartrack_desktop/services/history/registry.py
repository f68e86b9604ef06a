"""The fleet registry in MongoDB (`cars`): one document per unit, its call sign unique.

    cars  {_id: car_id, car_id, call_sign, status, simulated, incident_id, status_at, created_at,
           device_id (a real unit's tracker; unique), device_secret_sha256, registered_by}

Units seen live but not registered (outside producers) are registered once by the sync.
Every document read back is validated: one that does not fit is skipped and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import pymongo
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from ...domain.messages import MessageRejected, validate_car_id, validate_device_id, validate_text
from ...domain.models import Car, Position, UnitStatus
from ..infra.mongo import Doc, only_duplicates, utc
from ..infra.rejections import RejectionCounter
from .reader import HistoryReader
from .shards import shard_of

log = logging.getLogger(__name__)

CALL_SIGN_MAX = 32
REGISTRY_REFRESH_CYCLES = 30   # re-read the registered ids every 5 minutes (units removed elsewhere)
_PHONETIC = (
    "Adam", "Boy", "Charles", "David", "Edward", "Frank", "George", "Henry", "Ida", "John",
    "King", "Lincoln", "Mary", "Nora", "Ocean", "Paul", "Queen", "Robert", "Sam", "Tom",
    "Union", "Victor", "William", "Xray", "Young", "Zebra",
)


def clean_device_id(raw: str | None) -> str | None:
    """A device id as a dispatcher typed it: trimmed, "" for none; ValueError with a message if bad."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return validate_device_id(text)
    except MessageRejected:
        raise ValueError("Device id must be 1-64 letters, digits or . _ : @ -") from None


def default_car_id(n: int) -> str:
    return f"PC-{n:03d}"


def default_call_sign(n: int) -> str:
    """Radio call signs in APCO phonetic style: Adam-1, Boy-1, ... Zebra-1, Adam-2, ..."""
    return f"{_PHONETIC[(n - 1) % 26]}-{(n - 1) // 26 + 1}"


class FleetRegistry:
    def __init__(self, db: AsyncDatabase[Doc], reader: HistoryReader, *, rejections: RejectionCounter,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._reader = reader
        self.rejections = rejections
        self._clock = clock
        self._registered: set[str] | None = None   # ids known to be in `cars` (auto-registration)
        self._cycles_since_refresh = 0

    async def ensure_indexes(self) -> None:
        await self.db.cars.create_index([("call_sign", pymongo.ASCENDING)], unique=True)
        try:   # one unit per device: the ingest must know which unit a report moves
            await self.db.cars.create_index([("device_id", pymongo.ASCENDING)], unique=True, sparse=True)
        except OperationFailure as exc:   # a database edited by hand may hold a device twice: keep running
            log.warning("cars: device ids are not unique, so no unique index on device_id (%s); the Fleet "
                        "editor still refuses a device another unit has", exc)

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
                       incident, simulated=doc.get("simulated", True) is not False,
                       device_id=self._device_of(car_id, doc))
        except MessageRejected as exc:
            raw_id = doc.get("_id")
            self.rejections.reject(exc.kind, raw_id if isinstance(raw_id, str) else None)
            return None

    def _device_of(self, car_id: str, doc: Doc) -> str | None:
        """The unit's validated device id; a bad one is counted and the unit shown without it."""
        raw = doc.get("device_id")
        if raw is None:
            return None
        try:
            return validate_device_id(raw)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, car_id)
            return None

    async def load(self) -> list[Car]:
        """Every registered unit with its last synced position, ordered by id."""
        last = await self._reader.last_known_positions()
        cars = []
        async for doc in self.db.cars.find({}).sort("_id", pymongo.ASCENDING):
            cid = doc.get("_id")
            car = self._car_from_doc(doc, last.get(cid) if isinstance(cid, str) else None)
            if car is not None:
                cars.append(car)
        return cars

    async def get(self, car_id: str) -> Car | None:
        doc = await self.db.cars.find_one({"_id": car_id})
        return None if doc is None else self._car_from_doc(doc, await self._reader.last_known(car_id))

    async def seed(self, min_cars: int) -> list[Car]:
        """Register PC-001... (with call signs) until the registry holds at least min_cars simulated
        units (real units, `simulated: false`, do not count: the simulator never moves them)."""
        fleet = await self.load()
        missing = min_cars - sum(1 for c in fleet if c.simulated)
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
                if not only_duplicates(exc):
                    raise
            log.info("fleet registry seeded with %d unit(s)", len(docs))
            fleet = await self.load()
        return fleet

    async def add(self, car_id: str, call_sign: Any, *, simulated: bool = True, device_id: str | None = None) -> Car:
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
        device_id = clean_device_id(device_id)
        doc = {"_id": car_id, "car_id": car_id, "call_sign": call_sign, "status": UnitStatus.AVAILABLE.value,
               "simulated": simulated, "created_at": utc(self._clock())}
        if device_id is not None:
            await self._device_free(device_id, car_id)
            doc["device_id"] = device_id
        try:
            await self.db.cars.insert_one(doc)
        except DuplicateKeyError as exc:
            key = (exc.details or {}).get("keyPattern") or {}
            if "call_sign" in key or "call_sign" in str(exc):
                raise ValueError(f"Call sign {call_sign!r} is already in use") from None
            if "device_id" in key or "device_id" in str(exc):
                raise ValueError(f"Device {device_id} is already attached to another unit") from None
            raise ValueError(f"Unit id {car_id!r} is already registered") from None
        return Car(car_id, call_sign, simulated=simulated, device_id=device_id)

    async def _device_free(self, device_id: str, car_id: str) -> None:
        """ValueError naming the unit that already has this device (the index also guards a race)."""
        other = await self.db.cars.find_one({"device_id": device_id, "_id": {"$ne": car_id}},
                                            projection={"_id": 1, "call_sign": 1})
        if other is not None:
            raw_sign = other.get("call_sign")
            sign = raw_sign if isinstance(raw_sign, str) else ""
            raise ValueError(f"Device {device_id} is already attached to {sign[:CALL_SIGN_MAX] or 'another unit'}"
                             f" ({str(other.get('_id'))[:32]})")

    async def set_device(self, car_id: str, device_id: str | None, *, simulated: bool) -> Car:
        """Attach a device to a unit (or detach it) and mark it real or simulated.

        A new device drops the old device's secret (it was that tracker's). Raises ValueError with
        a user-facing message when the input is bad, the unit unknown or the device taken."""
        validate_car_id(car_id)
        device_id = clean_device_id(device_id)
        update: Doc = {"$set": {"simulated": simulated}}
        if device_id is None:
            update["$unset"] = {"device_id": "", "device_secret_sha256": ""}
        else:
            await self._device_free(device_id, car_id)
            update["$set"]["device_id"] = device_id
        current = await self.db.cars.find_one({"_id": car_id}, projection={"device_id": 1})
        if current is None:
            raise ValueError(f"Unit {car_id} is not in the fleet registry")
        if device_id is not None and current.get("device_id") != device_id:
            update["$unset"] = {"device_secret_sha256": ""}
        try:
            await self.db.cars.update_one({"_id": car_id}, update)
        except DuplicateKeyError:
            raise ValueError(f"Device {device_id} is already attached to another unit") from None
        car = await self.get(car_id)
        if car is None:
            raise ValueError(f"Unit {car_id} is not in the fleet registry")
        return car

    async def remove(self, car_id: str) -> bool:
        validate_car_id(car_id)
        res = await self.db.cars.delete_one({"_id": car_id})
        await self.db.last_known.update_one({"_id": shard_of(car_id)}, {"$unset": {f"units.{car_id}": ""}})
        if self._registered is not None:
            self._registered.discard(car_id)
        return res.deleted_count == 1

    async def register_seen(self, positions: Iterable[Position]) -> None:
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
            if not only_duplicates(exc):
                raise
        self._registered.update(new)
