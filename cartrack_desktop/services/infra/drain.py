"""The "write oldest first, back off while it fails, wake on put" machine, written once.

The outbox (dispatcher writes) and the sync backlog (10 s cycles) are both a bounded FIFO that
one task drains into MongoDB: in order, each item until it is written, waiting with capped
backoff while MongoDB is away and sleeping while there is nothing to write. What writing the
oldest item means (and what a failure is) stays with the owner, as its `write_one`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, NoReturn, TypeVar

from .retry import Attempts, Backoff

T = TypeVar("T")

WriteOne = Callable[[], Awaitable[bool]]     # True when the oldest item was written and taken off


class DrainQueue(Generic[T]):
    """A bounded FIFO drained oldest first by one task."""

    def __init__(self, *, max_items: int, backoff: Backoff) -> None:
        self._items: collections.deque[T] = collections.deque()
        self.max_items = max_items
        self.attempts = Attempts(backoff)
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __getitem__(self, index: int) -> T:
        return self._items[index]

    def put(self, item: T) -> list[T]:
        """Append and wake the writer; returns the oldest items dropped to stay within max_items."""
        self._items.append(item)
        dropped = [self._items.popleft() for _ in range(len(self._items) - self.max_items)]
        self._wake.set()
        return dropped

    def oldest(self) -> T | None:
        return self._items[0] if self._items else None

    def take_oldest(self) -> T:
        """The oldest item is written: off the queue."""
        return self._items.popleft()

    async def drain(self, write_one: WriteOne, *, on_failure: Callable[[int], object] | None = None,
                    on_recovery: Callable[[int], object] | None = None) -> NoReturn:
        """Forever: write the oldest item; sleep while empty; back off while writes fail.

        on_failure(n) hears the n-th failure in a row, on_recovery(n) the success that ends n.
        """
        attempts = self.attempts
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
            if await write_one():
                ended = attempts.reset()
                if ended and on_recovery is not None:
                    on_recovery(ended)
                continue
            delay = attempts.failed()
            if on_failure is not None:
                on_failure(attempts.failures)
            await asyncio.sleep(delay)

    async def flush(self, timeout_s: float, write_one: Callable[[float], Awaitable[bool]], *,
                    min_left_s: float = 0.0) -> bool:
        """Write what is pending within timeout_s (at shutdown); True if the queue emptied.

        write_one(left_s) gets the time left; it stops at the first failure, or once less than
        min_left_s is left.
        """
        deadline = time.monotonic() + timeout_s
        while self._items:
            left = deadline - time.monotonic()
            if left <= min_left_s or not await write_one(left):
                return False
        return True
