"""A Qt-free error bus: background failures are reported here, the UI (or the log) shows them."""

from __future__ import annotations

import collections
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .redaction import redact

log = logging.getLogger(__name__)


class Level(enum.IntEnum):
    INFO = logging.INFO
    WARNING = logging.WARNING
    ERROR = logging.ERROR


@dataclass(frozen=True, slots=True)
class Notice:
    level: Level
    source: str
    message: str
    at: float


Listener = Callable[[Notice], None]


class ErrorBus:
    def __init__(self, *, keep: int = 200, clock: Callable[[], float] = time.time) -> None:
        self._listeners: list[Listener] = []
        self.recent: collections.deque[Notice] = collections.deque(maxlen=keep)
        self._clock = clock

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def report(self, source: str, message: str, level: Level = Level.ERROR, exc: BaseException | None = None) -> None:
        notice = Notice(level, source, redact(message), self._clock())
        self.recent.append(notice)
        log.log(int(level), "%s: %s", source, notice.message, exc_info=exc)
        for listener in list(self._listeners):
            try:
                listener(notice)
            except Exception:  # a broken listener must not break the reporter
                log.exception("error-bus listener failed")
