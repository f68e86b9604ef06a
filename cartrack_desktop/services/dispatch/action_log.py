"""Who did what: audit entries and incident timeline entries, written through the outbox.

A person's action is recorded under their name (this window's dispatcher, or the acting API
token's name); a change the system makes by itself (en route on movement, on scene on arrival)
is recorded as `system` with the instance that observed it, never as a person.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ...domain.dispatch import SYSTEM_ACTOR, Incident, TimelineEvent
from ...domain.messages import encode_timeline_event
from .outbox import OpKind, Outbox
from .records import AuditAction


class ActionLog:
    def __init__(self, outbox: Outbox, *, dispatcher: str, instance: str, clock: Callable[[], float]) -> None:
        self._outbox = outbox
        self.dispatcher = dispatcher
        self.instance = instance
        self.host = socket.gethostname()[:64]
        self._clock = clock

    def audit(self, action: AuditAction, who: str | None, *, by_system: bool = False, **details: Any) -> None:
        """An audit entry by `who` (this dispatcher when None), or by the system (a change no person made)
        seen by this instance."""
        self._outbox.put(OpKind.AUDIT, {"id": uuid.uuid4().hex, "at": self._clock(),
                                        "dispatcher": SYSTEM_ACTOR if by_system else who or self.dispatcher,
                                        "action": action,
                                        "details": {**details, "host": self.host, "instance": self.instance}})

    def timeline(self, inc: Incident, kind: str, car_id: str | None = None, note: str = "",
                 *, by: str | None = None, by_system: bool = False) -> Incident:
        """A timeline entry by `by` (this dispatcher when None), or by the system seen by this instance;
        returns the incident with it (and the unit among its units)."""
        actor = SYSTEM_ACTOR if by_system else by or self.dispatcher
        ev = TimelineEvent(uuid.uuid4().hex, self._clock(), kind, actor, car_id, note,
                           self.instance if by_system else "")
        self._outbox.put(OpKind.INCIDENT_EVENT, {"id": inc.incident_id, "event": encode_timeline_event(ev),
                                                 "car_id": car_id})
        units = inc.units if car_id is None or car_id in inc.units else (*inc.units, car_id)
        return replace(inc, timeline=(*inc.timeline, ev), units=units)
