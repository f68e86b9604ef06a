"""Dispatched units' routes: drawn on the map in the unit's status colour, followed fix by fix for the ETA
in Unit details, searched again when a unit leaves its route, dropped on arrival or clear."""

from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import QObject, Signal

from ...domain.dispatch import UnitAssignment
from ...domain.models import UnitStatus
from ...routing.router import Route, Router
from ...view.fleet_view import Frame
from ...view.routes import RouteBook
from ..page_channel import RouteLine
from .context import DeskContext
from .dispatch_link import DispatchLink
from .frames import FramePump

DRIVING = (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE)


class RoutesJob(QObject):
    routed = Signal(str)              # a unit's route was (re)computed (car id)

    def __init__(self, ctx: DeskContext, frames: FramePump, dispatch: DispatchLink) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self.book = RouteBook()
        self._asked: dict[str, tuple[str, tuple[float, float]]] = {}     # car -> (incident, scene) being routed
        dispatch.statusChanged.connect(self._on_status)
        frames.framePushed.connect(self._on_frame)
        ctx.runtime.roads.changed.subscribe(lambda _r: self.recompute_all())

    def attach(self) -> None:
        """Routes for units already on their way when the window starts."""
        d = self._ctx.runtime.dispatch
        if d is not None:
            for a in list(d.statuses.values()):
                self._on_status(a)

    def _on_status(self, a: UnitAssignment) -> None:
        if a.status in DRIVING and a.scene is not None and a.incident_id:
            current = self.book.routes.get(a.car_id)
            if current is None or current.scene != a.scene:
                self._request(a.car_id, a.incident_id, a.scene)
            else:
                self.send()                         # same route, new status colour
        elif self.book.remove(a.car_id) or self._asked.pop(a.car_id, None) is not None:
            self.send()

    def _request(self, car_id: str, incident_id: str, scene: tuple[float, float]) -> None:
        router = self._ctx.runtime.roads.router
        u = self._ctx.fleet.units.get(car_id)
        if router is None or u is None or u.position is None or self._asked.get(car_id) == (incident_id, scene):
            return
        self._asked[car_id] = (incident_id, scene)
        self._ctx.spawn(self._route(router, car_id, incident_id, scene), "route")

    async def _route(self, router: Router, car_id: str, incident_id: str, scene: tuple[float, float]) -> None:
        u = self._ctx.fleet.units.get(car_id)
        if u is None or u.position is None:
            self._asked.pop(car_id, None)
            return
        p = u.position
        route: Route | None = await asyncio.to_thread(router.route_to, scene, p.lat, p.lng, p.heading, p.speed)
        if self._asked.get(car_id) != (incident_id, scene):
            return                                   # cleared or sent elsewhere meanwhile
        del self._asked[car_id]
        if route is None:
            self.book.remove(car_id)
        else:
            self.book.set(car_id, incident_id, scene, route, p.timestamp)
        self.send()
        self.routed.emit(car_id)

    def _on_frame(self, frame: Frame) -> None:
        book = self.book
        if not book.routes:
            return
        for p in frame.positions:
            r = book.routes.get(p.car_id)
            if r is not None and book.follow(p):
                self._request(p.car_id, r.incident_id, r.scene)      # left its route: a new one from here

    def recompute_all(self) -> None:
        """A new road network (or none): every route again."""
        d = self._ctx.runtime.dispatch
        self.book.routes.clear()
        self._asked.clear()
        self.send()
        if d is not None:
            for a in list(d.statuses.values()):
                self._on_status(a)

    def eta(self, car_id: str) -> tuple[float, float] | None:
        """(road metres left, seconds left) for Unit details."""
        return self.book.eta(car_id, time.time())

    def send(self) -> None:
        fleet = self._ctx.fleet
        lines = []
        for cid, r in self.book.routes.items():
            u = fleet.units.get(cid)
            status = u.status if u else UnitStatus.DISPATCHED
            lines.append(RouteLine(cid, r.route.points, status.value))
        self._ctx.channel.routes(lines)
