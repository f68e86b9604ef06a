"""Counting rejected inputs per kind, with logging rate-limited to once per kind per minute."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from ...domain.messages import RejectionKind

log = logging.getLogger(__name__)

LOG_EVERY_S = 60.0


class RejectionCounter:
    """Thread-safe counter of rejected inputs; `snapshot()` feeds the stats panel."""

    def __init__(self, source: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self._clock = clock
        self._counts: Counter[RejectionKind] = Counter()
        self._last_logged: dict[RejectionKind, float] = {}
        self._suppressed: Counter[RejectionKind] = Counter()
        self._lock = threading.Lock()

    def reject(self, kind: RejectionKind, subject: str | None = None) -> None:
        now = self._clock()
        with self._lock:
            self._counts[kind] += 1
            last = self._last_logged.get(kind)
            if last is not None and now - last < LOG_EVERY_S:
                self._suppressed[kind] += 1
                return
            suppressed = self._suppressed.pop(kind, 0)
            self._last_logged[kind] = now
        # subject is untrusted: %r keeps control characters and markup inert in the log
        log.warning(
            "rejected input from %s: %s%s%s",
            self.source,
            kind,
            f" (unit {subject[:40]!r})" if subject else "",
            f"; {suppressed} more of this kind since the last report" if suppressed else "",
        )

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[RejectionKind, int]:
        with self._lock:
            return dict(self._counts)
