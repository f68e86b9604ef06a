"""Search-text normalisation and query readings (addresses, intersections)."""

from __future__ import annotations

import pytest

from cartrack_desktop.mapdata.names import normalize, parse_query, tokens


@pytest.mark.parametrize(("a", "b"), [
    ("10th St NE", "10th street northeast"), ("10TH ST. N.E.", "10th St NE"), ("Tenth Street NE", "10th St NE"),
    ("Peachtree Ave", "peachtree avenue"), ("Martin Luther King Jr Blvd", "martin luther king jr boulevard"),
    ("Lönnrotinkatu", "lonnrotinkatu"), ("St. Charles Ave", "St Charles Avenue"), ("O'Brien Rd", "obrien road"),
    ("N Main St", "North Main Street"), ("Hwy 61", "highway 61"),
])
def test_same_normal_form(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


def test_tokens_drop_punctuation_and_control_characters() -> None:
    assert tokens("Main\x00 St, NE!") == ["main", "street", "northeast"]
    assert tokens("") == []
    assert tokens('"; DROP TABLE names; --') == ["drop", "table", "names"]


@pytest.mark.parametrize(("text", "pair"), [
    ("Peachtree & 10th", ("Peachtree", "10th")), ("10th St NE at Peachtree St NE", ("10th St NE", "Peachtree St NE")),
    ("Bulevardi and Fredrikinkatu", ("Bulevardi", "Fredrikinkatu")), ("Main @ 5th", ("Main", "5th")),
    ("Main / 5th", ("Main", "5th")),
])
def test_intersections(text: str, pair: tuple[str, str]) -> None:
    assert parse_query(text).intersection == pair


@pytest.mark.parametrize(("text", "number", "street"), [
    ("1180 Peachtree St NE", "1180", "Peachtree St NE"), ("12a Main St", "12a", "Main St"),
    ("Mannerheimintie 5", "5", "Mannerheimintie"), ("Aleksanterinkatu 52 B", "52b", "Aleksanterinkatu"),
    ("10th St NE", None, None), ("10 th st", None, None), ("Peachtree", None, None),
])
def test_addresses(text: str, number: str | None, street: str | None) -> None:
    q = parse_query(text)
    assert (q.housenumber, q.street) == (number, street)
    assert q.intersection is None
