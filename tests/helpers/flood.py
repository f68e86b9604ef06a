"""A hostile/broken producer, run as its own process: python -m tests.helpers.flood URL COUNT."""

from __future__ import annotations

import sys
import time

import orjson
import redis

from tests.corpus import BAD_MESSAGES

# The 1 MB entries are published a few times only: thousands of them would (rightly) make Redis
# disconnect the subscriber for exceeding its pub/sub output buffer, and the counts would be moot.
SMALL_BAD = [b for b in BAD_MESSAGES if len(b[1]) < 10_000]
BIG_BAD = [b for b in BAD_MESSAGES if len(b[1]) >= 10_000]
VALID_UNITS = 300


def flood(url: str, count: int) -> None:
    r = redis.Redis.from_url(url)
    now = time.time()
    good = [orjson.dumps({"car_id": f"FL-{j % VALID_UNITS}", "lat": 33.75 + j * 1e-6, "lng": -84.39, "speed": 10.0,
                          "heading": 10.0, "timestamp": now - (j % 7)}) for j in range(2000)]
    sent = 0
    while sent < count:
        pipe = r.pipeline(transaction=False)
        for k in range(1000):
            i = sent + k
            if i % 3 == 0:
                pipe.publish("car:location:stream:FL-X", SMALL_BAD[i % len(SMALL_BAD)][1])
            else:    # valid, duplicate and out-of-order fixes
                j = i % len(good)
                pipe.publish(f"car:location:stream:FL-{j % VALID_UNITS}", good[j])
        if sent % 10_000 == 0:
            for _label, raw, _kind in BIG_BAD:
                pipe.publish("car:location:stream:FL-X", raw)
        pipe.execute()
        sent += 1000
    r.close()


if __name__ == "__main__":
    flood(sys.argv[1], int(sys.argv[2]))
