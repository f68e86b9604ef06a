"""A Qt-free error bus: background failures are reported here, the UI (or the log) shows them."""

from __future__ import annotations

import collections
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .observers import Observers
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


def first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception as one short line for a status bar or a log (its type when it says nothing)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


class ErrorBus:
    def __init__(self, *, keep: int = 200, clock: Callable[[], float] = time.time) -> None:
        self.notices: Observers[Notice] = Observers("error bus")
        self.recent: collections.deque[Notice] = collections.deque(maxlen=keep)
        self._clock = clock

    def subscribe(self, listener: Callable[[Notice], object]) -> Callable[[], None]:
        return self.notices.subscribe(listener)

    def report(self, source: str, message: str, level: Level = Level.ERROR, exc: BaseException | None = None) -> None:
        notice = Notice(level, source, redact(message), self._clock())
        self.recent.append(notice)
        log.log(int(level), "%s: %s", source, notice.message, exc_info=exc)
        self.notices.emit(notice)  # a broken listener is logged there and does not break the reporter
