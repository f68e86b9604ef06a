"""What the map and the unit lists show: the status filter, and units that are always shown.

Qt-free, shared by the map page (through the page channel), Nearby units and the Fleet panel, so
the three always agree. The filter is the dispatcher's choice (remembered between runs by the
window); the always-shown set is what the app insists on: the tracked unit, a unit found by search
and any unit in alarm are drawn whatever the filter and are never aggregated into a cluster
(traccar-web#1156: a selected unit hidden inside a cluster). Units that are dispatched, en route or
on scene are never aggregated either; that rule needs no list (the page knows their status).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..domain.models import UnitStatus
from ..services.infra.observers import Observers


class StatusFilter:
    """The statuses the dispatcher chose to hide (none by default)."""

    def __init__(self) -> None:
        self._hidden: frozenset[UnitStatus] = frozenset()
        self.changed: Observers[frozenset[UnitStatus]] = Observers("status filter")

    @property
    def hidden(self) -> frozenset[UnitStatus]:
        return self._hidden

    def shows(self, status: UnitStatus) -> bool:
        return status not in self._hidden

    def set_hidden(self, statuses: Iterable[UnitStatus]) -> None:
        hidden = frozenset(statuses)
        if hidden != self._hidden:
            self._hidden = hidden
            self.changed.emit(hidden)

    def set_shown(self, status: UnitStatus, shown: bool) -> None:
        self.set_hidden(self._hidden - {status} if shown else self._hidden | {status})

    # ---- persistence (the window stores the names) ----------------------------------------------
    def names(self) -> list[str]:
        """The hidden statuses' names, in the statuses' order."""
        return [s.value for s in UnitStatus if s in self._hidden]

    def restore(self, names: object) -> None:
        """Hidden statuses from stored names; anything else (a damaged or older setting) is ignored."""
        items = [names] if isinstance(names, str) else names if isinstance(names, list | tuple) else []
        self.set_hidden(s for s in UnitStatus if s.value in {n for n in items if isinstance(n, str)})

    def describe(self) -> str:
        """"All statuses", or which ones are hidden ("Hiding Out of service")."""
        if not self._hidden:
            return "All statuses"
        return "Hiding " + ", ".join(s.label for s in UnitStatus if s in self._hidden)


class AlwaysShown:
    """Units drawn whatever the filter and never aggregated, by reason ("tracked", "alarm", ...).

    Each reason owns its set; another part of the window (e.g. the alarm banner) joins with
    `set("alarm", ids)` and leaves with `set("alarm", ())`.
    """

    MAX_UNITS = 1000   # one reason cannot flood the page; the rest of such a set aggregates normally

    def __init__(self) -> None:
        self._by_reason: dict[str, frozenset[str]] = {}
        self._ids: frozenset[str] = frozenset()
        self.changed: Observers[frozenset[str]] = Observers("always shown")

    def set(self, reason: str, car_ids: Iterable[str]) -> None:
        ids = frozenset(list(dict.fromkeys(car_ids))[:self.MAX_UNITS])
        if self._by_reason.get(reason, frozenset()) == ids:
            return
        if ids:
            self._by_reason[reason] = ids
        else:
            self._by_reason.pop(reason, None)
        self._ids = frozenset().union(*self._by_reason.values())
        self.changed.emit(self._ids)

    def ids(self) -> frozenset[str]:
        return self._ids


class MapFilter:
    """The two together: what the map, Nearby units and Fleet show."""

    def __init__(self) -> None:
        self.statuses = StatusFilter()
        self.always = AlwaysShown()

    def shows(self, car_id: str, status: UnitStatus) -> bool:
        return self.statuses.shows(status) or car_id in self.always.ids()
