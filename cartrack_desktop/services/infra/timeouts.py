"""`within()`: asyncio.wait_for without its Python 3.11 flaw.

On 3.11, wait_for() swallows a cancellation that arrives just as the awaited operation
completes (fixed in 3.12), so a cancelled supervisor task could keep running forever.
asyncio.timeout() tracks cancellations properly; every timed await in the app uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], seconds: float) -> T:
    """Await `aw`, raising TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        return await aw
