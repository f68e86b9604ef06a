"""What a dispatcher's action came to, in words for the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str
    car_id: str | None = None
