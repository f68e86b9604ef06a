"""The fleet registry as this instance knows it: loaded from MongoDB once it answers, then kept in
step with every change any dispatcher makes (announced on the dispatch events channel).

The window's lists, the map's labels and the simulator follow it through `changed`; `removed`
tells the window to drop a unit at once (off the map, out of the lists).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping

import pymongo
from pymongo.errors import PyMongoError

from ...domain.messages import FleetEvent
from ...domain.models import Car
from ..infra.errors import ErrorBus, Level
from ..infra.observers import Observers
from ..infra.retry import Attempts, Backoff
from .registry import FleetRegistry

log = logging.getLogger(__name__)

LOAD_BACKOFF = Backoff(1.0, 15.0)
LOAD_TIMEOUT_S = 10.0
FOLLOW_TIMEOUT_S = 5.0


class Fleet(Mapping[str, Car]):
    """car_id -> Car for every registered unit; empty until `load` has read the registry."""

    def __init__(self, errors: ErrorBus) -> None:
        self._errors = errors
        self._cars: dict[str, Car] = {}
        self._registry: FleetRegistry | None = None
        self.loaded = asyncio.Event()
        self.changed: Observers[list[Car]] = Observers("fleet")
        self.removed: Observers[str] = Observers("fleet removal")

    def __getitem__(self, car_id: str) -> Car:
        return self._cars[car_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cars)

    def __len__(self) -> int:
        return len(self._cars)

    def call_sign(self, car_id: str) -> str:
        car = self._cars.get(car_id)
        return car.call_sign if car is not None else car_id

    def set(self, cars: list[Car]) -> None:
        self._cars = {c.car_id: c for c in cars}
        self.changed.emit(cars)

    async def load(self, registry: FleetRegistry, *, prepare: Callable[[], Awaitable[None]],
                   seed_to: int | None) -> list[Car]:
        """Prepare the database and read the registry (seeding simulated units up to seed_to),
        retried until MongoDB answers."""
        self._registry = registry
        attempts = Attempts(LOAD_BACKOFF)
        while True:
            try:
                with pymongo.timeout(LOAD_TIMEOUT_S):
                    await prepare()
                    cars = await registry.seed(seed_to) if seed_to is not None else await registry.load()
                break
            except PyMongoError as exc:
                if attempts.failures == 0:
                    self._errors.report("fleet", f"fleet registry unavailable, retrying: {exc}", Level.WARNING)
                await attempts.pause()
        self.set(cars)
        log.info("fleet: %d unit(s) registered", len(cars))
        self.loaded.set()
        return cars

    async def follow(self, event: FleetEvent) -> None:
        """Another dispatcher (or this one) changed the registry: follow it at once."""
        if event.action == "remove":
            if self._cars.pop(event.car_id, None) is not None:
                self.set(list(self._cars.values()))
            self.removed.emit(event.car_id)
            return
        assert self._registry is not None
        try:
            with pymongo.timeout(FOLLOW_TIMEOUT_S):
                car = await self._registry.get(event.car_id)
        except PyMongoError as exc:
            self._errors.report("fleet", f"could not load unit {event.car_id}: {exc}", Level.WARNING)
            return
        if car is None:
            return
        self._cars[event.car_id] = car
        self.set(list(self._cars.values()))
