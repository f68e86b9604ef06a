"""How numbers look to a dispatcher: one place, so every panel says the same thing."""

from __future__ import annotations

from ..domain.geo import compass_point
from ..domain.presentation import AGE_NOW_BELOW_S, age_amount, duration_text


def fmt_age(age_s: float | None) -> str:
    if age_s is None:
        return "no fix"
    if age_s < AGE_NOW_BELOW_S:
        return "now"
    return age_amount(age_s)


def fmt_heading(deg: float) -> str:
    return f"{deg:.0f}° {compass_point(deg)}"


def fmt_km(km: float) -> str:
    return f"{km:.2f} km"


def fmt_speed(mph: float) -> str:
    return f"{mph:.0f} mph"


def fmt_latlng(lat: float, lng: float) -> str:
    return f"{lat:.5f}, {lng:.5f}"


def fmt_duration(seconds: float) -> str:
    return duration_text(seconds)
