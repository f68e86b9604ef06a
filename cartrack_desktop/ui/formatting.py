"""How numbers look to a dispatcher: one place, so every panel says the same thing."""

from __future__ import annotations

from ..domain.geo import compass_point


def fmt_age(age_s: float | None) -> str:
    if age_s is None:
        return "no fix"
    if age_s < 1.0:
        return "now"
    if age_s < 90:
        return f"{age_s:.0f} s"
    if age_s < 3600:
        return f"{age_s / 60:.0f} min"
    return f"{age_s / 3600:.1f} h"


def fmt_heading(deg: float) -> str:
    return f"{deg:.0f}° {compass_point(deg)}"


def fmt_km(km: float) -> str:
    return f"{km:.2f} km"


def fmt_speed(mph: float) -> str:
    return f"{mph:.0f} mph"


def fmt_latlng(lat: float, lng: float) -> str:
    return f"{lat:.5f}, {lng:.5f}"


def fmt_duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s"
