"""Backoff and retry in one place: capped exponential backoff with jitter, a counter of a loop's
consecutive failures, and the "do this every N seconds, whatever fails" loop.

Shaped after arq's `Retry`/`poll()`: the loop owns the decision to retry, this module only
knows how long to wait and how many times it has failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """The first retry waits about base_s, each next one twice as long, never more than cap_s."""

    base_s: float
    cap_s: float

    def delay(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter in [delay/2, delay]; attempt counts from 0."""
        delay = min(self.cap_s, self.base_s * 2.0 ** min(attempt, 30))
        return delay * (0.5 + 0.5 * random.random())


class Attempts:
    """Consecutive failures of one loop, and how long to pause before its next try."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; returns the pause before the next try."""
        delay = self.backoff.delay(self.failures)
        self.failures += 1
        return delay

    async def pause(self) -> None:
        """Count a failure and sleep the backoff."""
        await asyncio.sleep(self.failed())

    def reset(self) -> int:
        """A success (or a long healthy run): start afresh; returns the failures it ends."""
        ended, self.failures = self.failures, 0
        return ended


async def every(period_s: float, step: Callable[[], Awaitable[object]], *, what: str,
                errors: tuple[type[BaseException], ...]) -> NoReturn:
    """Run `step` every period_s forever; a failure listed in `errors` skips one round (logged at
    debug: the health check reports outages), anything else ends the loop for its supervisor."""
    while True:
        try:
            await step()
        except errors as exc:
            log.debug("%s skipped: %s", what, exc)
        await asyncio.sleep(period_s)
