import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartrack_desktop.domain import messages as m
from cartrack_desktop.domain.models import Position
from tests.corpus import BAD_MESSAGES, NOW, enc, encode_batch, pos


def test_valid_message_round_trip():
    p = m.decode_position(enc(pos()), now=NOW)
    assert p == Position("PC-001", 33.75, -84.39, 30.0, 90.0, NOW)
    assert m.decode_position(orjson.dumps(m.encode_position(p)), now=NOW) == p


def test_integers_accepted_as_numbers():
    p = m.decode_position(enc(pos(lat=33, lng=-84, speed=0, heading=0)), now=NOW)
    assert (p.lat, p.lng, p.speed, p.heading) == (33.0, -84.0, 0.0, 0.0)


def test_unknown_extra_fields_are_ignored():
    assert m.decode_position(enc(pos(extra="x", status="available")), now=NOW).car_id == "PC-001"


@pytest.mark.parametrize(("label", "raw", "kind"), BAD_MESSAGES, ids=[b[0] for b in BAD_MESSAGES])
@pytest.mark.parametrize("loads", [m.strict_json_loads, orjson.loads], ids=["stdlib", "orjson"])
def test_bad_messages_rejected_with_kind(label, raw, kind, loads):
    with pytest.raises(m.MessageRejected) as info:
        m.decode_position(raw, now=NOW, loads=loads)
    assert info.value.kind == kind, label


def test_channel_mismatch_rejected():
    with pytest.raises(m.MessageRejected) as info:
        m.decode_position(enc(pos(car_id="PC-002")), now=NOW, expected_car_id="PC-001")
    assert info.value.kind == "channel_mismatch"


def test_freshness_window_only_when_now_given():
    old = enc(pos(timestamp=NOW - 86400 * 30))
    assert m.decode_position(old, now=None).timestamp == NOW - 86400 * 30


def test_non_bytes_payload_rejected():
    with pytest.raises(m.MessageRejected):
        m.decode_position(123, now=NOW)  # type: ignore[arg-type]


def test_batch_round_trip_and_bad_rows_dropped_one_by_one():
    good = [Position(f"PC-{i:03d}", 33.7 + i * 1e-3, -84.4, 30.0, 10.0 * i, NOW) for i in range(5)]
    obj = encode_batch(good, sent_at=NOW)
    obj["cars"].insert(2, ["<b>", 1, 2, 3, 4, NOW])
    obj["cars"].append(["PC-999", 95.0, 0, 0, 0, NOW])
    obj["cars"].append("not a row")
    rejected: list[str] = []
    out, sent = m.decode_batch(orjson.dumps(obj), now=NOW, loads=orjson.loads, on_reject=rejected.append)
    assert [p.car_id for p in out] == [p.car_id for p in good]
    assert sent == NOW
    assert sorted(rejected) == ["bad_batch", "bad_car_id", "lat_range"]


@pytest.mark.parametrize("raw", [b"{}", b'{"v": 2, "cars": []}', b'{"v": 1, "cars": {}}', b"[]", b"nope",
                                 b'{"v":1,"sent":"x","cars":[]}'])
def test_bad_batch_envelopes(raw):
    with pytest.raises(m.MessageRejected):
        m.decode_batch(raw, now=NOW, loads=orjson.loads)


def test_batch_oversize():
    with pytest.raises(m.MessageRejected) as info:
        m.decode_batch(b" " * (m.MAX_BATCH_BYTES + 1), now=NOW)
    assert info.value.kind == "oversize"


@pytest.mark.parametrize("text", ["Adam-12", "Unit 7", "<b>x</b>", "${x}"])
def test_text_allows_markup_literally(text):
    assert m.validate_text(text, "call_sign") == text


@pytest.mark.parametrize("text", ["", "   ", "a\x00b", "a\u2028b", "x" * 201, 5, None])
def test_text_rejects_control_and_oversize(text):
    with pytest.raises(m.MessageRejected):
        m.validate_text(text, "call_sign")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["car_id", "lat", "lng", "speed", "heading", "timestamp", "x"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
                                 st.lists(st.integers(), max_size=3))))
def test_fuzz_never_raises_anything_but_rejection(obj):
    raw = json.dumps(obj, allow_nan=True).encode()
    try:
        p = m.decode_position(raw, now=NOW, loads=orjson.loads)
    except m.MessageRejected:
        return
    assert -90 <= p.lat <= 90 and -180 <= p.lng <= 180 and 0 <= p.heading < 360 and p.speed >= 0


# ---- dispatch wire formats ---------------------------------------------------------------------
from cartrack_desktop.domain.dispatch import Incident, TimelineEvent, UnitAssignment  # noqa: E402
from cartrack_desktop.domain.models import UnitStatus  # noqa: E402
from tests.corpus import HOSTILE_TEXT  # noqa: E402


def test_assignment_round_trip():
    a = UnitAssignment("PC-1", UnitStatus.EN_ROUTE, "INC-270115-K7Q2", (33.7, -84.4), 5.0, "alice")
    assert m.decode_assignment(orjson.dumps(m.encode_assignment(a)), "PC-1", loads=orjson.loads) == a


@pytest.mark.parametrize("obj", [
    {"status": "flying"}, {"status": "available", "incident": "<b>"}, {"status": "available", "lat": 91, "lng": 0},
    {"status": "available", "by": "x\u2028y"}, {"status": "available", "since": "yesterday"}, [1], "x",
])
def test_bad_assignments(obj):
    with pytest.raises(m.MessageRejected):
        m.decode_assignment(orjson.dumps(obj), "PC-1", loads=orjson.loads)


def _incident(**over):
    inc = Incident("INC-270115-K7Q2", "Burglary", 2, "notes", 33.7, -84.4, 10.0, "alice",
                   timeline=(TimelineEvent("e1", 10.0, "created", "alice"),), units=("PC-1",))
    return m.encode_incident(inc) | over


def test_incident_round_trip_and_hostile_text_kept_literally():
    assert m.validate_incident(_incident()).incident_id == "INC-270115-K7Q2"
    for text in HOSTILE_TEXT:
        assert m.validate_incident(_incident(notes=text, type=text[:60])).notes == text


def test_incident_address_round_trip_and_older_documents_without_it():
    inc = m.validate_incident(_incident(address="near 1180 Peachtree St NE"))
    assert inc.address == "near 1180 Peachtree St NE"
    assert m.encode_incident(inc)["address"] == "near 1180 Peachtree St NE"
    legacy = _incident()
    del legacy["address"]
    assert m.validate_incident(legacy).address == ""       # written before the street map existed
    for text in HOSTILE_TEXT:
        if len(text) <= 200 and not any(ord(c) < 32 and c not in "\t\n" for c in text):
            assert m.validate_incident(_incident(address=text)).address == text   # literal, never markup


@pytest.mark.parametrize("over", [
    {"address": 5}, {"address": "a" * 201}, {"address": "near\x00 x"},
    {"id": "INC-1"}, {"id": "<script>"}, {"priority": 9}, {"priority": "1"}, {"lat": None}, {"status": "weird"},
    {"units": ["<b>"]}, {"units": ["PC-1"] * 500}, {"timeline": [{"id": "x", "kind": "exploded", "at": 1}]},
    {"timeline": "nope"}, {"type": ""}, {"notes": "n" * 3000}, {"created_at": float("nan")},
])
def test_bad_incidents(over):
    with pytest.raises(m.MessageRejected):
        m.validate_incident(_incident(**over))


def test_events():
    ev = m.encode_event("incident", incident=_incident())
    assert m.decode_event(orjson.dumps(ev), loads=orjson.loads).incident.kind == "Burglary"
    st = m.encode_event("status", car_id="PC-1", assignment={"status": "dispatched", "incident": "INC-270115-K7Q2"})
    assert m.decode_event(orjson.dumps(st), loads=orjson.loads).assignment.status is UnitStatus.DISPATCHED
    fl = m.encode_event("fleet", action="add", car_id="PC-9")
    assert m.decode_event(orjson.dumps(fl), loads=orjson.loads) == m.FleetEvent("add", "PC-9")
    for bad in ({"v": 2, "type": "fleet"}, {"v": 1, "type": "nuke"}, {"v": 1, "type": "fleet", "action": "x",
                                                                       "car_id": "PC-1"},
                {"v": 1, "type": "status", "car_id": "${x}", "assignment": {"status": "available"}}):
        with pytest.raises(m.MessageRejected):
            m.decode_event(orjson.dumps(bad), loads=orjson.loads)
    with pytest.raises(m.MessageRejected):
        m.decode_event(b"x" * (m.MAX_EVENT_BYTES + 1))
