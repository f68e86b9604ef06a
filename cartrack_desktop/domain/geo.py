"""Spherical-earth geometry for city-scale distances.

A sphere of mean radius is within ~0.3 % of the WGS-84 geodesic at city scale,
which is far below GPS noise; that keeps this module dependency-free and fast.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
MPH_TO_KMH = 1.609344

COMPASS_POINTS = (
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
    "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW",
)


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in kilometres."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def initial_bearing_deg(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Initial great-circle bearing from point 1 to point 2, degrees in [0, 360)."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dl = math.radians(lng2 - lng1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return normalize_heading(math.degrees(math.atan2(y, x)))


def destination_point(lat: float, lng: float, bearing_deg: float, distance_km: float) -> tuple[float, float]:
    """Point reached from (lat, lng) after distance_km along the initial bearing."""
    delta = distance_km / EARTH_RADIUS_KM
    theta = math.radians(bearing_deg)
    p1 = math.radians(lat)
    l1 = math.radians(lng)
    sin_p2 = math.sin(p1) * math.cos(delta) + math.cos(p1) * math.sin(delta) * math.cos(theta)
    p2 = math.asin(max(-1.0, min(1.0, sin_p2)))
    y = math.sin(theta) * math.sin(delta) * math.cos(p1)
    x = math.cos(delta) - math.sin(p1) * sin_p2
    l2 = l1 + math.atan2(y, x)
    lng2 = (math.degrees(l2) + 540.0) % 360.0 - 180.0
    return math.degrees(p2), lng2


def normalize_heading(deg: float) -> float:
    """Map any angle to [0, 360)."""
    h = math.fmod(deg, 360.0)
    if h < 0:
        h += 360.0
    # fmod(-1e-17, 360) + 360 rounds to exactly 360.0
    return 0.0 if h >= 360.0 else h


def compass_point(deg: float) -> str:
    """16-wind compass abbreviation for a heading ("N", "NNE", ...)."""
    return COMPASS_POINTS[int((normalize_heading(deg) + 11.25) // 22.5) % 16]


def interpolate(lat1: float, lng1: float, lat2: float, lng2: float, fraction: float) -> tuple[float, float]:
    """Linear interpolation; adequate for the metre-scale gaps between 1 Hz fixes."""
    return lat1 + (lat2 - lat1) * fraction, lng1 + (lng2 - lng1) * fraction
