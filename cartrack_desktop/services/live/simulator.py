"""Drives the patrol model for the whole fleet at 1 Hz and writes each tick in one round trip."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from ...domain.models import Car, Position, UnitStatus
from ...domain.patrol import Mode, PatrolArea, PatrolModel, UnitState
from ...routing.driving import RoadPatrolModel, RoutePlan
from ...routing.router import Router
from .live_store import LiveStore

log = logging.getLogger(__name__)

TICK_S = 1.0
STEP_SLICE = 1000


@dataclass
class SimulatorStats:
    ticks: int = 0
    units: int = 0
    last_tick_s: float = 0.0       # compute + write time of the last tick
    write_failures: int = 0
    skipped_ticks: int = 0


class Simulator:
    """Simulated units keyed by car id; add/remove/dispatch may be called at any time."""

    def __init__(
        self,
        store: LiveStore,
        *,
        seed: int | None = None,
        model: PatrolModel | None = None,
        area: PatrolArea | None = None,
        tick_s: float = TICK_S,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._rng = random.Random(seed)
        self.model = model or (PatrolModel(self._rng, area) if area else PatrolModel(self._rng))
        self._straight = self.model           # the movement without a road network
        self.tick_s = tick_s
        self._clock = clock
        self._monotonic = monotonic
        self.units: dict[str, UnitState] = {}
        self.stats = SimulatorStats()
        self._writing_ok = True
        self._forget: set[str] = set()

    # ---- fleet changes ------------------------------------------------------------------------
    def add_car(self, car: Car) -> None:
        """Simulate a unit; a real unit (`simulated` False) is never moved by the simulator."""
        if car.car_id in self.units or not car.simulated:
            return
        loc = car.location
        unit = self.model.spawn(car.car_id, loc.lat if loc else None, loc.lng if loc else None)
        self.units[car.car_id] = unit
        if car.status is UnitStatus.OUT_OF_SERVICE:
            self.model.park(unit)
        self.stats.units = len(self.units)

    def remove_car(self, car_id: str) -> bool:
        """Stop simulating a unit; its live position is deleted after the tick in flight (by run())."""
        removed = self.units.pop(car_id, None) is not None
        if removed:
            self._forget.add(car_id)
        self.stats.units = len(self.units)
        return removed

    def sync_fleet(self, cars: list[Car]) -> None:
        """Make the simulated set equal to the given registry entries that are simulated: a unit
        marked real stops here (its simulated position is removed; its device reports from now on)."""
        wanted = {c.car_id for c in cars if c.simulated}
        for cid in list(self.units):
            if cid not in wanted:
                self.remove_car(cid)
        new = [c for c in cars if c.car_id not in self.units]
        if isinstance(self.model, RoadPatrolModel) and len(new) > 1:   # placed on roads in one search
            starts = [(c.car_id, c.location.lat if c.location else None, c.location.lng if c.location else None)
                      for c in new]
            for c, unit in zip(new, self.model.spawn_many(starts), strict=True):
                self.units[c.car_id] = unit
                if c.status is UnitStatus.OUT_OF_SERVICE:
                    self.model.park(unit)
            self.stats.units = len(self.units)
            return
        for c in new:
            self.add_car(c)

    def use_router(self, router: Router | None) -> None:
        """Drive on this road network (None: straight lines, as without a map); every unit is put on it."""
        if router is None:
            if not isinstance(self.model, RoadPatrolModel):
                return
            self.model = self._straight
            for unit in self.units.values():
                unit.edge, unit.route, unit.route_pending = -1, None, False
                if unit.mode is Mode.PATROL:
                    self.model.resume_patrol(unit)
                elif unit.mode is Mode.RESPONDING:
                    self.model.respond(unit, unit.target_lat, unit.target_lng)
            return
        road = RoadPatrolModel(self._rng, router)
        self.model = road
        road.place_many(list(self.units.values()))
        for unit in self.units.values():
            if unit.mode is Mode.RESPONDING:
                road.respond(unit, unit.target_lat, unit.target_lng)
        log.info("simulator: %d units drive on the road network", len(self.units))

    async def _plan_routes(self) -> None:
        """Routes for units just dispatched, searched in a worker thread (a search is ~10 ms: not on the UI's
        loop); applied here, where nothing else moves the units meanwhile."""
        model = self.model
        if not isinstance(model, RoadPatrolModel):
            return
        if not model.pending:
            return
        waiting = [self.units[cid] for cid in list(model.pending) if cid in self.units]
        model.pending.clear()
        requests = [r for u in waiting if (r := model.route_request(u)) is not None]
        if not requests:
            return

        def plan_all() -> list[RoutePlan | None]:
            return [model.plan(r) for r in requests]

        plans: list[RoutePlan | None] = await asyncio.to_thread(plan_all)
        for req, plan in zip(requests, plans, strict=True):
            unit = self.units.get(req.car_id)
            if unit is not None and self.model is model:
                model.apply(unit, req, plan)

    def set_area(self, area: PatrolArea) -> int:
        """Patrol another area (a new street map was imported): units outside it start again inside it.

        Returns how many units moved. Parked units stay parked; units outside the area that were
        responding patrol the new area (their incident was on the old map).
        """
        self._straight.area = area
        self.model.area = area
        moved = 0
        for cid, unit in list(self.units.items()):
            if area.contains(unit.lat, unit.lng):
                continue
            fresh = self.model.spawn(cid)
            if unit.mode is Mode.PARKED:
                self.model.park(fresh)
            self.units[cid] = fresh
            moved += 1
        return moved

    # ---- orders ---------------------------------------------------------------------------------
    def dispatch(self, car_id: str, lat: float, lng: float) -> bool:
        unit = self.units.get(car_id)
        if unit is None:
            return False
        self.model.respond(unit, lat, lng)
        return True

    def resume_patrol(self, car_id: str) -> bool:
        unit = self.units.get(car_id)
        if unit is None:
            return False
        self.model.resume_patrol(unit)
        return True

    def set_out_of_service(self, car_id: str, out: bool) -> bool:
        unit = self.units.get(car_id)
        if unit is None:
            return False
        if out:
            self.model.park(unit)
        elif unit.mode is Mode.PARKED:
            self.model.resume_patrol(unit)
        return True

    # ---- the loop -------------------------------------------------------------------------------
    async def step_all(self, dt_s: float) -> list[Position]:
        """Move every unit by dt_s, in slices, yielding between them: 10,000 units must not stall the UI."""
        await self._plan_routes()
        ts = self._clock()
        step = self.model.step
        out: list[Position] = []
        units = list(self.units.values())
        for start in range(0, len(units), STEP_SLICE):
            for unit in units[start:start + STEP_SLICE]:
                step(unit, dt_s)
                out.append(unit.position(ts))
            await asyncio.sleep(0)
        return out

    async def run(self) -> None:
        """Tick forever on an absolute 1 s schedule (no drift); a late tick moves units by the real gap."""
        next_tick = self._monotonic()
        last = next_tick
        while True:
            now = self._monotonic()
            t0 = now
            positions = await self.step_all(now - last)
            last = now
            try:
                await self._store.update_car_locations(positions)
                while self._forget:  # after our own last write, so nothing brings them back
                    await self._store.remove_car(self._forget.pop())
                if not self._writing_ok:
                    log.info("simulator: writing to Redis again")
                self._writing_ok = True
            except (RedisError, OSError) as exc:
                self.stats.write_failures += 1
                if self._writing_ok:
                    log.warning("simulator: cannot write to Redis (%s); units keep moving, retrying each tick", exc)
                self._writing_ok = False
            self.stats.ticks += 1
            self.stats.last_tick_s = self._monotonic() - t0
            next_tick += self.tick_s
            delay = next_tick - self._monotonic()
            if delay < 0:
                missed = int(-delay // self.tick_s) + 1
                self.stats.skipped_ticks += missed - 1
                next_tick += (missed - 1) * self.tick_s
                delay = max(0.0, next_tick - self._monotonic())
            await asyncio.sleep(delay)
