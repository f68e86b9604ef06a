"""Devices and units: which unit a device moves, the Unknown devices list, auto-registration.

A unit in MongoDB `cars` carries `device_id` (the device's unique id) and optionally
`device_secret_sha256` (hex SHA-256 of the device's secret; the report's `token=` or
X-Device-Token header is hashed and compared in constant time). The map is cached here and
re-read on fleet events and every REGISTRY_REFRESH_S.

Unknown devices (refused with 400, as Traccar does) are listed in the Redis hash
`cartrack:devices:unknown`, shared by every instance: field = device id, value = JSON
{"device_id", "protocol", "lat", "lng", "t", "count", "first_seen", "last_seen"}. Reports are
aggregated in memory and written at most once a second; the hash never holds more than
MAX_UNKNOWN_DEVICES entries, and a device is removed from it once a unit claims it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..domain.messages import MessageRejected, encode_event, validate_car_id, validate_device_id
from ..domain.models import UnitStatus
from ..services.dispatch.keys import EVENTS_CHANNEL
from ..services.infra.mongo import utc
from ..services.infra.rejections import RejectionCounter
from . import options as o
from .keys import UNKNOWN_KEY
from .report import DeviceReport

log = logging.getLogger(__name__)

_NOT_CAR_ID = re.compile(r"[^A-Za-z0-9_-]")
REGISTER_ATTEMPTS = 5
LOAD_BATCH = 500                    # devices read per round trip when the map is (re)loaded

# ARGV: max entries, now, then per device: id, protocol, lat, lng, t, count
_UNKNOWN_LUA = """
local maxn = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
for i = 3, #ARGV, 6 do
  local id = ARGV[i]
  local cur = redis.call('HGET', KEYS[1], id)
  local count = tonumber(ARGV[i + 5])
  local first = now
  local keep = true
  if cur then
    local ok, o = pcall(cjson.decode, cur)
    if ok and type(o) == 'table' then
      count = count + (tonumber(o.count) or 0)
      first = tonumber(o.first_seen) or now
    end
  elseif redis.call('HLEN', KEYS[1]) >= maxn then
    keep = false
  end
  if keep then
    redis.call('HSET', KEYS[1], id, cjson.encode({device_id = id, protocol = ARGV[i + 1],
      lat = tonumber(ARGV[i + 2]), lng = tonumber(ARGV[i + 3]), t = tonumber(ARGV[i + 4]),
      count = count, first_seen = first, last_seen = now}))
  end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class UnitDevice:
    car_id: str
    secret_sha256: str | None = None

    def token_ok(self, token: str | None) -> bool:
        """No secret: any report is taken. Else the token's SHA-256 must match (constant time)."""
        if self.secret_sha256 is None:
            return True
        if token is None:
            return False
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        return hmac.compare_digest(digest, self.secret_sha256)


def car_id_for(device_id: str, attempt: int) -> str:
    """A unit id for an auto-registered device: its id with other characters as '-', made unique."""
    base = _NOT_CAR_ID.sub("-", device_id)[:32]
    if attempt == 0:
        return base
    suffix = f"-{attempt + 1}"
    return base[:32 - len(suffix)] + suffix


class DeviceRegistry:
    """device id -> unit, from MongoDB `cars`; refreshed on demand."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], rejections: RejectionCounter) -> None:
        self._db = db
        self.rejections = rejections
        self.units: dict[str, UnitDevice] = {}
        self.loaded_at = 0.0

    def lookup(self, device_id: str) -> UnitDevice | None:
        return self.units.get(device_id)

    async def load(self) -> dict[str, UnitDevice]:
        units: dict[str, UnitDevice] = {}
        # In batches of LOAD_BATCH: each is a round trip, so requests are served between them (one
        # 10,000-document batch was decoded and checked in one go, stalling every request ~300 ms).
        cursor = self._db.cars.find({"device_id": {"$exists": True}},
                                    projection={"_id": 1, "device_id": 1, "device_secret_sha256": 1},
                                    batch_size=LOAD_BATCH)
        async for doc in cursor:
            try:
                car_id = validate_car_id(doc.get("_id"))
                device_id = validate_device_id(doc.get("device_id"))
            except MessageRejected as exc:
                self.rejections.reject(exc.kind)
                continue
            secret = doc.get("device_secret_sha256")
            units[device_id] = UnitDevice(car_id, secret.lower() if isinstance(secret, str) and len(secret) == 64
                                          else None)
        self.units = units
        self.loaded_at = time.monotonic()
        return units

    async def register(self, device_id: str, redis: aioredis.Redis) -> UnitDevice:
        """Create a unit for an unknown device (`--ingest-register`), announce it as a fleet change."""
        now = time.time()
        for attempt in range(REGISTER_ATTEMPTS):
            car_id = car_id_for(device_id, attempt)
            doc = {"_id": car_id, "car_id": car_id, "call_sign": car_id, "status": UnitStatus.AVAILABLE.value,
                   "simulated": False, "device_id": device_id, "created_at": utc(now), "registered_by": "ingest"}
            try:
                await self._db.cars.insert_one(doc)
            except DuplicateKeyError:
                existing = await self._db.cars.find_one({"device_id": device_id}, projection={"_id": 1})
                if existing is not None and isinstance(existing.get("_id"), str):   # another instance won
                    unit = UnitDevice(existing["_id"])
                    self.units[device_id] = unit
                    return unit
                continue
            unit = UnitDevice(car_id)
            self.units[device_id] = unit
            await redis.publish(EVENTS_CHANNEL, orjson.dumps(encode_event("fleet", action="add", car_id=car_id)))
            await redis.hdel(UNKNOWN_KEY, device_id)
            log.info("registered device %r as unit %s", device_id, car_id)
            return unit
        raise RuntimeError(f"no free unit id for device {device_id!r}")


class UnknownDevices:
    """Reports of unknown devices, aggregated in memory (bounded) and flushed to the shared hash."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._r = redis
        self._script = redis.register_script(_UNKNOWN_LUA)
        self._pending: dict[str, list[Any]] = {}     # id -> [protocol, lat, lng, t, count]
        self.dropped = 0

    def record(self, report: DeviceReport, now: float) -> None:
        entry = self._pending.get(report.device_id)
        lat = "" if report.lat is None else repr(round(report.lat, 7))
        lng = "" if report.lng is None else repr(round(report.lng, 7))
        t = report.fix_time if report.fix_time is not None else now
        if entry is None:
            if len(self._pending) >= o.MAX_UNKNOWN_DEVICES:
                self.dropped += 1
                return
            self._pending[report.device_id] = [report.protocol, lat, lng, t, 1]
        else:
            entry[0], entry[1], entry[2], entry[3] = report.protocol, lat or entry[1], lng or entry[2], t
            entry[4] += 1

    async def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        args: list[Any] = [o.MAX_UNKNOWN_DEVICES, time.time()]
        for device_id, (protocol, lat, lng, t, count) in pending.items():
            args += (device_id, protocol, lat, lng, round(t, 3), count)
        await self._script(keys=[UNKNOWN_KEY], args=args)
        return len(pending)

    async def forget(self, device_ids: list[str]) -> None:
        """Devices a unit claims leave the Unknown devices list."""
        if device_ids:
            await self._r.hdel(UNKNOWN_KEY, *device_ids)


async def list_unknown(redis: aioredis.Redis) -> list[dict[str, Any]]:
    """The Unknown devices list (for the UI step), validated, most recently seen first."""
    out = []
    for key, raw in (await redis.hgetall(UNKNOWN_KEY)).items():
        try:
            device_id = validate_device_id(key.decode("utf-8", "replace") if isinstance(key, bytes) else key)
            obj = orjson.loads(raw)
        except (MessageRejected, ValueError):
            continue
        if isinstance(obj, dict):
            obj["device_id"] = device_id
            out.append(obj)
    out.sort(key=lambda d: -float(d.get("last_seen") or 0))
    return out
