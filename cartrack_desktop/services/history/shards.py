"""How the history is cut: every unit belongs to one of 64 shards, by a stable hash of its id.

A sync cycle writes one bucket and one last-known update per shard instead of one document per
unit; a unit's track is read from its own shard only.
"""

from __future__ import annotations

import zlib

SHARDS = 64                    # fixed: changing it would move units to other shards
MAX_BUCKET_UNITS = 200_000     # a bucket from the database with longer columns is rejected


def shard_of(car_id: str) -> int:
    """Stable across processes and versions (not Python's salted hash)."""
    return zlib.crc32(car_id.encode("utf-8")) % SHARDS
