"""What every MongoDB writer here shares: the document type, UTC dates, idempotent inserts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.errors import BulkWriteError

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def only_duplicates(exc: BulkWriteError) -> bool:
    """Every error of a bulk write is a duplicate key: what it would have written is there already."""
    return all(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", []))
