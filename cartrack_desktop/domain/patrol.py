"""The movement model of simulated patrol units.

Pure and deterministic: randomness comes from the injected `random.Random`, time from
the `dt_s` the caller passes. Each step moves a unit in a straight line (along the
great circle) by speed x dt, so the reported heading is exactly the bearing of travel
and successive fixes are consistent with the reported speed.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

from .geo import MPH_TO_KMH, destination_point, haversine_km, initial_bearing_deg
from .models import Position

PATROL_MIN_MPH = 20.0
PATROL_MAX_MPH = 60.0
RESPONSE_MIN_MPH = 35.0
RESPONSE_MAX_MPH = 60.0
RESPONSE_CRUISE_MPH = (45.0, 60.0)  # lights and sirens: aims high within the response band
MAX_ACCEL_MPH_PER_S = 3.0       # ~0.14 g: firm but ordinary acceleration
SPEED_JITTER_MPH = 0.4          # per-step noise so speeds look measured, not scripted
CRUISE_HOLD_S = (8.0, 40.0)     # how long a unit keeps aiming for one cruise speed
LEG_KM = (0.4, 3.0)             # patrol legs: a beat, not a cross-town drive
MAX_STEP_S = 5.0                # a longer gap (suspend, stall) is not extrapolated
EDGE_MARGIN_DEG = 0.005         # keep waypoints ~500 m inside the patrol area ...
EDGE_MARGIN_SHARE = 0.1         # ... or a tenth of its size, if it is small (an imported town centre)


@dataclass(frozen=True, slots=True)
class PatrolArea:
    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, lng: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lng <= self.east


ATLANTA = PatrolArea(south=33.65, west=-84.55, north=33.89, east=-84.29)


class Mode(enum.StrEnum):
    PATROL = "patrol"
    RESPONDING = "responding"   # driving to an incident
    HOLDING = "holding"         # stopped at a scene
    PARKED = "parked"           # out of service


@dataclass(slots=True)
class UnitState:
    """Mutable per-unit simulation state (mutated in place: 10k units per tick)."""

    car_id: str
    lat: float
    lng: float
    speed: float
    heading: float
    mode: Mode
    target_lat: float
    target_lng: float
    leg_bearing: float
    leg_remaining_km: float
    cruise_mph: float
    cruise_left_s: float
    # on a road network (routing/driving.py); edge -1: off the network, moving in straight lines as above
    edge: int = -1                      # the directed road edge it drives along
    along_m: float = 0.0                # metres from the edge's start
    piece: int = 0                      # which piece of the edge's geometry it is on
    next_edge: int = -1                 # where it turns next (chosen ahead, to slow down for the turn)
    turn_mph: float = 60.0              # how fast it may take that turn
    route: list[int] | None = None      # responding: the edges still to drive after `edge`, last first
    route_end_m: float = 0.0            # responding: where on the last edge the scene's road point is
    route_pending: bool = False         # responding: a route is being planned
    beat_lat: float = 0.0               # the centre of its patrol beat
    beat_lng: float = 0.0

    def position(self, timestamp: float) -> Position:
        return Position(self.car_id, self.lat, self.lng, self.speed, self.heading, timestamp)


class PatrolModel:
    def __init__(self, rng: random.Random, area: PatrolArea = ATLANTA) -> None:
        self._rng = rng
        self.area = area

    # ---- creation -------------------------------------------------------------------------
    def spawn(self, car_id: str, lat: float | None = None, lng: float | None = None) -> UnitState:
        """A unit at (lat, lng), or at a random point of the area; starts patrolling."""
        if lat is None or lng is None or not self.area.contains(lat, lng):
            lat, lng = self._random_point()
        speed = self._rng.uniform(PATROL_MIN_MPH, PATROL_MAX_MPH)
        unit = UnitState(
            car_id=car_id, lat=lat, lng=lng, speed=speed, heading=0.0, mode=Mode.PATROL,
            target_lat=lat, target_lng=lng, leg_bearing=0.0, leg_remaining_km=0.0,
            cruise_mph=speed, cruise_left_s=self._rng.uniform(*CRUISE_HOLD_S),
        )
        self._new_waypoint(unit)
        unit.heading = unit.leg_bearing
        return unit

    # ---- orders -----------------------------------------------------------------------------
    def respond(self, unit: UnitState, lat: float, lng: float) -> None:
        """Drive to (lat, lng) at response speed, then hold there."""
        unit.mode = Mode.RESPONDING
        self._set_target(unit, lat, lng)
        unit.cruise_mph = self._rng.uniform(*RESPONSE_CRUISE_MPH)
        unit.cruise_left_s = self._rng.uniform(*CRUISE_HOLD_S)
        unit.speed = min(max(unit.speed, RESPONSE_MIN_MPH), RESPONSE_MAX_MPH)

    def resume_patrol(self, unit: UnitState) -> None:
        unit.mode = Mode.PATROL
        unit.speed = max(unit.speed, PATROL_MIN_MPH)
        unit.cruise_mph = self._rng.uniform(PATROL_MIN_MPH, PATROL_MAX_MPH)
        self._new_waypoint(unit)

    def park(self, unit: UnitState) -> None:
        unit.mode = Mode.PARKED
        unit.speed = 0.0

    # ---- the step ---------------------------------------------------------------------------
    def step(self, unit: UnitState, dt_s: float) -> None:
        """Advance one unit by dt_s seconds (capped at MAX_STEP_S)."""
        if unit.mode in (Mode.HOLDING, Mode.PARKED):
            unit.speed = 0.0
            return
        dt = min(max(dt_s, 0.0), MAX_STEP_S)
        if dt == 0.0:
            return
        self._update_speed(unit, dt)
        step_km = unit.speed * MPH_TO_KMH / 3600.0 * dt
        if unit.mode is Mode.RESPONDING and step_km >= unit.leg_remaining_km:
            # Arrive exactly on scene and stop.
            unit.heading = unit.leg_bearing
            unit.lat, unit.lng = unit.target_lat, unit.target_lng
            unit.leg_remaining_km = 0.0
            unit.mode = Mode.HOLDING
            return
        unit.lat, unit.lng = destination_point(unit.lat, unit.lng, unit.leg_bearing, step_km)
        unit.heading = unit.leg_bearing
        unit.leg_remaining_km -= step_km
        if unit.mode is Mode.PATROL and unit.leg_remaining_km <= 0.0:
            # Passed the waypoint within this step: the next step heads for a new one.
            self._new_waypoint(unit)

    # ---- internals --------------------------------------------------------------------------
    def _update_speed(self, unit: UnitState, dt: float) -> None:
        responding = unit.mode is Mode.RESPONDING
        lo, hi = (RESPONSE_MIN_MPH, RESPONSE_MAX_MPH) if responding else (PATROL_MIN_MPH, PATROL_MAX_MPH)
        unit.cruise_left_s -= dt
        if unit.cruise_left_s <= 0.0:
            unit.cruise_mph = self._rng.uniform(*(RESPONSE_CRUISE_MPH if responding else (lo, hi)))
            unit.cruise_left_s = self._rng.uniform(*CRUISE_HOLD_S)
        max_change = MAX_ACCEL_MPH_PER_S * dt
        change = max(-max_change, min(max_change, unit.cruise_mph - unit.speed))
        jitter = self._rng.gauss(0.0, SPEED_JITTER_MPH) * math.sqrt(dt)
        unit.speed = max(lo, min(hi, unit.speed + change + jitter))

    def _inner(self) -> tuple[float, float, float, float]:
        """The area less its margin (south, west, north, east): where waypoints go."""
        a = self.area
        m_lat = min(EDGE_MARGIN_DEG, (a.north - a.south) * EDGE_MARGIN_SHARE)
        m_lng = min(EDGE_MARGIN_DEG, (a.east - a.west) * EDGE_MARGIN_SHARE)
        return a.south + m_lat, a.west + m_lng, a.north - m_lat, a.east - m_lng

    def _random_point(self) -> tuple[float, float]:
        s, w, n, e = self._inner()
        return self._rng.uniform(s, n), self._rng.uniform(w, e)

    def _new_waypoint(self, unit: UnitState) -> None:
        s, w, n, e = self._inner()
        for _ in range(8):
            lat, lng = destination_point(
                unit.lat, unit.lng, self._rng.uniform(0.0, 360.0), self._rng.uniform(*LEG_KM)
            )
            if s <= lat <= n and w <= lng <= e:
                break
        else:
            lat, lng = self._random_point()
        self._set_target(unit, lat, lng)

    @staticmethod
    def _set_target(unit: UnitState, lat: float, lng: float) -> None:
        unit.target_lat, unit.target_lng = lat, lng
        unit.leg_bearing = initial_bearing_deg(unit.lat, unit.lng, lat, lng)
        unit.leg_remaining_km = haversine_km(unit.lat, unit.lng, lat, lng)
