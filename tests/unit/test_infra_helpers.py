"""The one backoff/retry helper, the one observer helper and the one drain-oldest-first helper."""

import asyncio
import logging

import pytest

from cartrack_desktop.services.infra.drain import DrainQueue
from cartrack_desktop.services.infra.observers import Observers
from cartrack_desktop.services.infra.retry import Attempts, Backoff

FAST = Backoff(0.001, 0.004)


def test_backoff_doubles_up_to_the_cap_with_jitter():
    b = Backoff(0.5, 10.0)
    for attempt, full in ((0, 0.5), (1, 1.0), (2, 2.0), (4, 8.0), (5, 10.0), (60, 10.0)):
        for _ in range(50):
            assert full / 2 <= b.delay(attempt) <= full


def test_attempts_count_failures_and_reset():
    a = Attempts(Backoff(1.0, 4.0))
    delays = [a.failed() for _ in range(4)]
    assert a.failures == 4
    assert 0.5 <= delays[0] <= 1.0 and 2.0 <= delays[3] <= 4.0
    assert a.reset() == 4 and a.failures == 0
    assert a.failed() <= 1.0


def test_observers_unsubscribe_and_isolate_a_broken_listener(caplog):
    obs: Observers[int] = Observers("test")
    got: list[int] = []

    def broken(_v: int) -> None:
        raise RuntimeError("boom")

    obs.subscribe(broken)
    unsubscribe = obs.subscribe(got.append)
    with caplog.at_level(logging.ERROR):
        obs.emit(1)
    assert got == [1] and "test listener failed" in caplog.text
    unsubscribe()
    unsubscribe()   # twice is harmless
    obs.emit(2)
    assert got == [1]


def test_drain_queue_drops_the_oldest_beyond_its_bound():
    q: DrainQueue[int] = DrainQueue(max_items=3, backoff=FAST)
    assert [q.put(i) for i in range(5)] == [[], [], [], [0], [1]]
    assert list(q) == [2, 3, 4] and q.oldest() == 2 and q[-1] == 4 and len(q) == 3
    assert q.take_oldest() == 2 and q.oldest() == 3


async def test_drain_writes_oldest_first_retries_and_wakes_on_put():
    q: DrainQueue[str] = DrainQueue(max_items=10, backoff=FAST)
    written: list[str] = []
    fail = {"b": 2}     # "b" fails twice, then goes through
    failures: list[int] = []
    recoveries: list[int] = []
    changed = asyncio.Event()

    async def write_one() -> bool:
        item = q.oldest()
        assert item is not None
        if fail.get(item, 0) > 0:
            fail[item] -= 1
            return False
        written.append(q.take_oldest())
        changed.set()
        return True

    task = asyncio.create_task(q.drain(write_one, on_failure=failures.append, on_recovery=recoveries.append))
    try:
        for item in "abc":
            q.put(item)
        while len(written) < 3:
            changed.clear()
            await asyncio.wait_for(changed.wait(), 5)
        assert written == ["a", "b", "c"] and failures == [1, 2] and recoveries == [2]
        q.put("d")                      # the writer sleeps on an empty queue until this wakes it
        while len(written) < 4:
            changed.clear()
            await asyncio.wait_for(changed.wait(), 5)
        assert written[-1] == "d" and not q
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_flush_stops_at_the_first_failure_or_when_time_is_short():
    q: DrainQueue[int] = DrainQueue(max_items=10, backoff=FAST)
    for i in range(3):
        q.put(i)
    lefts: list[float] = []

    async def write_one(left: float) -> bool:
        lefts.append(left)
        if q.oldest() == 2:
            return False
        q.take_oldest()
        return True

    assert not await q.flush(5.0, write_one)
    assert list(q) == [2] and len(lefts) == 3 and all(0 < x <= 5.0 for x in lefts)
    assert not await q.flush(0.1, write_one, min_left_s=0.2)   # not enough time: nothing tried
    assert len(lefts) == 3
    q.take_oldest()
    assert await q.flush(1.0, write_one)
