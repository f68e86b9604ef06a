"""The search box's result list: units by call sign/id and street-map places in one ranking."""

import pytest

from cartrack_desktop.domain.models import Position, UnitStatus
from cartrack_desktop.mapdata.geocoder import GeocodeResult
from cartrack_desktop.view.fleet_view import UnitView
from cartrack_desktop.view.places import near_label
from cartrack_desktop.view.search import combine, unit_hits

pytestmark = pytest.mark.unit


def unit(cid, sign, pos=True):
    return UnitView(cid, sign, UnitStatus.AVAILABLE, Position(cid, 33.7, -84.4, 0, 0, 0) if pos else None)


UNITS = [unit("PC-010", "Ocean-10"), unit("PC-002", "Ocean-2"), unit("PC-001", "Ocean-1"), unit("PC-100", "Adam-1"),
         unit("PC-200", "Boy-1", pos=False), unit("XOCEAN", "Zed-1")]


def test_a_prefix_lists_every_match_in_natural_order():
    strong, weak = unit_hits(UNITS, "ocean")
    assert [h.label for h in strong] == ["Ocean-1", "Ocean-2", "Ocean-10"]
    assert [h.car_id for h in weak] == ["XOCEAN"]          # contains "ocean": listed, but after the places


def test_exact_call_sign_or_id_comes_first():
    strong, _ = unit_hits(UNITS, "Ocean-1")
    assert strong[0].label == "Ocean-1"
    strong, _ = unit_hits(UNITS, "pc-100")
    assert [h.car_id for h in strong] == ["PC-100"]
    strong, _ = unit_hits(UNITS, "PC-0")                   # an id prefix
    assert {h.car_id for h in strong} == {"PC-001", "PC-002", "PC-010"}


def test_unique_prefix_is_the_only_hit():
    strong, weak = unit_hits(UNITS, "ada")
    assert [h.car_id for h in strong] == ["PC-100"] and weak == []
    assert strong[0].lat == pytest.approx(33.7)
    strong, _ = unit_hits(UNITS, "boy")
    assert strong[0].lat is None                            # listed, without a live position


def test_places_come_between_strong_and_weak_unit_matches():
    places = [GeocodeResult("intersection", "10th St NE & Peachtree St NE", 33.78, -84.38, False, 90.0),
              GeocodeResult("address", "1180 Peachtree St NE", 33.79, -84.38, True, 80.0, detail="Peachtree St NE")]
    strong, weak = unit_hits(UNITS, "ocean")
    hits = combine(strong, places, weak)
    assert [h.kind for h in hits] == ["unit", "unit", "unit", "intersection", "address", "unit"]
    assert hits[4].approximate and "approximate" in hits[4].text
    assert "Intersection" in hits[3].text and hits[3].lat == 33.78


def test_empty_text_matches_nothing():
    assert unit_hits(UNITS, "  ") == ([], [])


def test_near_label():
    corner = GeocodeResult("intersection", "Bulevardi & Fredrikinkatu", 60.16, 24.93, False, 100.0, 12.0)
    far_corner = GeocodeResult("intersection", "Bulevardi & Fredrikinkatu", 60.16, 24.93, False, 100.0, 80.0)
    address = GeocodeResult("address", "1180 Peachtree St NE", 33.79, -84.38, True, 100.0, 40.0)
    assert near_label(corner) == "Bulevardi & Fredrikinkatu"
    assert near_label(far_corner) == "near Bulevardi & Fredrikinkatu"
    assert near_label(address) == "near 1180 Peachtree St NE (approx.)"
    assert near_label(None) == ""
