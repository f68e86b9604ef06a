"""Hostile and broken inputs, shared by the validation, live-feed and page-safety tests.

Each entry: (label, raw bytes as a producer would publish them, expected rejection kind or None
when the message is valid but its *text* is hostile and must be shown literally).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cartrack_desktop.domain.messages import BATCH_VERSION, encode_position
from cartrack_desktop.domain.models import Position

NOW = 1_800_000_000.0


def encode_batch(positions: Iterable[Position], *, sent_at: float) -> dict[str, Any]:
    """A fleet-wide batch as the simulator's Lua script publishes it: one row [id, lat, lng, speed, heading, ts]."""
    rows = []
    for p in positions:
        e = encode_position(p)
        rows.append([e["car_id"], e["lat"], e["lng"], e["speed"], e["heading"], e["timestamp"]])
    return {"v": BATCH_VERSION, "sent": round(sent_at, 3), "cars": rows}


def pos(**over: object) -> dict[str, object]:
    base: dict[str, object] = {"car_id": "PC-001", "lat": 33.75, "lng": -84.39, "speed": 30.0,
                               "heading": 90.0, "timestamp": NOW}
    base.update(over)
    return base


def enc(obj: object) -> bytes:
    return json.dumps(obj).encode()


BAD_MESSAGES: list[tuple[str, bytes, str]] = [
    ("malformed json", b'{"car_id": "PC-001", "lat": ', "malformed_json"),
    ("not json at all", b"\x00\xff\xfe garbage", "malformed_json"),
    ("empty", b"", "malformed_json"),
    ("array", b"[1, 2, 3]", "not_object"),
    ("string", b'"hello"', "not_object"),
    ("null", b"null", "not_object"),
    ("missing lat", enc({k: v for k, v in pos().items() if k != "lat"}), "missing_field"),
    ("missing car_id", enc({k: v for k, v in pos().items() if k != "car_id"}), "missing_field"),
    ("lat as string", enc(pos(lat="33.75")), "bad_type"),
    ("speed as bool", enc(pos(speed=True)), "bad_type"),
    ("heading null", enc(pos(heading=None)), "bad_type"),
    ("car_id number", enc(pos(car_id=17)), "bad_type"),
    ("NaN lat", b'{"car_id":"PC-001","lat":NaN,"lng":-84.39,"speed":30,"heading":90,"timestamp":1800000000}',
     "malformed_json"),
    ("Infinity speed", b'{"car_id":"PC-001","lat":33.7,"lng":-84.39,"speed":Infinity,"heading":90,'
                       b'"timestamp":1800000000}', "malformed_json"),
    ("huge exponent", b'{"car_id":"PC-001","lat":1e999,"lng":-84.39,"speed":30,"heading":90,"timestamp":1800000000}',
     "malformed_json"),
    ("latitude 91", enc(pos(lat=91.0)), "lat_range"),
    ("latitude -90.5", enc(pos(lat=-90.5)), "lat_range"),
    ("longitude 181", enc(pos(lng=181.0)), "lng_range"),
    ("negative speed", enc(pos(speed=-1.0)), "speed_range"),
    ("absurd speed", enc(pos(speed=5000.0)), "speed_range"),
    ("heading 360", enc(pos(heading=360.0)), "heading_range"),
    ("heading -1", enc(pos(heading=-1.0)), "heading_range"),
    ("timestamp far future", enc(pos(timestamp=NOW + 86400 * 365)), "future_timestamp"),
    ("timestamp zero", enc(pos(timestamp=0)), "stale_timestamp"),
    ("timestamp ancient", enc(pos(timestamp=NOW - 86400 * 30)), "stale_timestamp"),
    ("1 MB payload", enc(pos(pad="x" * 1_000_000)), "oversize"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "oversize"),
    ("many keys", enc({**pos(), **{f"k{i}": i for i in range(40)}}), "oversize"),
    ("id with markup", enc(pos(car_id="<img src=x onerror=alert(1)>")), "bad_car_id"),
    ("id with script end", enc(pos(car_id="</script><script>alert(1)</script>")), "bad_car_id"),
    ("id with backtick", enc(pos(car_id="`alert(1)`")), "bad_car_id"),
    ("id with template", enc(pos(car_id="${alert(1)}")), "bad_car_id"),
    ("id with quotes", enc(pos(car_id="a\"b'c")), "bad_car_id"),
    ("id with U+2028", enc(pos(car_id="PC\u2028001")), "bad_car_id"),
    ("id with glob", enc(pos(car_id="PC-*")), "bad_car_id"),
    ("id with glob brackets", enc(pos(car_id="PC-[0-9]?")), "bad_car_id"),
    ("id too long", enc(pos(car_id="A" * 33)), "bad_car_id"),
    ("id empty", enc(pos(car_id="")), "bad_car_id"),
    ("id with newline", enc(pos(car_id="PC-001\nPC-002")), "bad_car_id"),
    ("id with path", enc(pos(car_id="../../etc/passwd")), "bad_car_id"),
]

# Hostile free text (call signs, notes): valid strings that must be displayed literally.
HOSTILE_TEXT = [  # each fits a call sign (<= 32 characters)
    "<img src=x onerror=__pwned=1>",
    "</script><script>__pwned=1//",
    "`${window.__pwned=1}`",
    "${alert(1)}",
    "\"'><svg onload=__pwned=1>",
    "<b>bold</b> & &amp;",
]
