"""House-number interpolation (interpolation ways and numbers missing from the map)."""

from __future__ import annotations

import pytest

from cartrack_desktop.mapdata.interpolation import (
    MAX_INTERPOLATED_PER_WAY,
    NumberedPoint,
    between,
    expand_interpolation_way,
    point_along,
)


def test_even_numbers_spread_along_the_way() -> None:
    pts = expand_interpolation_way(2, 10, "even", [(0.0, 0.0), (0.0, 0.001)])
    assert [p.number for p in pts] == [4, 6, 8]
    assert [p.lng for p in pts] == pytest.approx([0.00025, 0.0005, 0.00075])


def test_odd_all_and_reversed_ways() -> None:
    assert [p.number for p in expand_interpolation_way(1, 9, "odd", [(0, 0), (0, 1)])] == [3, 5, 7]
    assert [p.number for p in expand_interpolation_way(1, 5, "all", [(0, 0), (0, 1)])] == [2, 3, 4]
    down = expand_interpolation_way(10, 2, "even", [(0.0, 0.0), (0.0, 0.001)])
    assert [p.number for p in down] == [4, 6, 8]
    assert down[0].lng == pytest.approx(0.00075)     # 4 is near the end numbered 2


def test_hostile_interpolation_ways_yield_nothing() -> None:
    assert expand_interpolation_way(1, 10 ** 6, "all", [(0, 0), (0, 1)]) == []
    assert expand_interpolation_way(1, 9, "alphabetic", [(0, 0), (0, 1)]) == []
    assert expand_interpolation_way(1, 1, "all", [(0, 0), (0, 1)]) == []
    assert len(expand_interpolation_way(0, 2 * MAX_INTERPOLATED_PER_WAY, "even", [(0, 0), (0, 1)])) \
        == MAX_INTERPOLATED_PER_WAY - 1


def test_point_along_a_bent_line() -> None:
    lat, lng = point_along([(0.0, 0.0), (0.0, 0.001), (0.001, 0.001)], 0.75)
    assert lat == pytest.approx(0.0005, abs=1e-6)
    assert lng == pytest.approx(0.001)


def test_missing_number_between_its_neighbours_of_the_same_parity() -> None:
    known = [NumberedPoint(100, 0.0, 0.0), NumberedPoint(110, 0.0, 0.001), NumberedPoint(105, 5.0, 5.0),
             NumberedPoint(120, 0.0, 0.002)]
    p = between(104, known)
    assert p is not None and p.number == 104
    assert (p.lat, p.lng) == pytest.approx((0.0, 0.0004))
    assert between(98, known) is None            # nothing below
    assert between(130, known) is None           # nothing above
    far = [NumberedPoint(2, 0.0, 0.0), NumberedPoint(6, 0.0, 1.0)]
    assert between(4, far) is None               # neighbours 111 km apart are not neighbours
