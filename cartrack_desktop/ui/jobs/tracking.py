"""The tracked unit: the map follows it and Unit details shows it live, with the nearest address."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from ...domain.dispatch import ASSIGNED, eta_estimate_s
from ...domain.geo import haversine_km
from ...view.fleet_view import Frame
from ...view.places import Places, near_label
from ...view.session import Aspect, Changes
from .context import DeskContext
from .dispatch_link import DispatchLink
from .frames import FramePump
from .routes import RoutesJob
from .ticker import Ticker

NEAR_MOVED_M = 25.0        # look the tracked unit's address up again once it moved this far
NEAR_EVERY_S = 5.0         # ... or this long after the last lookup


class TrackingJob(QObject):
    trackingChanged = Signal(str)        # "" when tracking stops

    def __init__(self, ctx: DeskContext, frames: FramePump, ticker: Ticker, dispatch: DispatchLink,
                 routes: RoutesJob, places: Places) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._routes = routes
        routes.routed.connect(lambda _cid: self.refresh_panel())
        self._places = places
        self._near = ("", 0.0, 0.0, 0.0, "")    # car id, lat, lng, when looked up, text
        self._near_busy = False
        w = ctx.window
        w.nearby.activated.connect(self.track)
        w.fleet.activated.connect(self.track)
        w.unit.stopRequested.connect(ctx.session.stop_tracking)
        w.unit.centreRequested.connect(self.centre)
        frames.framePushed.connect(self._on_frame)
        ticker.ticked.connect(self.refresh_panel)
        dispatch.statusChanged.connect(lambda _a: self.refresh_panel())
        ctx.session.subscribe(self._on_session)

    def track(self, car_id: str) -> None:
        """Track a unit the window knows (a double-click on the map, a row in a list)."""
        if car_id in self._ctx.fleet.units:
            self._ctx.session.track(car_id)

    def centre(self) -> None:
        """Centre the map on the tracked unit and follow it again."""
        if self._ctx.session.tracked is not None:
            self.track(self._ctx.session.tracked)

    def resend(self) -> None:
        s = self._ctx.session
        self._ctx.channel.track(s.tracked, follow=s.following)

    def _on_session(self, changes: Changes) -> None:
        if Aspect.TRACKING in changes:
            tracked = self._ctx.session.tracked
            self._ctx.channel.track(tracked, follow=True)
            if tracked is not None:
                self._ctx.window.docks["unit"].raise_()
            self.refresh_panel()
            self.trackingChanged.emit(tracked or "")
        elif Aspect.FOLLOWING in changes:
            self.refresh_panel()

    def _on_frame(self, frame: Frame) -> None:
        tracked = self._ctx.session.tracked
        if tracked is not None and any(p.car_id == tracked for p in frame.positions):
            self.refresh_panel()

    def refresh_panel(self) -> None:
        ctx = self._ctx
        cid, fleet = ctx.session.tracked, ctx.fleet
        if cid is None or cid not in fleet.units:
            ctx.window.unit.show_unit(None)
            return
        u = fleet.units[cid]
        ctx.window.unit.show_unit({
            "car_id": cid, "call_sign": u.call_sign, "status": u.status, "position": u.position,
            "age_s": fleet.age_of(cid), "fix": fleet.state_of(cid), "following": ctx.session.following,
            "near": self._near_text(cid, u.position), **self._dispatch_extras(cid),
        })

    def _near_text(self, car_id: str, pos: Any) -> str:
        """The unit's nearest address (looked up off the UI thread when it moved or aged; "" meanwhile)."""
        cid, lat, lng, at, text = self._near
        if pos is None or not self._places.available:
            return text if cid == car_id else ""
        moved = cid != car_id or haversine_km(lat, lng, pos.lat, pos.lng) * 1000.0 >= NEAR_MOVED_M
        if (moved or time.monotonic() - at >= NEAR_EVERY_S) and not self._near_busy:
            self._near_busy = True
            self._ctx.spawn(self._look_up(car_id, pos.lat, pos.lng), "unit address")
        return text if cid == car_id else ""

    async def _look_up(self, car_id: str, lat: float, lng: float) -> None:
        try:
            text = near_label(await self._places.reverse(lat, lng))
        finally:
            self._near_busy = False
        self._near = (car_id, lat, lng, time.monotonic(), text)
        if self._ctx.session.tracked == car_id:
            self.refresh_panel()

    def _dispatch_extras(self, car_id: str) -> dict[str, Any]:
        """The unit's incident, its distance to the scene and an ETA estimate."""
        d = self._ctx.runtime.dispatch
        a = d.statuses.get(car_id) if d else None
        u = self._ctx.fleet.units.get(car_id)
        out: dict[str, Any] = {"incident": a.incident_id if a and a.status in ASSIGNED else None}
        if a and a.scene and a.status in ASSIGNED and u and u.position:
            km = haversine_km(u.position.lat, u.position.lng, *a.scene)
            out["scene_km"] = km
            out["eta_s"] = eta_estimate_s(km, u.position.speed)
            by_road = self._routes.eta(car_id)
            if by_road is not None:
                out["road_km"], out["eta_s"] = by_road[0] / 1000.0, by_road[1]
        return out
