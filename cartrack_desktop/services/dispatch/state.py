"""What this instance knows of dispatch: every unit's status and the open incidents, kept in step
with Redis (the status hash, the events channel) and announced to listeners as they change."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import orjson
import redis.asyncio as aioredis
from pymongo.errors import PyMongoError

from ...domain.dispatch import SYSTEM_ACTOR, Incident, UnitAssignment, merge_incidents
from ...domain.messages import (
    DispatchEvent,
    IncidentEvent,
    MessageRejected,
    StatusEvent,
    decode_assignment,
    encode_assignment,
)
from ...domain.models import Car, UnitStatus
from ..infra.observers import Observers
from ..infra.rejections import RejectionCounter
from ..infra.timeouts import within
from .keys import STATUS_KEY
from .records import Records

log = logging.getLogger(__name__)


class DispatchState:
    def __init__(self, client: aioredis.Redis, records: Records, *, clock: Callable[[], float] = time.time,
                 rejections: RejectionCounter) -> None:
        self._r = client
        self._records = records
        self._clock = clock
        self.rejections = rejections
        self.statuses: dict[str, UnitAssignment] = {}
        self.incidents: dict[str, Incident] = {}
        self.changes: Observers[StatusEvent | IncidentEvent] = Observers("dispatch")

    def status_of(self, car_id: str) -> UnitStatus:
        a = self.statuses.get(car_id)
        return a.status if a else UnitStatus.AVAILABLE

    def apply_status(self, a: UnitAssignment) -> None:
        old = self.statuses.get(a.car_id)
        if old == a:
            return
        self.statuses[a.car_id] = a
        self.changes.emit(StatusEvent(a))

    def apply_incident(self, inc: Incident) -> None:
        old = self.incidents.get(inc.incident_id)
        merged = inc if old is None else merge_incidents(old, inc)
        if merged != old:
            self.incidents[inc.incident_id] = merged
            self.changes.emit(IncidentEvent(merged))

    def handle_event(self, event: DispatchEvent) -> None:
        """A validated event from cartrack:events (ours come back too: applying twice is harmless)."""
        if isinstance(event, StatusEvent):
            self.apply_status(event.assignment)
        elif isinstance(event, IncidentEvent):
            self.apply_incident(event.incident)

    async def resync(self) -> None:
        """Reload the live statuses (and, when MongoDB answers, the open incidents)."""
        raw = await self._r.hgetall(STATUS_KEY)
        statuses: dict[str, UnitAssignment] = {}
        for k, v in raw.items():
            cid = k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)
            try:
                statuses[cid] = decode_assignment(v, cid, loads=orjson.loads)
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, cid)
        for cid in [c for c in self.statuses if c not in statuses]:
            self.apply_status(UnitAssignment(cid, UnitStatus.AVAILABLE))
        for a in statuses.values():
            self.apply_status(a)
        try:
            incidents = await within(self._records.open_incidents(), 5.0)
        except (PyMongoError, OSError, TimeoutError) as exc:
            log.warning("open incidents not loaded (MongoDB: %s); they arrive with the next events", exc)
            return
        for inc in incidents:
            self.apply_incident(inc)

    async def seed_statuses(self, cars: Iterable[Car]) -> None:
        """Fill in statuses missing from Redis (first start, or Redis restarted empty).

        What this instance last saw live wins; otherwise the status MongoDB recorded. HSETNX:
        an entry another instance already restored (or that changed since) is left alone.
        """
        n = 0
        async with self._r.pipeline(transaction=False) as pipe:
            for car in cars:
                a = self.statuses.get(car.car_id)
                if a is None:
                    a = UnitAssignment(car.car_id, car.status, car.incident_id, None, self._clock(), SYSTEM_ACTOR)
                    if car.incident_id and car.incident_id in self.incidents:
                        inc = self.incidents[car.incident_id]
                        a = replace(a, scene=(inc.lat, inc.lng))
                pipe.hsetnx(STATUS_KEY, car.car_id, orjson.dumps(encode_assignment(a)))
                n += 1
            if n:
                await pipe.execute()
