"""Redis names of the live-position contract (README "Data contracts"), for Python and the Lua scripts.

  car:location:{car_id}         string, JSON position, TTL 300 s          (seed)
  car:location:stream:{car_id}  pub/sub channel, same JSON on every update (seed)
  cartrack:geo                  GEO set of live units (members are their car:location: keys), for nearby search
  cartrack:seen                 ZSET car_id -> server time of last update, to prune cartrack:geo
  cartrack:batch                pub/sub channel, one message per written chunk of a tick
  cartrack:late                 stream, field p = position JSON: device fixes older than their unit's
                                newest (written by the device ingest, landed in history by history/late.py)
"""

from __future__ import annotations

KEY_PREFIX = "car:location:"
CHANNEL_PREFIX = "car:location:stream:"
CHANNEL_PATTERN = CHANNEL_PREFIX + "*"
GEO_KEY = "cartrack:geo"
SEEN_KEY = "cartrack:seen"
BATCH_CHANNEL = "cartrack:batch"
LATE_STREAM = "cartrack:late"
LATE_STREAM_MAXLEN = 200_000        # ~ this many late fixes at most (XADD MAXLEN ~), ~30 MB


def location_key(car_id: str) -> str:
    return KEY_PREFIX + car_id
