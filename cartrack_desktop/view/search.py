"""The search box's one result list: units (call signs, ids) and places of the street map, ranked.

Pure: the window's search job gives it the units and the geocoder's answer and shows the list.
Order: units matching exactly or by prefix (a dispatcher typing a call sign wants the unit), then
the street map's answers in the geocoder's order, then units that merely contain the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..mapdata.geocoder import GeocodeResult
from .fleet_view import UnitView

HitKind = Literal["unit", "street", "intersection", "address", "place"]
MAX_UNIT_HITS = 20
MAX_HITS = 30
_DIGITS = re.compile(r"(\d+)")
KIND_LABELS: dict[str, str] = {"unit": "Unit", "street": "Street", "intersection": "Intersection",
                               "address": "Address", "place": "Place"}


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: HitKind
    label: str                     # "Ocean-3", "10th St NE & Peachtree St NE", "1180 Peachtree St NE"
    detail: str = ""               # the unit id, the place's kind, "approximate"
    lat: float | None = None
    lng: float | None = None
    car_id: str | None = None
    approximate: bool = False

    @property
    def text(self) -> str:
        """One line of the result list."""
        what = KIND_LABELS[self.kind] + (" (approximate)" if self.approximate else "")
        return f"{self.label}  \u00b7  {what}" + (f" \u00b7 {self.detail}" if self.detail else "")


def _natural(text: str) -> tuple[object, ...]:
    """Ocean-2 before Ocean-10."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(text.casefold()))


def unit_hits(units: Iterable[UnitView], text: str) -> tuple[list[SearchHit], list[SearchHit]]:
    """(strong, weak): exact or prefix matches of a call sign or id; units that only contain the text."""
    t = text.strip().casefold()
    if not t:
        return [], []
    ranked: list[tuple[int, tuple[object, ...], UnitView]] = []
    weak: list[tuple[tuple[object, ...], UnitView]] = []
    for u in units:
        sign, cid = u.call_sign.casefold(), u.car_id.casefold()
        if t in (sign, cid):
            ranked.append((0, _natural(u.call_sign), u))
        elif sign.startswith(t):
            ranked.append((1, _natural(u.call_sign), u))
        elif cid.startswith(t):
            ranked.append((2, _natural(u.car_id), u))
        elif t in sign or t in cid:
            weak.append((_natural(u.call_sign), u))
    ranked.sort(key=lambda r: (r[0], r[1]))
    weak.sort(key=lambda r: r[0])
    return ([_unit_hit(u) for _r, _k, u in ranked[:MAX_UNIT_HITS]],
            [_unit_hit(u) for _k, u in weak[:MAX_UNIT_HITS]])


def _unit_hit(u: UnitView) -> SearchHit:
    detail = u.car_id if u.car_id != u.call_sign else ""
    pos = u.position
    return SearchHit("unit", u.call_sign, detail, pos.lat if pos else None, pos.lng if pos else None, u.car_id)


def place_hit(r: GeocodeResult) -> SearchHit:
    return SearchHit(r.kind, r.label, r.detail if r.kind == "place" else "", r.lat, r.lng, None, r.approximate)


def combine(strong: Sequence[SearchHit], places: Sequence[GeocodeResult], weak: Sequence[SearchHit]) -> list[SearchHit]:
    """The result list, best first (see the module's docstring)."""
    return [*strong, *(place_hit(r) for r in places), *weak][:MAX_HITS]
