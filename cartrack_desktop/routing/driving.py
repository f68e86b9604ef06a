"""Simulated units on the road network: patrols that wander their beat along streets, responses that drive
the route to the scene, at road speeds within the simulator's band and slower through turns.

The straight-line PatrolModel stays the fallback: a unit without a road under it (a scene off the road,
no road route) moves as it always did. Deterministic for a given seed: every choice comes from the
model's random.Random. Per unit and tick this is plain Python on cached lists (EdgeShapes), no numpy.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from ..domain.patrol import (
    MAX_ACCEL_MPH_PER_S,
    MAX_STEP_S,
    PATROL_MAX_MPH,
    PATROL_MIN_MPH,
    SPEED_JITTER_MPH,
    Mode,
    PatrolArea,
    PatrolModel,
    UnitState,
)
from .router import Router
from .shapes import EdgeShape, EdgeShapes

MPS_PER_MPH = 0.44704
BRAKE_MPH_PER_S = 8.0           # ~0.36 g
TURN_MIN_MPH = PATROL_MIN_MPH   # a right-angle turn, or the last metres to a scene
STRAIGHT_DEG = 25.0             # a bend gentler than this needs no slowing down
PATROL_FACTOR = (0.85, 1.1)     # of the road's speed, by the unit's mood (its cruise draw)
RESPONSE_FACTOR = (1.1, 1.35)   # lights and sirens
BEAT_RADIUS_M = 1500.0          # beyond this from its beat's centre a patrol prefers turns leading back
PLACE_RADIUS_M = 300.0          # a unit is put on a road within this of where it was, else anywhere
SCENE_OFF_ROAD_M = 10.0         # a scene farther than this from its road: the last bit is driven straight
BRAKE_2A = 2 * BRAKE_MPH_PER_S * MPS_PER_MPH
JITTER_SPAN_MPH = 2 * SPEED_JITTER_MPH * math.sqrt(3)   # uniform noise with the straight model's spread


@dataclass(frozen=True)
class RouteRequest:
    car_id: str
    edge: int
    frac: float
    target: tuple[float, float]


@dataclass(frozen=True)
class RoutePlan:
    edges: tuple[int, ...]       # from the unit's edge to the scene's
    end_frac: float


class RoadPatrolModel(PatrolModel):
    def __init__(self, rng: random.Random, router: Router) -> None:
        net = router.net
        area = PatrolArea(float(net.node_lat.min()), float(net.node_lng.min()), float(net.node_lat.max()),
                          float(net.node_lng.max()))
        super().__init__(rng, area)
        self.router = router
        self.shapes = EdgeShapes(router)
        self.pending: set[str] = set()       # units waiting for a route (respond() adds, the simulator plans)

    # ---- creation and orders ----------------------------------------------------------------------
    def spawn(self, car_id: str, lat: float | None = None, lng: float | None = None) -> UnitState:
        unit = super().spawn(car_id, lat, lng)
        self.place_many([unit], lat is not None and lng is not None)
        return unit

    def spawn_many(self, starts: list[tuple[str, float | None, float | None]]) -> list[UnitState]:
        """Many units at once (a fleet of 10,000 is snapped in one call, not one by one)."""
        units = [PatrolModel.spawn(self, cid, lat, lng) for cid, lat, lng in starts]
        self.place_many(units)
        return units

    def place(self, unit: UnitState, near: bool = True) -> None:
        self.place_many([unit], near)

    def place_many(self, units: list[UnitState], near: bool = True) -> None:
        """Put units on roads: the nearest within PLACE_RADIUS_M of where they are, else a random one."""
        if not units:
            return
        edges, fracs = [-1] * len(units), [0.0] * len(units)
        if near:
            s = self.router.snap(np.array([u.lat for u in units]), np.array([u.lng for u in units]),
                                 np.array([u.heading for u in units]), np.array([u.speed for u in units]),
                                 tolerance_m=PLACE_RADIUS_M)
            edges, fracs = s.edge.tolist(), s.frac.tolist()
        for unit, edge, frac in zip(units, edges, fracs, strict=True):
            self._put(unit, edge, frac)

    def _put(self, unit: UnitState, edge: int, frac: float) -> None:
        if edge < 0:
            edge, frac = self.shapes.edge_by_length(self._rng.random()), self._rng.random()
        shape = self.shapes.get(edge)
        unit.edge, unit.piece, unit.along_m = edge, 0, frac * shape.length
        unit.route, unit.route_pending = None, False
        self._locate(unit, shape)
        if not self.area.contains(unit.beat_lat, unit.beat_lng):
            unit.beat_lat, unit.beat_lng = unit.lat, unit.lng
        self._set_next(unit, self._choose(unit, edge))

    def respond(self, unit: UnitState, lat: float, lng: float) -> None:
        super().respond(unit, lat, lng)
        if unit.edge >= 0:
            unit.route, unit.route_pending = None, True     # the simulator plans it off the event loop
            self.pending.add(unit.car_id)

    def resume_patrol(self, unit: UnitState) -> None:
        super().resume_patrol(unit)
        if unit.edge < 0:
            self.place(unit)
        unit.route, unit.route_pending = None, False
        self._set_next(unit, self._choose(unit, unit.edge))

    # ---- routes (planned in a worker thread, applied on the loop) ---------------------------------------
    def route_request(self, unit: UnitState) -> RouteRequest | None:
        self.pending.discard(unit.car_id)
        if not unit.route_pending or unit.edge < 0:
            return None
        shape = self.shapes.get(unit.edge)
        frac = min(1.0, unit.along_m / shape.length) if shape.length > 0 else 1.0
        return RouteRequest(unit.car_id, unit.edge, frac, (unit.target_lat, unit.target_lng))

    def plan(self, req: RouteRequest) -> RoutePlan | None:
        """Thread-safe: reads the router only."""
        tree = self.router.tree(*req.target)
        route = self.router.route(tree, req.edge, req.frac)
        return None if route is None else RoutePlan(route.edges, route.end_frac)

    def apply(self, unit: UnitState, req: RouteRequest, plan: RoutePlan | None) -> None:
        if unit.mode is not Mode.RESPONDING or (unit.target_lat, unit.target_lng) != req.target \
                or unit.edge != req.edge or not unit.route_pending:
            return                                          # orders changed meanwhile
        unit.route_pending = False
        if plan is None:
            unit.edge = -1                                  # no road route: straight there, as without a map
            self._set_target(unit, unit.target_lat, unit.target_lng)
            return
        unit.route = list(reversed(plan.edges[1:]))
        last = plan.edges[-1]
        unit.route_end_m = plan.end_frac * self.shapes.get(last).length
        self._set_next(unit, unit.route[-1] if unit.route else -1)

    # ---- the step ----------------------------------------------------------------------------------
    def step(self, unit: UnitState, dt_s: float) -> None:
        if unit.edge < 0 or unit.mode in (Mode.HOLDING, Mode.PARKED):
            super().step(unit, dt_s)
            return
        dt = MAX_STEP_S if dt_s > MAX_STEP_S else dt_s
        if dt <= 0.0:
            return
        shape = self.shapes.get(unit.edge)
        self._road_speed(unit, shape, dt)
        unit.along_m += unit.speed * MPS_PER_MPH * dt
        while True:
            if unit.route is not None and self._on_final_edge(unit) and unit.along_m >= unit.route_end_m:
                self._arrive(unit, shape)
                return
            if unit.along_m < shape.length:
                break
            unit.along_m -= shape.length
            shape = self._enter_next(unit)
        self._locate(unit, shape)

    @staticmethod
    def _on_final_edge(unit: UnitState) -> bool:
        return unit.route is not None and not unit.route and not unit.route_pending

    def _road_speed(self, unit: UnitState, shape: EdgeShape, dt: float) -> None:
        """Towards the road's speed (by the unit's mood), braking in time for a sharp turn or the scene."""
        rng = self._rng
        unit.cruise_left_s -= dt
        if unit.cruise_left_s <= 0.0:
            unit.cruise_mph = rng.uniform(PATROL_MIN_MPH, PATROL_MAX_MPH)
            unit.cruise_left_s = rng.uniform(8.0, 40.0)
        lo_f, hi_f = RESPONSE_FACTOR if unit.mode is Mode.RESPONDING else PATROL_FACTOR
        mood = (unit.cruise_mph - PATROL_MIN_MPH) / (PATROL_MAX_MPH - PATROL_MIN_MPH)
        target = shape.road_mph * (lo_f + (hi_f - lo_f) * mood)
        if unit.route is not None and not unit.route and not unit.route_pending:
            slow, ahead = TURN_MIN_MPH, unit.route_end_m - unit.along_m
        else:
            slow, ahead = unit.turn_mph, shape.length - unit.along_m
        if slow < target:
            v, vt = unit.speed * MPS_PER_MPH, slow * MPS_PER_MPH
            if ahead <= (v * v - vt * vt) / BRAKE_2A + v * dt:
                target = slow
        change = target - unit.speed
        up, down = MAX_ACCEL_MPH_PER_S * dt, -BRAKE_MPH_PER_S * dt
        change = up if change > up else down if change < down else change
        v = unit.speed + change + (rng.random() - 0.5) * JITTER_SPAN_MPH
        unit.speed = PATROL_MIN_MPH if v < PATROL_MIN_MPH else PATROL_MAX_MPH if v > PATROL_MAX_MPH else v

    def _set_next(self, unit: UnitState, nxt: int) -> None:
        unit.next_edge = nxt
        unit.turn_mph = self._turn_mph(unit.edge, nxt)

    def _turn_mph(self, edge: int, nxt: int) -> float:
        if nxt < 0:
            return PATROL_MAX_MPH
        angle = self.shapes.turn_angle(edge, nxt)
        if angle < STRAIGHT_DEG:
            return PATROL_MAX_MPH
        return TURN_MIN_MPH + (PATROL_MAX_MPH - TURN_MIN_MPH) * (1.0 - min(angle, 90.0) / 90.0)

    def _enter_next(self, unit: UnitState) -> EdgeShape:
        if unit.route is not None and unit.route:
            nxt = unit.route.pop()
            unit.edge, unit.piece = nxt, 0
            self._set_next(unit, unit.route[-1] if unit.route else -1)
        else:
            nxt = unit.next_edge if unit.next_edge >= 0 else self._choose(unit, unit.edge)
            unit.edge, unit.piece = nxt, 0
            self._set_next(unit, -1 if unit.route is not None else self._choose(unit, nxt))
        return self.shapes.get(nxt)

    def _choose(self, unit: UnitState, edge: int) -> int:
        """A random turn at the end of `edge`: straight on preferred, no U-turn unless it is a dead end,
        turn restrictions obeyed, and back towards the beat when the unit has strayed from it."""
        sh = self.shapes
        node = sh.target[edge]
        seg = sh.segment[edge]
        outs = [e for e in sh.out_edges(node) if sh.allowed(edge, e)]
        ahead = [e for e in outs if sh.segment[e] != seg] or outs
        if not ahead:
            return self.shapes.edge_by_length(self._rng.random())      # a dead end of the extract: elsewhere
        lat0, lng0 = sh.node_lat[node], sh.node_lng[node]
        strayed = sh.flat_m(lat0, lng0, unit.beat_lat, unit.beat_lng) > BEAT_RADIUS_M
        here = sh.flat_m(lat0, lng0, unit.beat_lat, unit.beat_lng)
        weights = []
        for e in ahead:
            w = 3.0 if sh.turn_angle(edge, e) < STRAIGHT_DEG else 1.0
            if strayed:
                t = sh.target[e]
                w *= 4.0 if sh.flat_m(sh.node_lat[t], sh.node_lng[t], unit.beat_lat, unit.beat_lng) < here else 1.0
            weights.append(w)
        return self._rng.choices(ahead, weights)[0]

    @staticmethod
    def _locate(unit: UnitState, shape: EdgeShape) -> None:
        cum = shape.cum
        last = len(cum) - 2
        k = unit.piece if unit.piece < last else last
        along = unit.along_m
        while k < last and cum[k + 1] <= along:
            k += 1
        unit.piece = k
        c0, c1 = cum[k], cum[k + 1]
        t = (along - c0) / (c1 - c0) if c1 > c0 else 0.0
        t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
        lats, lngs = shape.lats, shape.lngs
        unit.lat = lats[k] + (lats[k + 1] - lats[k]) * t
        unit.lng = lngs[k] + (lngs[k + 1] - lngs[k]) * t
        unit.heading = shape.bearings[k]

    def _arrive(self, unit: UnitState, shape: EdgeShape) -> None:
        """At the scene's road point: stop, or drive the last bit straight if the scene is off the road."""
        unit.along_m = min(unit.route_end_m, shape.length)
        self._locate(unit, shape)
        unit.route = None
        if self.shapes.flat_m(unit.lat, unit.lng, unit.target_lat, unit.target_lng) > SCENE_OFF_ROAD_M:
            unit.edge = -1
            self._set_target(unit, unit.target_lat, unit.target_lng)
            return
        unit.lat, unit.lng = unit.target_lat, unit.target_lng
        unit.speed = 0.0
        unit.mode = Mode.HOLDING
