"""Dispatch: incidents, unit status changes, arrival detection (fleet edits: fleet_edits.py; audit and
timeline entries: action_log.py).

Live unit status lives in the Redis hash `cartrack:status` (car_id -> JSON record) so every
desktop sees it at once; every change is published on `cartrack:events`. A status change is
a compare-and-set script in Redis: two dispatchers can never assign one unit to two
incidents, the loser is told who won. MongoDB keeps the record (cars.status, incidents with
their timeline, audit_log), written through the durable outbox so nothing is lost while it
is away.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import orjson
from redis.exceptions import RedisError

from ...domain.dispatch import (
    ASSIGNED,
    STATUS_TIMELINE,
    Incident,
    TimelineEvent,
    TimelineKind,
    TransitionError,
    UnitAssignment,
    check_transition,
    clean_address,
    clean_incident_input,
    new_incident_id,
    next_status_from_fix,
)
from ...domain.messages import (
    MessageRejected,
    decode_assignment,
    encode_assignment,
    encode_event,
    encode_incident,
)
from ...domain.models import Position, UnitStatus
from ..history.registry import FleetRegistry
from ..infra.instance import instance_name
from ..infra.lua import lua_script
from ..infra.rejections import RejectionCounter
from ..infra.timeouts import within
from ..live.live_store import LiveStore
from .action_log import ActionLog
from .eta import DispatchEta, EtaEstimator
from .fleet_edits import FleetEdits
from .keys import EVENTS_CHANNEL, STATUS_KEY
from .outbox import OpKind, Outbox
from .records import Records
from .result import ActionResult
from .state import DispatchState

log = logging.getLogger(__name__)

ETA_TIMEOUT_S = 2.0


# Compare-and-set of one unit's status record; publishes the event only when it applied.
# ARGV: car_id, allowed current statuses (comma list), required current incident ('*' = any),
#       new record JSON, event JSON. Returns {applied (0/1), current record or ''}.
_CAS_TEMPLATE = """
local cur = redis.call('HGET', $STATUS_KEY, ARGV[1])
local status, incident = 'available', ''
if cur then
  local ok, o = pcall(cjson.decode, cur)
  if ok and type(o) == 'table' then
    if type(o.status) == 'string' then status = o.status end
    if type(o.incident) == 'string' then incident = o.incident end
  end
end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == status then allowed = true end
end
if (not allowed) or (ARGV[3] ~= '*' and ARGV[3] ~= incident) then
  return {0, cur or ''}
end
redis.call('HSET', $STATUS_KEY, ARGV[1], ARGV[4])
redis.call('PUBLISH', $EVENTS_CHANNEL, ARGV[5])
return {1, cur or ''}
"""
_CAS_LUA = lua_script(_CAS_TEMPLATE, STATUS_KEY=STATUS_KEY, EVENTS_CHANNEL=EVENTS_CHANNEL)



class DispatchService(DispatchState):
    """What a dispatcher does: incidents, dispatch, clear, service, arrivals, fleet edits.

    `by` names who acts when it is not this window's dispatcher (an API token's name): it is
    recorded in the status record, the incident's timeline and the audit log.
    """

    def __init__(
        self,
        store: LiveStore,
        registry: FleetRegistry,
        records: Records,
        outbox: Outbox,
        *,
        dispatcher: str,
        instance: str | None = None,
        clock: Callable[[], float] = time.time,
        rejections: RejectionCounter | None = None,
    ) -> None:
        super().__init__(store.client, records, clock=clock, rejections=rejections or RejectionCounter("dispatch"))
        self._store = store
        self._registry = registry
        self._outbox = outbox
        self.dispatcher = dispatcher
        self._cas_script = self._r.register_script(_CAS_LUA)
        self.call_sign: Callable[[str], str] = lambda cid: cid
        self.eta: EtaEstimator | None = None     # the ETA given at dispatch goes on the timeline
        self.log = ActionLog(outbox, dispatcher=dispatcher, instance=instance or instance_name(dispatcher),
                             clock=clock)
        # call_sign is replaced after construction (runtime wiring): looked up at each call
        self.fleet_edits = FleetEdits(self, store, registry, self.log, call_sign=lambda cid: self.call_sign(cid),  # noqa: PLW0108
                                      clock=clock)

    # ---- writes ------------------------------------------------------------------------------------
    async def _publish_incident(self, inc: Incident) -> None:
        self.apply_incident(inc)
        event = encode_event("incident", incident=encode_incident(self.incidents[inc.incident_id]))
        await self._r.publish(EVENTS_CHANNEL, orjson.dumps(event))

    async def _cas(self, new: UnitAssignment, allowed: Iterable[UnitStatus],
                   incident: str = "*") -> tuple[bool, UnitAssignment | None]:
        record = orjson.dumps(encode_assignment(new))
        event = orjson.dumps(encode_event("status", car_id=new.car_id, assignment=encode_assignment(new)))
        applied, current = await self._cas_script(
            args=[new.car_id, ",".join(s.value for s in allowed), incident, record, event])
        cur = None
        if current:
            try:
                cur = decode_assignment(current, new.car_id, loads=orjson.loads)
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, new.car_id)
        if int(applied) == 1:
            self.apply_status(new)
            self._outbox.put(OpKind.CAR_STATUS, {"car_id": new.car_id, "status": new.status.value,
                                            "incident": new.incident_id, "at": new.since})
        elif cur is not None:
            self.apply_status(cur)
        return int(applied) == 1, cur

    async def create_incident(self, lat: float, lng: float, kind: str, priority: int, notes: str,
                              address: str = "", *, by: str | None = None) -> Incident:
        """Raises ValueError (bad input) with a message for the dispatcher. `address`: the nearest
        address or intersection (reverse geocoded from the street map), stored with the incident."""
        kind, priority, notes = clean_incident_input(kind, priority, notes)
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValueError("The incident location is outside the map")
        now = self._clock()
        who = by or self.dispatcher
        inc = Incident(new_incident_id(now), kind, priority, notes, lat, lng, now, who,
                       address=clean_address(address))
        created = TimelineEvent(uuid.uuid4().hex, now, TimelineKind.CREATED, who, None, kind)
        inc = replace(inc, timeline=(created,))
        doc = encode_incident(inc)
        doc["_id"] = doc.pop("id")
        self._outbox.put(OpKind.INCIDENT_INSERT, doc)
        self.log.audit("incident.create", who, incident=inc.incident_id, type=kind, priority=priority,
                    address=inc.address,
                    lat=round(lat, 6), lng=round(lng, 6))
        await self._publish_incident(inc)
        return inc

    async def dispatch(self, incident_id: str, car_ids: Iterable[str], *,
                       by: str | None = None) -> list[ActionResult]:
        inc = self.incidents.get(incident_id)
        if inc is None or not inc.is_open:
            return [ActionResult(False, f"Incident {incident_id} is not open")]
        results = []
        for cid in car_ids:
            sign = self.call_sign(cid)
            current = self.statuses.get(cid)
            if current is not None and current.status in ASSIGNED:
                results.append(ActionResult(False, self._lost_claim(sign, current), cid))
                continue
            try:
                check_transition(sign, self.status_of(cid), UnitStatus.DISPATCHED)
            except TransitionError as exc:
                results.append(ActionResult(False, str(exc), cid))
                continue
            new = UnitAssignment(cid, UnitStatus.DISPATCHED, incident_id, (inc.lat, inc.lng), self._clock(),
                                 by or self.dispatcher)
            ok, cur = await self._cas(new, [UnitStatus.AVAILABLE])
            if not ok:
                results.append(ActionResult(False, self._lost_claim(sign, cur), cid))
                continue
            eta = await self._estimate(cid, (inc.lat, inc.lng))
            inc = self.log.timeline(self.incidents.get(incident_id, inc), TimelineKind.ASSIGNED, cid,
                                 eta.note if eta else "", by=by)
            given: dict[str, Any] = {"eta_s": round(eta.seconds), "eta_by_road": eta.by_road} if eta else {}
            self.log.audit("unit.dispatch", by, incident=incident_id, unit=cid, call_sign=sign, **given)
            await self._publish_incident(inc)
            results.append(ActionResult(True, f"{sign} dispatched to {incident_id}", cid))
        return results

    async def _estimate(self, car_id: str, scene: tuple[float, float]) -> DispatchEta | None:
        if self.eta is None:
            return None
        try:
            return await within(self.eta.estimate(car_id, scene), ETA_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError):
            return None

    def _lost_claim(self, sign: str, cur: UnitAssignment | None) -> str:
        if cur is None:
            return f"{sign} could not be dispatched; its status changed. Try again."
        if cur.status in ASSIGNED and cur.incident_id:
            who = f" by {cur.by}" if cur.by else ""
            return f"{sign} is already assigned to {cur.incident_id}{who} ({cur.status.label}); it was not dispatched"
        return f"{sign} is now {cur.status.label}; it was not dispatched"

    async def clear_unit(self, car_id: str, note: str = "", *, by: str | None = None) -> ActionResult:
        sign = self.call_sign(car_id)
        current = self.statuses.get(car_id)
        if current is None or current.status not in ASSIGNED:
            return ActionResult(False, f"{sign} is not assigned to an incident", car_id)
        new = UnitAssignment(car_id, UnitStatus.AVAILABLE, None, None, self._clock(), by or self.dispatcher)
        ok, cur = await self._cas(new, ASSIGNED, current.incident_id or "*")
        if not ok:
            return ActionResult(False, f"{sign} changed status meanwhile ({cur.status.label if cur else '?'})",
                                car_id)
        if current.incident_id and current.incident_id in self.incidents:
            inc = self.log.timeline(self.incidents[current.incident_id], TimelineKind.CLEARED, car_id, note, by=by)
            await self._publish_incident(inc)
        self.log.audit("unit.clear", by, unit=car_id, call_sign=sign, incident=current.incident_id or "")
        return ActionResult(True, f"{sign} cleared and available", car_id)

    async def close_incident(self, incident_id: str, *, by: str | None = None) -> ActionResult:
        inc = self.incidents.get(incident_id)
        if inc is None or not inc.is_open:
            return ActionResult(False, f"Incident {incident_id} is not open")
        for cid, a in list(self.statuses.items()):
            if a.incident_id == incident_id and a.status in ASSIGNED:
                await self.clear_unit(cid, "incident closed", by=by)
        inc = self.log.timeline(self.incidents[incident_id], TimelineKind.CLOSED, by=by)
        now = self._clock()
        inc = replace(inc, status="closed", closed_at=now)
        self._outbox.put(OpKind.INCIDENT_CLOSE, {"id": incident_id, "closed_at": now})
        self.log.audit("incident.close", by, incident=incident_id)
        await self._publish_incident(inc)
        return ActionResult(True, f"Incident {incident_id} closed")

    async def set_out_of_service(self, car_id: str, out: bool, *, by: str | None = None) -> ActionResult:
        sign = self.call_sign(car_id)
        current = self.status_of(car_id)
        target = UnitStatus.OUT_OF_SERVICE if out else UnitStatus.AVAILABLE
        try:
            check_transition(sign, current, target)
        except TransitionError as exc:
            return ActionResult(False, str(exc), car_id)
        new = UnitAssignment(car_id, target, None, None, self._clock(), by or self.dispatcher)
        ok, _ = await self._cas(new, [current])
        if not ok:
            return ActionResult(False, f"{sign} changed status meanwhile", car_id)
        self.log.audit("unit.out_of_service" if out else "unit.in_service", by, unit=car_id, call_sign=sign)
        return ActionResult(True, f"{sign} is {'out of service' if out else 'back in service'}", car_id)

    # ---- arrival ---------------------------------------------------------------------------------
    def assigned_moving(self) -> list[str]:
        return [cid for cid, a in self.statuses.items()
                if a.status in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE) and a.scene is not None]

    async def advance(self, positions: Iterable[Position]) -> list[UnitAssignment]:
        """En route once moving, on scene within 50 m: from reported fixes, simulated or real.

        These changes are the system's, not a person's: the timeline and the audit log say
        `system` (with this instance, which observed them), and the status record keeps the
        dispatcher who assigned the unit (who a lost claim names).
        """
        changed = []
        for p in positions:
            a = self.statuses.get(p.car_id)
            if a is None or a.scene is None:
                continue
            nxt = next_status_from_fix(a.status, p, a.scene)
            if nxt is None:
                continue
            new = replace(a, status=nxt, since=self._clock())
            ok, _ = await self._cas(new, [a.status], a.incident_id or "*")
            if not ok:
                continue  # another instance saw it first
            changed.append(new)
            sign = self.call_sign(p.car_id)
            if a.incident_id and a.incident_id in self.incidents:
                kind = STATUS_TIMELINE[nxt]
                inc = self.log.timeline(self.incidents[a.incident_id], kind, p.car_id, by_system=True)
                await self._publish_incident(inc)
            self.log.audit("unit.arrive" if nxt is UnitStatus.ON_SCENE else "unit.en_route", None, by_system=True,
                        unit=p.car_id, call_sign=sign, incident=a.incident_id or "")
        return changed

    async def check_arrivals(self) -> list[UnitAssignment]:
        ids = self.assigned_moving()
        if not ids:
            return []
        positions = await self._store.get_car_locations(ids)
        return await self.advance(positions)
