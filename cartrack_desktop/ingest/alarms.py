"""Which reports raise an emergency, and once (pure: no I/O; the caller writes the Alarm).

A report's alarm value may hold several alarms joined by commas (Traccar: "sos,overspeed"); the
first one in `kinds` (default sos) raises. The same alarm of the same unit is raised once per
ALARM_REPEAT_S: a tracker that repeats it in every report gives one banner, not one a second. If
the write of an alarm fails, `forget` lets the device's retry raise it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..domain.models import Alarm
from .options import ALARM_REPEAT_S
from .report import DeviceReport

MAX_KIND_CHARS = 32


class AlarmGate:
    def __init__(self, kinds: Iterable[str], *, repeat_s: float = ALARM_REPEAT_S) -> None:
        self.kinds = frozenset(k.lower() for k in kinds)
        self.repeat_s = repeat_s
        self._raised: dict[tuple[str, str], float] = {}

    def check(self, report: DeviceReport, car_id: str, *, now: float, mono: float,
              fix: tuple[float, float, float] | None) -> Alarm | None:
        """The Alarm to raise for this report, or None. fix: (lat, lng, time) of the report or the
        unit's last fix; now: server time (epoch s); mono: a monotonic clock for the repeat window."""
        if not report.alarm:
            return None
        kind = next((k.strip().lower() for k in report.alarm.split(",") if k.strip().lower() in self.kinds), None)
        if kind is None or not kind.isalpha() or len(kind) > MAX_KIND_CHARS:
            return None
        key = (car_id, kind)
        if mono - self._raised.get(key, float("-inf")) < self.repeat_s:
            return None
        self._raised[key] = mono
        lat, lng, at = fix if fix is not None else (None, None, report.fix_time or now)
        return Alarm(f"{car_id}-{int(now * 1000)}", car_id, kind, at, now, lat, lng, report.device_id,
                     report.protocol)

    def forget(self, alarm: Alarm) -> None:
        """Its write failed: the device's retry raises it again."""
        self._raised.pop((alarm.car_id, alarm.kind), None)
