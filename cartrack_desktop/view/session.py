"""What the dispatcher is working on: the incident pin, the active incident, the tracked unit.

Qt-free, so the window's jobs and the tests share one state. A job changes it only through the
methods below; every job that shows a part of it subscribes and reacts to the change, instead of
the jobs calling refresh_* on each other (napari's ViewerModel / QtViewer split).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Aspect(enum.Enum):
    """The parts of the session a change notification names."""

    PIN = "pin"                # the incident pin was placed (again), moved or removed
    INCIDENT = "incident"      # the active incident changed
    TRACKING = "tracking"      # a unit is tracked (again: the map re-centres on it) or tracking ended
    FOLLOWING = "following"    # the map stopped or resumed following the tracked unit


Changes = frozenset[Aspect]
Listener = Callable[[Changes], None]


class Session:
    """The state, then one notification per call naming every aspect it changed.

    Listeners see the state after the whole change (a new pin and the incident it dropped
    arrive as one notification), so none of them reads half an update.
    """

    def __init__(self) -> None:
        self._pin: tuple[float, float] | None = None
        self._incident: str | None = None
        self._tracked: str | None = None
        self._following = False
        # Hand-kept until services/ has its one observer helper (issue 11 §5); same contract:
        # subscribe returns the unsubscribe.
        self._listeners: list[Listener] = []

    # ---- reading ------------------------------------------------------------------------------
    @property
    def pin(self) -> tuple[float, float] | None:
        return self._pin

    @property
    def active_incident(self) -> str | None:
        return self._incident

    @property
    def tracked(self) -> str | None:
        return self._tracked

    @property
    def following(self) -> bool:
        return self._following

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ---- the pin and the incident ----------------------------------------------------------------
    def place_pin(self, lat: float, lng: float) -> None:
        """A new location (a click on the map): not the active incident any more."""
        changed = {Aspect.PIN}
        self._pin = (lat, lng)
        if self._incident is not None:
            self._incident = None
            changed.add(Aspect.INCIDENT)
        self._notify(changed)

    def open_incident(self, incident_id: str, lat: float, lng: float) -> None:
        """The pin goes to an existing incident, which becomes the active one."""
        self._pin = (lat, lng)
        self._incident = incident_id
        self._notify({Aspect.PIN, Aspect.INCIDENT})

    def set_active_incident(self, incident_id: str | None) -> None:
        """The incident at the pin (just created there), or None when it was closed."""
        if incident_id != self._incident:
            self._incident = incident_id
            self._notify({Aspect.INCIDENT})

    def clear_pin(self) -> None:
        changed = {Aspect.PIN}
        self._pin = None
        if self._incident is not None:
            self._incident = None
            changed.add(Aspect.INCIDENT)
        self._notify(changed)

    # ---- the tracked unit ----------------------------------------------------------------------------
    def track(self, car_id: str) -> None:
        """Track and follow a unit; always notifies, since tracking a unit again re-centres on it."""
        self._tracked = car_id
        self._following = True
        self._notify({Aspect.TRACKING})

    def stop_tracking(self) -> None:
        if self._tracked is None:
            return
        self._tracked = None
        self._following = False
        self._notify({Aspect.TRACKING})

    def set_following(self, following: bool) -> None:
        """The map says whether it still follows the tracked unit (a drag stops it)."""
        following = bool(following) and self._tracked is not None
        if following != self._following:
            self._following = following
            self._notify({Aspect.FOLLOWING})

    def _notify(self, changed: set[Aspect]) -> None:
        changes = frozenset(changed)
        for listener in list(self._listeners):
            try:
                listener(changes)
            except Exception:  # one broken view must not keep the others stale
                log.exception("session listener failed")
