"""OSM tag parsing for the street map: speeds, one-ways, drivable classes, untrusted text."""

from __future__ import annotations

import pytest

from cartrack_desktop.mapdata.tags import (
    DEFAULT_SPEED_KMH,
    KMH_PER_MPH,
    clean_text,
    housenumber,
    housenumber_value,
    oneway_direction,
    parse_maxspeed,
    road_class,
    way_speeds_kmh,
)


@pytest.mark.parametrize(("raw", "kmh"), [
    ("50", 50.0), ("50 km/h", 50.0), ("50kmh", 50.0), ("60 kph", 60.0), ("30 mph", 30 * KMH_PER_MPH),
    ("25mph", 25 * KMH_PER_MPH), ("10 knots", 18.52), ("walk", 6.0), ("FI:urban", 50.0), ("FI:rural", 80.0),
    ("DE:zone30", 30.0), ("DE:zone:30", 30.0), ("DE:motorway", 130.0), ("XX:urban", 50.0), ("60;40", 60.0),
    ("GB:nsl_single", 60 * KMH_PER_MPH), (" 40 ", 40.0),
])
def test_maxspeed_parsed(raw: str, kmh: float) -> None:
    assert parse_maxspeed(raw) == pytest.approx(kmh)


@pytest.mark.parametrize("raw", [None, "", "signals", "none", "variable", "implicit", "fast", "0", "999",
                                 "-30", "nan", "1e9", "50 furlongs", "DE:nowhere", "x" * 500])
def test_maxspeed_without_a_usable_value(raw: str | None) -> None:
    assert parse_maxspeed(raw) is None


def test_speed_falls_back_to_the_class_default_and_honours_direction() -> None:
    assert way_speeds_kmh({"highway": "residential"}, "residential") == (DEFAULT_SPEED_KMH["residential"],
                                                                         DEFAULT_SPEED_KMH["residential"], False)
    assert way_speeds_kmh({"maxspeed": "signals"}, "primary") == (60.0, 60.0, False)
    fwd, bwd, tagged = way_speeds_kmh({"maxspeed": "50", "maxspeed:backward": "30"}, "secondary")
    assert (fwd, bwd, tagged) == (50.0, 30.0, True)


@pytest.mark.parametrize(("tags", "direction"), [
    ({"highway": "residential"}, 0), ({"highway": "residential", "oneway": "yes"}, 1),
    ({"highway": "residential", "oneway": "1"}, 1), ({"highway": "residential", "oneway": "-1"}, -1),
    ({"highway": "residential", "oneway": "no"}, 0), ({"highway": "primary", "junction": "roundabout"}, 1),
    ({"highway": "motorway"}, 1), ({"highway": "motorway_link"}, 1), ({"highway": "motorway", "oneway": "no"}, 0),
    ({"highway": "secondary", "oneway": "reversible"}, None),
])
def test_oneway(tags: dict[str, str], direction: int | None) -> None:
    assert oneway_direction(tags) == direction


@pytest.mark.parametrize(("tags", "klass"), [
    ({"highway": "primary"}, "primary"), ({"highway": "service", "access": "private"}, "service"),
    ({"highway": "footway"}, None), ({"highway": "cycleway"}, None), ({"highway": "construction"}, None),
    ({"highway": "residential", "access": "no"}, None), ({"highway": "residential", "motor_vehicle": "no"}, None),
    ({"highway": "residential", "access": "no", "motorcar": "yes"}, "residential"),
    ({"highway": "pedestrian"}, None), ({"highway": "residential", "area": "yes"}, None), ({}, None),
])
def test_drivable_class(tags: dict[str, str], klass: str | None) -> None:
    assert road_class(tags) == klass


def test_clean_text_drops_control_characters_and_caps_length() -> None:
    assert clean_text("Main\x00 St\u202e\n\tNE") == "Main St NE"
    assert clean_text("  a   b  ") == "a b"
    assert clean_text("x" * 1000, 10) == "x" * 10
    assert clean_text(None) == ""
    assert clean_text("Lönnrotinkatu") == "Lönnrotinkatu"
    assert clean_text("Lo\u0308nnrot") == "Lönnrot"   # NFC


def test_housenumbers() -> None:
    assert housenumber("12a") == "12a"
    assert housenumber("no number") == ""
    assert housenumber("1" * 50) == "1" * 16
    assert housenumber_value("12a") == 12
    assert housenumber_value("12-14") == 12
    assert housenumber_value("a") is None
