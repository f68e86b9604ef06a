"""Devices on units (Fleet editor) and panic alarms, between two instances on real servers."""

from __future__ import annotations

import asyncio
import time

import orjson
from pymongo import MongoClient

from cartrack_desktop.domain.messages import encode_alarm, encode_event
from cartrack_desktop.domain.models import Alarm
from cartrack_desktop.services.dispatch.keys import ALARMS_KEY, EVENTS_CHANNEL, UNKNOWN_DEVICES_KEY
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.waiting import async_wait_until
from tests.integration.test_dispatch import outbox_drained, stacks

__all__ = ["stacks"]   # the fixture, shared with test_dispatch


def db(mongo_uri, name):
    return MongoClient(mongo_uri)[name]


async def _none(aw):
    return (await aw) is None


async def test_a_unit_marked_real_gets_a_device_and_leaves_the_simulator(stacks, mongo_uri, mongo_db_name):
    a = await stacks("--cars", "3", name="a")
    b = await stacks("--cars", "3", name="b")
    leader = a if a.simulator.stats.ticks else b
    await async_wait_until(lambda: "PC-002" in leader.simulator.units, 5, "simulated")
    await a.store.client.hset(UNKNOWN_DEVICES_KEY, "phone-2", b'{"device_id":"phone-2"}')
    r = await a.dispatch.fleet_edits.set_unit_device("PC-002", " phone-2 ", simulated=False)
    assert r.ok, r.message
    await async_wait_until(lambda: "PC-002" not in leader.simulator.units, 3, "simulator lets go of it")
    await async_wait_until(lambda: b.fleet["PC-002"].device_id == "phone-2" and not b.fleet["PC-002"].simulated, 3,
                           "the other instance knows its device")
    await async_wait_until(lambda: _none(a.store.get_car_location("PC-002")), 3, "simulated position removed")
    assert not await a.store.client.hexists(UNKNOWN_DEVICES_KEY, "phone-2")   # claimed: off the Unknown list
    # a device is one unit's; a bad id is refused with a message; nothing changes
    r = await b.dispatch.fleet_edits.set_unit_device("PC-003", "phone-2", simulated=False)
    assert not r.ok and "already attached" in r.message and "PC-002" in r.message
    r = await b.dispatch.fleet_edits.set_unit_device("PC-003", "<script>", simulated=False)
    assert not r.ok and "Device id" in r.message
    r = await a.dispatch.fleet_edits.add_unit("R-9", "Real-9", device_id="phone-2", simulated=False)
    assert not r.ok and "already attached" in r.message
    r = await a.dispatch.fleet_edits.add_unit("R-9", "Real-9", device_id="353861053849681", simulated=False)
    assert r.ok, r.message
    await async_wait_until(lambda: "R-9" in b.fleet and b.fleet["R-9"].device_id == "353861053849681", 3, "added")
    assert "R-9" not in leader.simulator.units
    # detached and simulated again: the simulator takes it back
    r = await a.dispatch.fleet_edits.set_unit_device("PC-002", "", simulated=True)
    assert r.ok, r.message
    await async_wait_until(lambda: "PC-002" in leader.simulator.units, 3, "simulated again")
    await outbox_drained(a)
    doc = db(mongo_uri, mongo_db_name).cars.find_one({"_id": "PC-002"})
    assert doc["simulated"] is True and "device_id" not in doc
    actions = [(e["action"], e["details"].get("device")) for e in
               db(mongo_uri, mongo_db_name).audit_log.find({"action": {"$in": ["fleet.device", "fleet.add"]}})
               .sort("at", 1)]
    assert actions == [("fleet.device", "phone-2"), ("fleet.add", "353861053849681"), ("fleet.device", "")]


async def test_seeding_counts_simulated_units_only(stacks, mongo_uri, mongo_db_name):
    a = await stacks("--cars", "2", name="a")
    assert (await a.dispatch.fleet_edits.set_unit_device("PC-001", "dev-1", simulated=False)).ok
    await a.stop()
    b = await stacks("--cars", "2", name="b")
    sims = [c for c in b.fleet.values() if c.simulated]
    assert len(sims) == 2 and "PC-001" not in {c.car_id for c in sims}


def alarm(car_id: str = "PC-001", n: int = 1) -> Alarm:
    now = time.time()
    return Alarm(f"{car_id}-{n}", car_id, "sos", now - 1, now, 33.75, -84.39, "353861053849681", "osmand")


async def raise_alarm(rt: Runtime, a: Alarm) -> None:
    """As the device ingest's writer raises one."""
    fields = encode_alarm(a)
    await rt.store.client.hset(ALARMS_KEY, a.alarm_id, orjson.dumps(fields))
    await rt.store.client.publish(EVENTS_CHANNEL, orjson.dumps(encode_event("alarm", action="raise", **fields)))


async def test_an_alarm_reaches_every_instance_and_one_acknowledgement_wins(stacks, mongo_uri, mongo_db_name):
    a = await stacks("--no-simulator", name="a")
    b = await stacks("--no-simulator", name="b")
    heard: list[object] = []
    b.alarms.changes.subscribe(heard.append)
    sos = alarm()
    await raise_alarm(a, sos)
    await async_wait_until(lambda: sos.alarm_id in a.alarms.active and sos.alarm_id in b.alarms.active, 2, "raised")
    assert b.alarms.units_in_alarm() == frozenset({"PC-001"})
    first, second = await asyncio.gather(a.alarms.acknowledge(sos.alarm_id), b.alarms.acknowledge(sos.alarm_id))
    assert sorted((first.ok, second.ok)) == [False, True], (first, second)
    winner = "disp-a" if first.ok else "disp-b"
    loser = b if first.ok else a
    await async_wait_until(lambda: not a.alarms.active and not b.alarms.active, 2, "acknowledged everywhere")
    assert loser.alarms.acks[sos.alarm_id].by == winner
    assert [type(e).__name__ for e in heard] == ["AlarmRaised", "AlarmAcknowledged"]
    assert await a.store.client.hlen(ALARMS_KEY) == 0
    await outbox_drained(a)
    await outbox_drained(b)
    entries = list(db(mongo_uri, mongo_db_name).audit_log.find({"action": {"$in": ["alarm.raise", "alarm.ack"]}})
                   .sort("at", 1))
    assert [(e["action"], e["dispatcher"]) for e in entries] == [
        ("alarm.raise", "device 353861053849681"), ("alarm.ack", winner)]
    assert entries[0]["details"]["unit"] == "PC-001" and entries[0]["details"]["kind"] == "sos"


async def test_open_alarms_survive_a_restart_of_the_desktop(stacks):
    a = await stacks("--no-simulator", name="a")
    await raise_alarm(a, alarm("PC-007", 2))
    await async_wait_until(lambda: a.alarms.active, 2, "raised")
    await a.stop()
    b = await stacks("--no-simulator", name="b")   # a new instance, started after the alarm
    await async_wait_until(lambda: "PC-007-2" in b.alarms.active, 5, "loaded from cartrack:alarms")
    # a hostile hash entry is skipped and counted, never shown
    await b.store.client.hset(ALARMS_KEY, "x", b'{"alarm_id":"<img>","car_id":"PC-1"}')
    await b.alarms.load()
    assert list(b.alarms.active) == ["PC-007-2"]
