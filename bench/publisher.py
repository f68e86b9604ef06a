"""The live producer for the pipeline benchmarks, as a separate process (like a real fleet feed).

`python -m bench.publisher REDIS_URL UNITS TICKS OUT_JSON`: writes TICKS ticks of UNITS moving
units at 1 Hz on an absolute schedule with LiveStore.update_car_locations (whose batch
messages carry "sent" = publish time), then writes the publish times to OUT_JSON.
Running outside the app keeps the producer's CPU out of the app's loop-lag and CPU figures.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson

from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_store import LiveStore

from .fleet import SyntheticFleet, bench_ids

TICK_S = 1.0


async def publish(url: str, units: int, ticks: int) -> dict[str, list[float]]:
    client = make_redis(url, name="bench-publisher")
    store = LiveStore(client)
    fleet = SyntheticFleet(bench_ids(units), seed=5)
    sent: list[float] = []
    write_ms: list[float] = []
    try:
        next_tick = time.monotonic()
        for _ in range(ticks):
            fleet.step(TICK_S)
            positions = fleet.positions(time.time())
            t0 = time.perf_counter()
            sent.append(time.time())
            await store.update_car_locations(positions)
            write_ms.append((time.perf_counter() - t0) * 1000)
            print(f"tick {len(sent)}/{ticks}", flush=True)
            next_tick += TICK_S
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    finally:
        await client.aclose()
    return {"sent": sent, "write_ms": write_ms}


def main(argv: list[str]) -> int:
    url, units, ticks, out = argv
    result = asyncio.run(publish(url, int(units), int(ticks)))
    Path(out).write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
