"""The incident pin on the map and the units nearest to it, refreshed every second while it stands.

The pin's label and Nearby's header name the nearest address or intersection (ui/jobs/addresses.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from redis.exceptions import RedisError

from ...domain.geo import haversine_km
from ...domain.models import Position, UnitStatus
from ...domain.presentation import STALE_AFTER_S
from ...routing.router import Router
from ...view.drive_times import DriveTime, drive_times, reached_beyond
from ...view.fleet_view import UnitView
from ...view.session import Aspect, Changes
from ..page_channel import PinMarker
from ..panels.nearby import NearbyRow
from .addresses import PinAddress
from .context import DeskContext

NEARBY_REFRESH_MS = 1000
NEARBY_LIMIT = 200


class NearbyJob(QObject):
    nearbyUpdated = Signal(list)         # list[NearbyRow]

    def __init__(self, ctx: DeskContext, pin_address: PinAddress) -> None:
        super().__init__(ctx.window)
        self._ctx = ctx
        self._address = pin_address
        self._busy = False
        self._count = 0
        self._header: dict[str, Any] = {"filtered": "", "by_road": False}   # how the last list was made
        self._timer = QTimer(self)
        self._timer.setInterval(NEARBY_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        panel = ctx.window.nearby
        panel.radiusChanged.connect(lambda _r: self.refresh())
        panel.availableOnlyChanged.connect(lambda _b: self.refresh())
        ctx.map_filter.statuses.changed.subscribe(lambda _hidden: self.refresh())
        ctx.map_filter.always.changed.subscribe(lambda _ids: self.refresh())
        panel.hovered.connect(ctx.channel.highlight)
        ctx.session.subscribe(self._on_session)
        pin_address.changed.connect(self._on_address)

    def _on_address(self, _text: str) -> None:
        pin = self._ctx.session.pin
        self.send_pin()
        if pin is not None:
            self._ctx.window.nearby.show_point(pin, self._count, self._address.text, **self._header)

    def _on_session(self, changes: Changes) -> None:
        if Aspect.PIN not in changes:
            if Aspect.INCIDENT in changes:
                self.send_pin()   # the label: an active incident has its own labelled marker
            return
        ctx = self._ctx
        if ctx.session.pin is not None:
            self.send_pin()
            ctx.window.docks["nearby"].raise_()
            self._timer.start()
            self.refresh()
        else:
            self._timer.stop()
            self.send_pin()
            ctx.window.nearby.show_point(None)
            ctx.channel.highlight("")

    def send_pin(self) -> None:
        ctx = self._ctx
        pin = ctx.session.pin
        address = self._address.text
        label = "" if ctx.session.active_incident else " \u2014 ".join(t for t in ("New incident", address) if t)
        ctx.channel.set_pin(None if pin is None else PinMarker(pin[0], pin[1], ctx.window.nearby.radius.value(), label))

    def refresh(self) -> None:
        pin = self._ctx.session.pin
        if pin is None or self._busy or self._ctx.runtime.store is None:
            return
        self.send_pin()  # the radius may have changed
        self._busy = True
        self._ctx.spawn(self._query(pin), "nearby")

    async def _query(self, pin: tuple[float, float]) -> None:
        ctx = self._ctx
        assert ctx.runtime.store is not None
        panel = ctx.window.nearby
        radius = panel.radius.value()
        available_only = panel.available_only.isChecked()
        try:
            found = await ctx.runtime.store.get_nearby_cars(pin[0], pin[1], radius)
        except (RedisError, OSError) as exc:
            panel.header.setText(f"Nearby search unavailable: Redis is not reachable ({exc})")
            return
        finally:
            self._busy = False
        if ctx.session.pin != pin:
            return  # the pin moved while we were asking
        now = time.time()
        rows: list[NearbyRow] = []
        kept = []
        shows = ctx.map_filter.shows
        for n in found:
            u = ctx.fleet.units.get(n.car_id)
            status = u.status if u else UnitStatus.AVAILABLE
            if (available_only and status is not UnitStatus.AVAILABLE) or not shows(n.car_id, status):
                continue
            age = max(0.0, now - n.position.timestamp)
            rows.append(NearbyRow(n.car_id, u.call_sign if u else n.car_id, n.distance_km, n.position.speed,
                                  n.position.heading, status, age, age >= STALE_AFTER_S))
            kept.append(n.position)
            if len(rows) >= NEARBY_LIMIT:
                break
        router = ctx.runtime.roads.router
        if router is not None:
            def keep(u: UnitView) -> bool:
                return (not available_only or u.status is UnitStatus.AVAILABLE) and shows(u.car_id, u.status)

            units, listed = list(ctx.fleet.units.values()), {r.car_id for r in rows}
            times, beyond = await asyncio.to_thread(_road_times, router, pin, kept, units, listed, keep)
            if ctx.session.pin != pin:
                return
            rows += [_row_of(u, pin, now) for u, _t in beyond]
            rows = self._by_drive_time(rows, times + [t for _u, t in beyond])[:NEARBY_LIMIT]
        panel.set_rows(rows)
        self._count = len(rows)
        statuses = ctx.map_filter.statuses
        self._header = {"filtered": "" if not statuses.hidden else statuses.describe(), "by_road": router is not None}
        panel.show_point(pin, len(rows), self._address.text, **self._header)
        panel.recommend(next((r.car_id for r in rows if r.recommended), ""))
        self.nearbyUpdated.emit(rows)

    @staticmethod
    def _by_drive_time(rows: list[NearbyRow], times: list[DriveTime]) -> list[NearbyRow]:
        """Ordered by drive time (those that cannot get there last); the nearest available one recommended."""
        timed = [replace(r, drive_s=t.seconds, drive_note=t.reason, drive_order=t.order)
                 for r, t in zip(rows, times, strict=True)]
        timed.sort(key=lambda r: (r.drive_order, r.drive_s if r.drive_s is not None else 0.0, r.distance_km))
        best = next((i for i, r in enumerate(timed) if r.drive_order == 0 and r.status is UnitStatus.AVAILABLE
                     and not r.stale), None)
        if best is not None:
            timed[best] = replace(timed[best], recommended=True)
        return timed

    def stop(self) -> None:
        self._timer.stop()


Beyond = list[tuple[UnitView, DriveTime]]


def _road_times(router: Router, pin: tuple[float, float], kept: list[Position], units: list[UnitView],
                listed: set[str], keep: Callable[[UnitView], bool]) -> tuple[list[DriveTime], Beyond]:
    """(in a worker thread) drive times of the radius search's units, and the units beyond the radius
    that reach the pin within the cutoff by road (the second search is the router's cached tree)."""
    return drive_times(router, pin, kept), reached_beyond(router, pin, units, listed, keep, NEARBY_LIMIT)


def _row_of(u: UnitView, pin: tuple[float, float], now: float) -> NearbyRow:
    """A row for a unit found by road beyond the radius (its distance straight-line, as every row's)."""
    p = u.position
    assert p is not None
    age = max(0.0, now - p.timestamp)
    return NearbyRow(u.car_id, u.call_sign, haversine_km(pin[0], pin[1], p.lat, p.lng), p.speed, p.heading,
                     u.status, age, age >= STALE_AFTER_S)
