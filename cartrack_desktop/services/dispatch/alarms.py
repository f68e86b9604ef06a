"""Panic alarms from devices, until a dispatcher acknowledges them: what every desktop shows.

The device ingest raises an alarm by writing it to the hash `cartrack:alarms` and announcing it on
`cartrack:events` (README "Panic alarm"). Every instance keeps the open alarms here: read from the
hash at start and on every (re)connect to the events channel (so a desktop started, or reconnected,
after the alarm still shows it), then followed through the events. Acknowledging is a
compare-and-delete in Redis that also publishes the acknowledgement, so of two dispatchers
acknowledging at once exactly one wins and every desktop hears who it was.

Both ends go to the audit log through the outbox: the raise under the id `alarm-raise-<alarm id>`
(every instance that learns of the alarm writes it, the id makes it one entry), the
acknowledgement under `alarm-ack-<alarm id>` by the instance whose dispatcher acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from ...domain.messages import (
    AlarmAcknowledged,
    AlarmRaised,
    DispatchEvent,
    MessageRejected,
    encode_alarm_ack,
    encode_event,
    parse_json,
    validate_alarm,
)
from ...domain.models import Alarm, AlarmAck
from ..infra.lua import lua_script
from ..infra.observers import Observers
from ..infra.rejections import RejectionCounter
from .keys import ALARMS_KEY, EVENTS_CHANNEL
from .outbox import OpKind, Outbox

log = logging.getLogger(__name__)

MAX_OPEN_ALARMS = 1000        # a flood of alarms (a broken tracker fleet) cannot grow memory without bound
MAX_ALARM_BYTES = 2048

# ARGV: alarm id, ack event JSON. Deletes the alarm and publishes the ack only if it was still open.
_ACK_LUA = lua_script("""
if redis.call('HDEL', $ALARMS_KEY, ARGV[1]) == 1 then
  redis.call('PUBLISH', $EVENTS_CHANNEL, ARGV[2])
  return 1
end
return 0
""", ALARMS_KEY=ALARMS_KEY, EVENTS_CHANNEL=EVENTS_CHANNEL)


@dataclass(frozen=True, slots=True)
class AckResult:
    ok: bool
    message: str


class AlarmBook:
    """The open alarms (alarm id -> Alarm) and the units in alarm; `changes` for listeners."""

    def __init__(self, redis: aioredis.Redis, outbox: Outbox, *, dispatcher: str, host: str,
                 rejections: RejectionCounter, clock: Callable[[], float] = time.time) -> None:
        self._r = redis
        self._outbox = outbox
        self.dispatcher = dispatcher
        self.host = host
        self.rejections = rejections
        self._clock = clock
        self._ack_script = redis.register_script(_ACK_LUA)
        self.active: dict[str, Alarm] = {}
        self.acks: dict[str, AlarmAck] = {}     # acknowledged while this instance ran (last ones)
        self.changes: Observers[AlarmRaised | AlarmAcknowledged] = Observers("alarms")
        self.call_sign: Callable[[str], str] = lambda cid: cid

    def units_in_alarm(self) -> frozenset[str]:
        return frozenset(a.car_id for a in self.active.values())

    def newest(self) -> Alarm | None:
        return max(self.active.values(), key=lambda a: a.raised_at, default=None)

    # ---- following Redis -------------------------------------------------------------------------
    async def load(self) -> None:
        """The open alarms from the hash (at start, and after every reconnect: nothing missed)."""
        raw = await self._r.hgetall(ALARMS_KEY)
        found: dict[str, Alarm] = {}
        for key, value in list(raw.items())[:MAX_OPEN_ALARMS]:
            try:
                alarm = validate_alarm(parse_json(value, MAX_ALARM_BYTES, orjson.loads))
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, None)
                continue
            if alarm.alarm_id == (key.decode("utf-8", "replace") if isinstance(key, bytes) else key):
                found[alarm.alarm_id] = alarm
        for alarm_id in [i for i in self.active if i not in found]:   # acknowledged while we were away
            alarm = self.active.pop(alarm_id)
            self.changes.emit(AlarmAcknowledged(AlarmAck(alarm_id, alarm.car_id, "", self._clock())))
        for alarm in found.values():
            self._raised(alarm)

    def handle_event(self, event: DispatchEvent) -> None:
        if isinstance(event, AlarmRaised):
            self._raised(event.alarm)
        elif isinstance(event, AlarmAcknowledged):
            self._acknowledged(event.ack)

    def _raised(self, alarm: Alarm) -> None:
        if alarm.alarm_id in self.active or alarm.alarm_id in self.acks:
            return
        if len(self.active) >= MAX_OPEN_ALARMS:
            self.rejections.reject("too_many_units", alarm.car_id)
            return
        self.active[alarm.alarm_id] = alarm
        log.warning("ALARM %s from unit %s (device %s) at %.5f,%.5f", alarm.kind, alarm.car_id, alarm.device_id,
                    alarm.lat or 0.0, alarm.lng or 0.0)
        self._outbox.put(OpKind.AUDIT, {
            "id": f"alarm-raise-{alarm.alarm_id}", "at": alarm.raised_at,
            "dispatcher": f"device {alarm.device_id or alarm.car_id}", "action": "alarm.raise",
            "details": {"alarm": alarm.alarm_id, "kind": alarm.kind, "unit": alarm.car_id,
                        "call_sign": self.call_sign(alarm.car_id), "device": alarm.device_id or "",
                        "protocol": alarm.protocol, "lat": alarm.lat, "lng": alarm.lng, "fix_at": alarm.at}})
        self.changes.emit(AlarmRaised(alarm))

    def _acknowledged(self, ack: AlarmAck) -> None:
        self.acks[ack.alarm_id] = ack
        if len(self.acks) > MAX_OPEN_ALARMS:
            self.acks.pop(next(iter(self.acks)))
        if self.active.pop(ack.alarm_id, None) is not None:
            log.info("alarm %s of unit %s acknowledged by %s", ack.alarm_id, ack.car_id, ack.by)
            self.changes.emit(AlarmAcknowledged(ack))

    # ---- the dispatcher's action ---------------------------------------------------------------------
    async def acknowledge(self, alarm_id: str) -> AckResult:
        """Acknowledge one open alarm (audit: who, when); says so if another dispatcher was first."""
        alarm = self.active.get(alarm_id)
        if alarm is None:
            ack = self.acks.get(alarm_id)
            return AckResult(False, f"Already acknowledged{f' by {ack.by}' if ack and ack.by else ''}")
        sign = self.call_sign(alarm.car_id)
        ack = AlarmAck(alarm_id, alarm.car_id, self.dispatcher, self._clock())
        event = orjson.dumps(encode_event("alarm", action="ack", **encode_alarm_ack(ack)))
        if int(await self._ack_script(args=[alarm_id, event])) != 1:
            # gone from Redis: another dispatcher acknowledged it first (their event follows)
            return AckResult(False, f"The alarm of {sign} was already acknowledged by another dispatcher")
        self._outbox.put(OpKind.AUDIT, {
            "id": f"alarm-ack-{alarm_id}", "at": ack.at, "dispatcher": self.dispatcher, "action": "alarm.ack",
            "details": {"alarm": alarm_id, "kind": alarm.kind, "unit": alarm.car_id, "call_sign": sign,
                        "raised_at": alarm.raised_at, "host": self.host}})
        self._acknowledged(ack)
        return AckResult(True, f"Alarm of {sign} acknowledged")
