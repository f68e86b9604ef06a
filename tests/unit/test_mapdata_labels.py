"""Street-name lines: a street's OSM ways joined end to end, so its name has room along it."""

import numpy as np
import pytest

from cartrack_desktop.mapdata.labels import label_lines
from cartrack_desktop.mapdata.reader import NamedWay
from cartrack_desktop.mapdata.tags import ROAD_CLASS_CODE

pytestmark = pytest.mark.unit


def way(name, refs, rank=ROAD_CLASS_CODE["residential"]):
    refs = np.array(refs, dtype=np.int64)
    return NamedWay(name, refs, refs.astype(float) / 1000.0, refs.astype(float) / 100.0, rank)


def test_ways_of_one_street_join_whatever_their_direction():
    # 1-2-3, then 5-4-3 (drawn the other way), then 6-5 before it: one line 1..6
    lines = list(label_lines([way("Main St", [1, 2, 3]), way("Main St", [5, 4, 3]),
                              way("Main St", [6, 5], ROAD_CLASS_CODE["primary"])]))
    assert len(lines) == 1
    name, rank, lats, _lngs = lines[0]
    assert name == "Main St" and rank == ROAD_CLASS_CODE["primary"]
    refs = np.round(lats * 1000).astype(int).tolist()
    assert refs in ([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])      # every node once, in order


def test_a_fork_and_other_names_stay_apart():
    ways = [way("A St", [1, 2]), way("A St", [2, 3]), way("A St", [2, 4]),    # three A St ways meet at 2
            way("B St", [3, 7]), way("A St", [10, 11])]                       # and a piece far away
    lines = list(label_lines(ways))
    assert sorted((n, len(lats)) for n, _r, lats, _l in lines) == [("A St", 2), ("A St", 2), ("A St", 2),
                                                                    ("A St", 2), ("B St", 2)]


def test_a_closed_loop_ends():
    lines = list(label_lines([way("Ring Rd", [1, 2, 3]), way("Ring Rd", [3, 4, 1])]))
    assert len(lines) == 1 and len(lines[0][2]) == 5        # 1 2 3 4 1: round once, then stop
