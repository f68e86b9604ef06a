import pytest

from cartrack_desktop.domain import dispatch as d
from cartrack_desktop.domain import geo
from cartrack_desktop.domain.dispatch import Incident, TimelineEvent, TransitionError
from cartrack_desktop.domain.models import Position
from cartrack_desktop.domain.models import UnitStatus as S

SCENE = (33.75, -84.39)


@pytest.mark.parametrize(("a", "b", "ok"), [
    (S.AVAILABLE, S.DISPATCHED, True), (S.AVAILABLE, S.OUT_OF_SERVICE, True), (S.AVAILABLE, S.ON_SCENE, False),
    (S.DISPATCHED, S.EN_ROUTE, True), (S.DISPATCHED, S.ON_SCENE, True), (S.DISPATCHED, S.AVAILABLE, True),
    (S.DISPATCHED, S.DISPATCHED, False), (S.EN_ROUTE, S.ON_SCENE, True), (S.EN_ROUTE, S.AVAILABLE, True),
    (S.EN_ROUTE, S.OUT_OF_SERVICE, False), (S.ON_SCENE, S.AVAILABLE, True), (S.ON_SCENE, S.EN_ROUTE, False),
    (S.OUT_OF_SERVICE, S.AVAILABLE, True), (S.OUT_OF_SERVICE, S.DISPATCHED, False),
])
def test_transitions(a, b, ok):
    assert d.can_transition(a, b) is ok


def test_transition_messages_name_the_unit():
    with pytest.raises(TransitionError, match="Adam-1 is out of service"):
        d.check_transition("Adam-1", S.OUT_OF_SERVICE, S.DISPATCHED)
    with pytest.raises(TransitionError, match="already assigned"):
        d.check_transition("Boy-2", S.EN_ROUTE, S.DISPATCHED)


def fix(dist_m, speed):
    lat, lng = geo.destination_point(*SCENE, 10.0, dist_m / 1000)
    return Position("PC-1", lat, lng, speed, 0.0, 1.0)


def test_arrival_and_en_route_from_fixes():
    assert d.next_status_from_fix(S.DISPATCHED, fix(400, 0.0), SCENE) is None
    assert d.next_status_from_fix(S.DISPATCHED, fix(400, 30.0), SCENE) is S.EN_ROUTE
    assert d.next_status_from_fix(S.EN_ROUTE, fix(400, 30.0), SCENE) is None
    assert d.next_status_from_fix(S.EN_ROUTE, fix(49, 20.0), SCENE) is S.ON_SCENE
    assert d.next_status_from_fix(S.EN_ROUTE, fix(51, 20.0), SCENE) is None
    assert d.next_status_from_fix(S.DISPATCHED, fix(10, 0.0), SCENE) is S.ON_SCENE
    assert d.next_status_from_fix(S.AVAILABLE, fix(0, 0.0), SCENE) is None


def test_eta_estimate():
    # 2 km at 40 mph with a 1.3 road factor: 2.6 km / 64.37 km/h = 145 s
    assert d.eta_estimate_s(2.0, 40.0) == pytest.approx(145.4, abs=0.5)
    assert d.eta_estimate_s(2.0, 0.0) == d.eta_estimate_s(2.0, d.ETA_MIN_ASSUMED_MPH)


def test_incident_ids():
    iid = d.new_incident_id(1_800_000_000.0, "K7Q2")
    assert iid == "INC-270115-K7Q2"
    assert d.INCIDENT_ID_RE.match(d.new_incident_id(1_800_000_000.0))


@pytest.mark.parametrize(("kind", "prio", "notes"), [
    ("", 1, ""), ("  ", 1, ""), ("x" * 61, 1, ""), ("Bur\nglary", 1, ""), ("Burglary", 0, ""), ("Burglary", 5, ""),
    ("Burglary", True, ""), ("Burglary", "2", ""), ("Burglary", 2, "n" * 2001), ("Burglary", 2, "a\x07b"),
    ("Burglary", 2, None),
])
def test_bad_incident_input(kind, prio, notes):
    with pytest.raises(ValueError):
        d.clean_incident_input(kind, prio, notes)


def test_incident_input_cleaned():
    assert d.clean_incident_input(" Burglary ", 2, " door\nforced ") == ("Burglary", 2, "door\nforced")


def test_merge_incidents_unions_timelines():
    base = Incident("INC-270115-AAAA", "Theft", 3, "", 33.7, -84.4, 1.0, "a")
    e1 = TimelineEvent("1", 1.0, "created", "a")
    e2 = TimelineEvent("2", 2.0, "unit assigned", "a", "PC-1")
    e3 = TimelineEvent("3", 3.0, "unit assigned", "b", "PC-2")
    a = d.replace(base, timeline=(e1, e2), units=("PC-1",))
    b = d.replace(base, timeline=(e1, e3), units=("PC-2",))
    m = d.merge_incidents(a, b)
    assert [e.event_id for e in m.timeline] == ["1", "2", "3"]
    assert m.units == ("PC-1", "PC-2")
    closed = d.replace(b, status="closed", closed_at=9.0)
    assert d.merge_incidents(a, closed).status == "closed"
    assert d.merge_incidents(closed, a).status == "closed"


def test_incident_address_is_one_clean_line():
    from cartrack_desktop.domain.dispatch import ADDRESS_MAX, clean_address

    assert clean_address("near  1180 Peachtree\nSt NE\x07") == "near 1180 Peachtree St NE"
    assert clean_address(None) == "" and clean_address(42) == ""
    assert len(clean_address("x" * 500)) == ADDRESS_MAX
