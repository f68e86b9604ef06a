"""Fleet edits (the Fleet editor, Unknown devices, the API's simulator add/remove): the registry in
MongoDB, the unit's status record in Redis, one fleet event so every instance (and the simulator and
the device ingest) follows at once, and an audit entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from pymongo.errors import PyMongoError

from ...domain.dispatch import ASSIGNED, UnitAssignment
from ...domain.messages import encode_assignment, encode_event
from ...domain.models import UnitStatus
from ..history.registry import FleetRegistry
from ..infra.timeouts import within
from ..live.live_store import LiveStore
from .action_log import ActionLog
from .keys import EVENTS_CHANNEL, STATUS_KEY, UNKNOWN_DEVICES_KEY
from .result import ActionResult
from .state import DispatchState

REGISTRY_TIMEOUT_S = 5.0


class FleetEdits:
    def __init__(self, state: DispatchState, store: LiveStore, registry: FleetRegistry, log: ActionLog,
                 *, call_sign: Callable[[str], str], clock: Callable[[], float]) -> None:
        self._state = state
        self._store = store
        self._r: aioredis.Redis = store.client
        self._registry = registry
        self._log = log
        self._call_sign = call_sign
        self._clock = clock

    async def _announce(self, action: str, car_id: str) -> None:
        await self._r.publish(EVENTS_CHANNEL, orjson.dumps(encode_event("fleet", action=action, car_id=car_id)))

    async def add_unit(self, car_id: str, call_sign: str, *, device_id: str | None = None,
                       simulated: bool = True, by: str | None = None) -> ActionResult:
        """A new unit; with a device id it is a real unit the device ingest moves (Unknown devices → Create)."""
        try:
            car = await within(self._registry.add(car_id.strip(), call_sign, simulated=simulated,
                                                  device_id=device_id), REGISTRY_TIMEOUT_S)
        except ValueError as exc:
            return ActionResult(False, str(exc))
        except (PyMongoError, OSError, TimeoutError):
            return ActionResult(False, "The fleet registry (MongoDB) is not reachable; the unit was not added")
        await self._r.hset(STATUS_KEY, car.car_id, orjson.dumps(encode_assignment(
            UnitAssignment(car.car_id, UnitStatus.AVAILABLE, None, None, self._clock(),
                           by or self._log.dispatcher))))
        if car.device_id is not None:
            await self._r.hdel(UNKNOWN_DEVICES_KEY, car.device_id)
        await self._announce("add", car.car_id)
        extra: dict[str, Any] = ({"device": car.device_id, "simulated": car.simulated}
                                 if car.device_id or not car.simulated else {})
        self._log.audit("fleet.add", by, unit=car.car_id, call_sign=car.call_sign, **extra)
        device = f" with device {car.device_id}" if car.device_id else ""
        return ActionResult(True, f"{car.call_sign} ({car.car_id}) added to the fleet{device}", car.car_id)

    async def set_unit_device(self, car_id: str, device_id: str | None, *, simulated: bool,
                              by: str | None = None) -> ActionResult:
        """Attach (or change, or detach) a unit's device and mark it real or simulated; the device
        ingest's map and the simulator follow the fleet event at once."""
        sign = self._call_sign(car_id)
        try:
            car = await within(self._registry.set_device(car_id, device_id, simulated=simulated), REGISTRY_TIMEOUT_S)
        except ValueError as exc:
            return ActionResult(False, str(exc), car_id)
        except (PyMongoError, OSError, TimeoutError):
            return ActionResult(False, "The fleet registry (MongoDB) is not reachable; nothing changed", car_id)
        if car.device_id is not None:
            await self._r.hdel(UNKNOWN_DEVICES_KEY, car.device_id)
        await self._announce("update", car_id)
        self._log.audit("fleet.device", by, unit=car_id, call_sign=sign, device=car.device_id or "",
                        simulated=car.simulated)
        what = f"device {car.device_id}" if car.device_id else "no device"
        return ActionResult(True, f"{sign} ({car_id}): {what}, {'simulated' if car.simulated else 'real unit'}",
                            car_id)

    async def remove_unit(self, car_id: str, *, by: str | None = None) -> ActionResult:
        sign = self._call_sign(car_id)
        if self._state.status_of(car_id) in ASSIGNED:
            return ActionResult(False, f"{sign} is assigned to an incident; clear it first", car_id)
        try:
            removed = await within(self._registry.remove(car_id), REGISTRY_TIMEOUT_S)
        except (PyMongoError, OSError, TimeoutError):
            return ActionResult(False, "The fleet registry (MongoDB) is not reachable; the unit was not removed")
        if not removed:
            return ActionResult(False, f"{sign} is not in the fleet registry", car_id)
        await self._r.hdel(STATUS_KEY, car_id)
        await self._store.remove_car(car_id)
        self._state.statuses.pop(car_id, None)
        await self._announce("remove", car_id)
        self._log.audit("fleet.remove", by, unit=car_id, call_sign=sign)
        return ActionResult(True, f"{sign} ({car_id}) removed from the fleet", car_id)
