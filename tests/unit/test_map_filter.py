"""What the map, Nearby units and Fleet show: the status filter and the always-shown units."""

import pytest

from cartrack_desktop.domain.models import UnitStatus
from cartrack_desktop.view.map_filter import AlwaysShown, MapFilter, StatusFilter

pytestmark = pytest.mark.unit

S = UnitStatus


def test_status_filter_hides_and_shows_and_says_so_once_per_change():
    f = StatusFilter()
    seen: list = []
    f.changed.subscribe(seen.append)
    assert all(f.shows(s) for s in S) and f.describe() == "All statuses" and f.names() == []
    f.set_shown(S.OUT_OF_SERVICE, False)
    f.set_shown(S.OUT_OF_SERVICE, False)          # no change, no notification
    f.set_shown(S.AVAILABLE, False)
    assert not f.shows(S.AVAILABLE) and not f.shows(S.OUT_OF_SERVICE) and f.shows(S.EN_ROUTE)
    assert f.names() == ["available", "out_of_service"]            # in the statuses' order
    assert f.describe() == "Hiding Available, Out of service"
    assert seen == [frozenset({S.OUT_OF_SERVICE}), frozenset({S.OUT_OF_SERVICE, S.AVAILABLE})]
    f.set_hidden(())
    assert f.hidden == frozenset() and len(seen) == 3


@pytest.mark.parametrize(("stored", "hidden"), [
    (["out_of_service"], {S.OUT_OF_SERVICE}),
    ("out_of_service", {S.OUT_OF_SERVICE}),               # QSettings gives a one-item list back as a string
    (["on_scene", "bogus", 3, None], {S.ON_SCENE}),       # a damaged or older setting: the rest is ignored
    (None, set()), ({"a": 1}, set()), ([], set()),
])
def test_the_stored_filter_is_read_defensively(stored, hidden):
    f = StatusFilter()
    f.restore(stored)
    assert f.hidden == frozenset(hidden)


def test_always_shown_is_kept_per_reason_and_bounded():
    a = AlwaysShown()
    seen: list = []
    a.changed.subscribe(seen.append)
    a.set("tracked", ["PC-1"])
    a.set("alarm", ["PC-2", "PC-3", "PC-2"])
    assert a.ids() == {"PC-1", "PC-2", "PC-3"}
    a.set("alarm", ["PC-2", "PC-3"])                      # the same set: no notification
    a.set("tracked", [])
    assert a.ids() == {"PC-2", "PC-3"} and len(seen) == 3
    a.set("flood", (f"X-{i}" for i in range(5000)))
    assert len(a.ids()) == 2 + AlwaysShown.MAX_UNITS


def test_a_hidden_status_still_shows_units_that_are_always_shown():
    m = MapFilter()
    m.statuses.set_shown(S.OUT_OF_SERVICE, False)
    m.always.set("alarm", ["PC-9"])
    assert not m.shows("PC-1", S.OUT_OF_SERVICE) and m.shows("PC-9", S.OUT_OF_SERVICE)
    assert m.shows("PC-1", S.AVAILABLE)
