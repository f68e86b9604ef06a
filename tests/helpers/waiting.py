"""Waiting on conditions (never fixed sleeps): poll a predicate until it holds or time runs out."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.05


async def async_wait_until(
    predicate: Callable[[], Awaitable[T] | T], timeout: float, what: str = "condition"
) -> T:
    """Evaluate predicate() (awaiting it if it returns an awaitable) until it is truthy; returns it."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(POLL_S)


_PAUSE = threading.Event()  # never set: .wait(t) is an interruptible poll interval


def wait_until(predicate: Callable[[], T], timeout: float, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        _PAUSE.wait(POLL_S)  # poll interval of a condition wait, not a fixed delay
