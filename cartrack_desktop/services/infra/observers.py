"""One observer helper for every "tell me when X changes" in the Qt-free core."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Observers(Generic[T]):
    """Listeners of one kind of change. `subscribe` returns the call that unsubscribes.

    A listener that raises is logged and the others still hear the change: one broken panel
    must not stop the map, the simulator or the log from following the fleet.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[[T], object]] = []

    def subscribe(self, listener: Callable[[T], object]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, value: T) -> None:
        for listener in list(self._listeners):
            try:
                listener(value)
            except Exception:
                log.exception("%s listener failed", self.name)
