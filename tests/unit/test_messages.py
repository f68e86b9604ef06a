import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartrack_desktop.domain import messages as m
from cartrack_desktop.domain.models import Position
from tests.corpus import BAD_MESSAGES, NOW, enc, pos


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
    obj = m.encode_batch(good, sent_at=NOW)
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
