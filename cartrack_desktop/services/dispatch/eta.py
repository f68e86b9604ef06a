"""The ETA given at dispatch, for the incident's timeline: by road when a map is imported, else straight-line."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ...domain.dispatch import eta_estimate_s
from ...domain.geo import haversine_km
from ...domain.presentation import duration_text
from ..infra.road_network import RoadNetworkSource
from ..live.live_store import LiveStore


@dataclass(frozen=True, slots=True)
class DispatchEta:
    seconds: float
    km: float
    by_road: bool

    @property
    def note(self) -> str:
        if self.by_road:
            return f"ETA {duration_text(self.seconds)} by road, {self.km:.2f} km (free-flow estimate)"
        return f"ETA ~{duration_text(self.seconds)}, {self.km:.2f} km straight-line (estimate)"


class EtaEstimator:
    def __init__(self, store: LiveStore, roads: RoadNetworkSource | None) -> None:
        self._store = store
        self._roads = roads

    async def estimate(self, car_id: str, scene: tuple[float, float]) -> DispatchEta | None:
        """None if the unit has no live position."""
        pos = await self._store.get_car_location(car_id)
        if pos is None:
            return None
        router = self._roads.router if self._roads is not None else None
        if router is not None:
            route = await asyncio.to_thread(router.route_to, scene, pos.lat, pos.lng, pos.heading, pos.speed)
            if route is not None:
                return DispatchEta(route.time_s, route.distance_m / 1000.0, by_road=True)
        km = haversine_km(pos.lat, pos.lng, *scene)
        return DispatchEta(eta_estimate_s(km, pos.speed), km, by_road=False)
