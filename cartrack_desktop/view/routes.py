"""Routes of dispatched units and their ETA as they move: what the map draws and Unit details counts down.

Qt-free. A route (routing.Route) is set when a unit is dispatched; each new fix is projected onto it
(remaining road distance and free-flow time from there); a fix farther than OFF_ROUTE_M from the route
OFF_ROUTE_FIXES times running means the unit took another way: it needs a new route from where it is.
Between fixes the ETA counts down with the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..domain.models import Position
from ..routing.frame import LocalFrame
from ..routing.router import Route

OFF_ROUTE_M = 40.0
OFF_ROUTE_FIXES = 2


@dataclass
class ActiveRoute:
    car_id: str
    incident_id: str
    scene: tuple[float, float]
    route: Route
    remaining_m: float
    remaining_s: float
    at: float                    # time of the fix the remaining figures are for
    off_fixes: int = 0
    done_m: float = 0.0          # progress along the route (never far backwards)
    _x: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    _y: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    _frame: LocalFrame | None = None

    def __post_init__(self) -> None:
        lat0, lng0 = self.route.points[0]
        self._frame = LocalFrame(lat0, lng0)
        pts = np.array(self.route.points)
        self._x, self._y = self._frame.xy(pts[:, 0], pts[:, 1])

    def project(self, lat: float, lng: float) -> tuple[float, float]:
        """(metres along the route, metres off it) of a point: the nearest piece from a little behind the
        progress so far onward (a route may pass near itself)."""
        assert self._frame is not None
        fx, fy = self._frame.xy(np.array([lat]), np.array([lng]))
        cum = np.array(self.route.cum_m)
        start = max(0, int(np.searchsorted(cum, self.done_m - OFF_ROUTE_M)) - 1)
        ax, ay = self._x[start:-1], self._y[start:-1]
        dx, dy = self._x[start + 1:] - ax, self._y[start + 1:] - ay
        if ax.size == 0:
            return cum[-1], float(np.hypot(fx[0] - self._x[-1], fy[0] - self._y[-1]))
        l2 = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
        t = np.clip(((fx[0] - ax) * dx + (fy[0] - ay) * dy) / l2, 0.0, 1.0)
        d = np.hypot(fx[0] - (ax + t * dx), fy[0] - (ay + t * dy))
        k = int(np.argmin(d))
        along = float(cum[start + k] + t[k] * (cum[start + k + 1] - cum[start + k]))
        return along, float(d[k])


class RouteBook:
    def __init__(self) -> None:
        self.routes: dict[str, ActiveRoute] = {}

    def set(self, car_id: str, incident_id: str, scene: tuple[float, float], route: Route, at: float) -> ActiveRoute:
        r = ActiveRoute(car_id, incident_id, scene, route, route.distance_m, route.time_s, at)
        self.routes[car_id] = r
        return r

    def remove(self, car_id: str) -> bool:
        return self.routes.pop(car_id, None) is not None

    def follow(self, fix: Position) -> bool:
        """Move the unit's progress to this fix; True if it has left its route (it needs a new one)."""
        r = self.routes.get(fix.car_id)
        if r is None or fix.timestamp <= r.at:
            return False
        along, off = r.project(fix.lat, fix.lng)
        r.at = fix.timestamp
        if off > OFF_ROUTE_M:
            r.off_fixes += 1
            return r.off_fixes >= OFF_ROUTE_FIXES
        r.off_fixes = 0
        r.done_m = max(r.done_m, along)
        cum_m, cum_s = r.route.cum_m, r.route.cum_s
        r.remaining_m = max(0.0, r.route.distance_m - r.done_m)
        r.remaining_s = max(0.0, r.route.time_s - float(np.interp(r.done_m, cum_m, cum_s)))
        return False

    def eta(self, car_id: str, now: float) -> tuple[float, float] | None:
        """(road metres left, seconds left counting down since the last fix), or None without a route."""
        r = self.routes.get(car_id)
        if r is None:
            return None
        return r.remaining_m, max(0.0, r.remaining_s - max(0.0, now - r.at))
