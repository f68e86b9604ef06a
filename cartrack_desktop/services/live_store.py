"""Live positions in Redis: the seed's four operations plus the batch write the simulator needs.

Data contract (kept stable, see README "Data contracts"):
  car:location:{car_id}         string, JSON position, TTL 300 s          (seed)
  car:location:stream:{car_id}  pub/sub channel, same JSON on every update (seed)
  cartrack:geo                  GEO set of live units, for nearby search
  cartrack:seen                 ZSET car_id -> server time of last update, to prune cartrack:geo
  cartrack:batch                pub/sub channel, one message per written chunk of a tick

Writes go through one Lua script per chunk of units so a whole fleet tick is one
pipelined round trip (and atomic per chunk): SET+EX, GEOADD, ZADD, PUBLISH per unit.
The scripts name keys outside KEYS[], so this targets standalone/Sentinel Redis, not Cluster.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence

import orjson
import redis.asyncio as aioredis

from ..domain.geo import haversine_km
from ..domain.messages import (
    MessageRejected,
    decode_position,
    encode_batch,
    encode_position,
    validate_car_id,
    validate_position,
)
from ..domain.models import NearbyCar, Position
from .rejections import RejectionCounter

log = logging.getLogger(__name__)

KEY_PREFIX = "car:location:"
CHANNEL_PREFIX = "car:location:stream:"
CHANNEL_PATTERN = CHANNEL_PREFIX + "*"
GEO_KEY = "cartrack:geo"
SEEN_KEY = "cartrack:seen"
BATCH_CHANNEL = "cartrack:batch"
LOCATION_TTL_S = 300
WRITE_CHUNK = 1000          # units per script call: bounds how long Redis is busy (~8 ms)
READ_CHUNK = 2000
MAX_RADIUS_KM = 200.0
GEO_MARGIN_KM = 0.01         # the GEO index rounds positions; never miss a unit at the edge
GEO_MARGIN_FRACTION = 0.005  # Redis' earth radius differs from ours by ~0.03 %

_WRITE_LUA = """
local ttl = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if ARGV[2] ~= '' then redis.call('PUBLISH', 'cartrack:batch', ARGV[2]) end
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  redis.call('SET', 'car:location:' .. id, ARGV[i + 1], 'EX', ttl)
  -- GEO cannot hold |lat| > 85.05; such a unit is live but not searchable.
  redis.pcall('GEOADD', 'cartrack:geo', ARGV[i + 2], ARGV[i + 3], id)
  redis.call('ZADD', 'cartrack:seen', now, id)
  redis.call('PUBLISH', 'car:location:stream:' .. id, ARGV[i + 1])
end
return (#ARGV - 2) / 4
"""

_NEARBY_LUA = """
local hits = redis.call('GEOSEARCH', 'cartrack:geo', 'FROMLONLAT', ARGV[1], ARGV[2],
                        'BYRADIUS', ARGV[3], 'km', 'ASC')
local out = {}
if #hits == 0 then return out end
local keys = {}
for i, id in ipairs(hits) do keys[i] = 'car:location:' .. id end
for s = 1, #keys, 1000 do
  local e = math.min(s + 999, #keys)
  local vals = redis.call('MGET', unpack(keys, s, e))
  for j = s, e do
    out[#out + 1] = hits[j]
    out[#out + 1] = vals[j - s + 1]
  end
end
return out
"""

_PRUNE_LUA = """
local ttl = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1])
local ids = redis.call('ZRANGEBYSCORE', 'cartrack:seen', '-inf', now - ttl, 'LIMIT', 0, 5000)
local removed = 0
for _, id in ipairs(ids) do
  local left = redis.call('TTL', 'car:location:' .. id)
  if left < 0 then
    redis.call('ZREM', 'cartrack:geo', id)
    redis.call('ZREM', 'cartrack:seen', id)
    removed = removed + 1
  else
    -- written by someone else's SET: keep it until its own TTL runs out
    redis.call('ZADD', 'cartrack:seen', now - ttl + left, id)
  end
end
return removed
"""


def location_key(car_id: str) -> str:
    return KEY_PREFIX + car_id


def stream_channel(car_id: str) -> str:
    return CHANNEL_PREFIX + car_id


def _check_point(lat: float, lng: float) -> None:
    for name, v, lim in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or abs(v) > lim:
            raise ValueError(f"{name} out of range: {v!r}")


class LiveStore:
    """Async access to the live positions. Safe to share between tasks."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        ttl_s: int = LOCATION_TTL_S,
        clock: Callable[[], float] = time.time,
        rejections: RejectionCounter | None = None,
    ) -> None:
        self._r = client
        self.ttl_s = ttl_s
        self._clock = clock
        self.rejections = rejections or RejectionCounter("redis keys")
        self._write = client.register_script(_WRITE_LUA)
        self._nearby = client.register_script(_NEARBY_LUA)
        self._prune = client.register_script(_PRUNE_LUA)

    @property
    def client(self) -> aioredis.Redis:
        return self._r

    # ---- writes -----------------------------------------------------------------------------
    async def update_car_location(
        self,
        car_id: str,
        lat: float,
        lng: float,
        speed: float = 0.0,
        heading: float = 0.0,
        timestamp: float | None = None,
    ) -> Position:
        """The seed's single-unit write (validated like any other input)."""
        pos_obj = {
            "car_id": car_id, "lat": lat, "lng": lng, "speed": speed, "heading": heading,
            "timestamp": self._clock() if timestamp is None else timestamp,
        }
        pos = validate_position(pos_obj, now=self._clock())
        await self.update_car_locations([pos])
        return pos

    async def update_car_locations(self, positions: Sequence[Position], *, publish_batch: bool = True) -> int:
        """Write a whole tick: one pipelined round trip of one script call per WRITE_CHUNK units."""
        if not positions:
            return 0
        sent_at = self._clock()
        async with self._r.pipeline(transaction=False) as pipe:  # reset even if cancelled mid-way
            for start in range(0, len(positions), WRITE_CHUNK):
                chunk = positions[start:start + WRITE_CHUNK]
                args: list[bytes | str | float | int] = [
                    self.ttl_s,
                    orjson.dumps(encode_batch(chunk, sent_at=sent_at)) if publish_batch else b"",
                ]
                for p in chunk:
                    e = encode_position(p)
                    args += (p.car_id, orjson.dumps(e), e["lng"], e["lat"])
                await self._write(args=args, client=pipe)
            results = await pipe.execute()
        return int(sum(int(n) for n in results))

    # ---- reads -------------------------------------------------------------------------------
    def _decode(self, raw: bytes | str | None, car_id: str | None, now: float) -> Position | None:
        if raw is None:
            return None
        try:
            return decode_position(raw, now=now, loads=orjson.loads, expected_car_id=car_id)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, car_id)
            return None

    async def get_car_location(self, car_id: str) -> Position | None:
        """Latest live position of one unit, or None when it has expired (or the id is invalid)."""
        try:
            validate_car_id(car_id)
        except MessageRejected:
            return None
        raw = await self._r.get(location_key(car_id))
        return self._decode(raw, car_id, self._clock())

    async def live_car_ids(self) -> list[str]:
        """Units updated within the TTL, from the cartrack:seen index (never a key scan)."""
        now = self._clock()
        ids = await self._r.zrangebyscore(SEEN_KEY, now - self.ttl_s - 5, "+inf")
        out = []
        for raw in ids:
            cid = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            try:
                out.append(validate_car_id(cid))
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, None)
        return out

    async def get_car_locations(self, car_ids: Iterable[str]) -> list[Position]:
        ids = list(car_ids)
        if not ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for start in range(0, len(ids), READ_CHUNK):
                pipe.mget([location_key(c) for c in ids[start:start + READ_CHUNK]])
            chunks = await pipe.execute()
        now = self._clock()
        out: list[Position] = []
        it = iter(ids)
        for values in chunks:
            for raw in values:
                p = self._decode(raw, next(it), now)
                if p is not None:
                    out.append(p)
        return out

    async def get_all_car_locations(self) -> list[Position]:
        """Every live position (expired units are absent)."""
        return await self.get_car_locations(await self.live_car_ids())

    async def get_nearby_cars(
        self, lat: float, lng: float, radius_km: float, limit: int | None = None
    ) -> list[NearbyCar]:
        """Live units within radius_km of (lat, lng), nearest first, with straight-line distance.

        The GEO index finds candidates; distances are computed from the exact stored
        position, and units whose key has expired are left out even before pruning.
        """
        _check_point(lat, lng)
        if not isinstance(radius_km, int | float) or not math.isfinite(radius_km) or radius_km <= 0:
            raise ValueError(f"radius_km must be positive: {radius_km!r}")
        radius_km = min(float(radius_km), MAX_RADIUS_KM)
        if limit is not None and limit <= 0:
            return []
        # GEO positions are 52-bit geohashes (~0.6 m): search a little wider, filter exactly below
        search_km = radius_km * (1 + GEO_MARGIN_FRACTION) + GEO_MARGIN_KM
        flat = await self._nearby(args=[lng, max(-85.05, min(85.05, lat)), search_km])
        now = self._clock()
        found: list[NearbyCar] = []
        for i in range(0, len(flat), 2):
            raw_id, raw = flat[i], flat[i + 1]
            cid = raw_id.decode("utf-8", "replace") if isinstance(raw_id, bytes) else str(raw_id)
            p = self._decode(raw or None, cid, now)
            if p is None:
                continue
            d = haversine_km(lat, lng, p.lat, p.lng)
            if d <= radius_km:
                found.append(NearbyCar(p, d))
        found.sort(key=lambda n: (n.distance_km, n.position.car_id))
        return found if limit is None else found[:limit]

    async def remove_car(self, car_id: str) -> None:
        """Forget a unit at once (it left the fleet): its key, index entries."""
        validate_car_id(car_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(location_key(car_id))
            pipe.zrem(GEO_KEY, car_id)
            pipe.zrem(SEEN_KEY, car_id)
            await pipe.execute()

    # ---- maintenance --------------------------------------------------------------------------
    async def prune_expired(self) -> int:
        """Drop GEO/seen entries of units whose position key has expired. Idempotent."""
        removed = int(await self._prune(args=[self.ttl_s]))
        if removed:
            log.info("pruned %d expired unit(s) from the live index", removed)
        return removed

    async def ping(self) -> bool:
        return bool(await self._r.ping())
