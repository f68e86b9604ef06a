"""The msgspec fast path accepts exactly what the domain validator accepts, with the same values,
and every rejection carries the validator's reason."""

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartrack_desktop.domain import messages as m
from cartrack_desktop.services.live import position_decoder
from cartrack_desktop.services.live.position_decoder import decode_position_fast
from tests.corpus import BAD_MESSAGES, NOW, enc, pos

FIELDS = ["car_id", "lat", "lng", "speed", "heading", "timestamp"]
VALUES = st.one_of(
    st.just("PC-001"), st.sampled_from(["PC-002", "PC-001\n", "<b>x</b>", "", "P" * 33, "PC\u00e9"]),
    st.booleans(), st.none(), st.integers(-400, 400), st.integers(-(2**70), 2**70), st.floats(),
    st.floats(0, 400), st.floats(NOW - 100, NOW + 100), st.floats(NOW - 200_000, NOW + 200),
    st.lists(st.integers(), max_size=2), st.text(max_size=5))


def both(raw, car_id="PC-001"):
    try:
        full = m.decode_position(raw, now=NOW, loads=orjson.loads, expected_car_id=car_id)
    except m.MessageRejected as exc:
        full = exc.kind
    try:
        fast = decode_position_fast(raw, car_id, now=NOW)
    except m.MessageRejected as exc:
        fast = exc.kind
    return full, fast


def test_a_producers_message_takes_the_fast_path_with_exact_values(monkeypatch):
    raw = orjson.dumps(m.encode_position(m.Position("PC-001", 33.7490123, -84.3880456, 35.26, 123.44, NOW)))
    full, fast = both(raw)
    assert fast == full and isinstance(fast, tuple)

    def no_fallback(*_a, **_k):
        raise AssertionError("a producer's message fell back to the slow validator")

    monkeypatch.setattr(position_decoder, "decode_position", no_fallback)
    assert decode_position_fast(raw, "PC-001", now=NOW) == full


@pytest.mark.parametrize(("label", "raw", "kind"), BAD_MESSAGES, ids=[b[0] for b in BAD_MESSAGES])
def test_rejects_with_the_validators_reason(label, raw, kind):
    with pytest.raises(m.MessageRejected) as info:
        decode_position_fast(raw, "PC-001", now=NOW)
    assert info.value.kind == kind, label


def test_what_msgspec_does_not_take_is_still_judged_by_the_validator():
    # extra keys (accepted by the validator), duplicate keys (the last wins, as with orjson),
    # a key whose id is not a valid unit id, and text instead of bytes
    extra = enc(pos(status="available"))
    dup = b'{"car_id":"PC-001","lat":1.0,"lat":33.75,"lng":-84.39,"speed":30,"heading":90,"timestamp":%r}' % NOW
    for raw in (extra, dup, extra.decode()):
        full, fast = both(raw)
        assert fast == full and isinstance(fast, tuple), raw
    assert both(dup)[1].lat == 33.75
    assert both(enc(pos(car_id="bad id!")), "bad id!") == ("bad_car_id", "bad_car_id")
    assert both(enc(pos(car_id="PC-002"))) == ("channel_mismatch", "channel_mismatch")


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([*FIELDS, "extra"]), VALUES), max_size=9))
def test_accepts_exactly_what_the_validator_accepts(pairs):
    # built as text so that keys can repeat
    body = ",".join(f"{json.dumps(k)}:{json.dumps(v, allow_nan=True)}" for k, v in pairs)
    raw = ("{" + body + "}").encode()
    full, fast = both(raw)
    assert fast == full
    if isinstance(full, tuple):
        assert type(fast) is type(full) and all(type(a) is type(b) for a, b in zip(full, fast, strict=True))


PREFIX = "car:location:"


def keyed_reference(keys, values):
    """What decode_keyed must return: each value judged by the validator against its key's id."""
    out, rejected = [], []
    for key, raw in zip(keys, values, strict=True):
        if not raw:
            continue
        cid = (key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key))[len(PREFIX):]
        try:
            out.append(m.decode_position(raw, now=NOW, loads=orjson.loads, expected_car_id=cid))
        except m.MessageRejected as exc:
            rejected.append((exc.kind, cid))
    return out, rejected


def keyed(keys, values):
    rejected = []
    out = position_decoder.decode_keyed(keys, values, prefix=PREFIX, now=NOW,
                                        reject=lambda kind, cid: rejected.append((kind, cid)))
    return out, rejected


def test_keyed_values_are_checked_against_their_keys():
    keys = [f"{PREFIX}PC-{i:03d}".encode() for i in range(4)]
    values = [enc(pos(car_id="PC-000")), None, enc(pos(car_id="PC-009")), enc(pos(car_id="PC-003", lat=91))]
    out, rejected = keyed(keys, values)
    assert [p.car_id for p in out] == ["PC-000"]
    assert rejected == [("channel_mismatch", "PC-002"), ("lat_range", "PC-003")]
    assert (out, rejected) == keyed_reference(keys, values)


def test_an_odd_key_among_good_ones_gets_every_id_checked():
    # a member written by someone else: not a valid unit id, and a value claiming that id
    keys = [f"{PREFIX}PC-001".encode(), f"{PREFIX}bad id\n<x>".encode(), f"{PREFIX}PC-002".encode()]
    values = [enc(pos(car_id="PC-001")), enc(pos(car_id="bad id\n<x>")), enc(pos(car_id="PC-002"))]
    out, rejected = keyed(keys, values)
    assert [p.car_id for p in out] == ["PC-001", "PC-002"] and rejected == [("bad_car_id", "bad id\n<x>")]
    str_keys = [k.decode() for k in keys]
    assert keyed(str_keys, values) == keyed_reference(str_keys, values) == (out, rejected)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["PC-001", "PC-002", "x y", "", "P" * 40, "PC\u00e9"]),
                          st.sampled_from(["PC-001", "PC-002", "x y", "PC\u00e9"]),
                          st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=7),
                          st.booleans()), max_size=6))
def test_keyed_decoding_agrees_with_the_validator(rows):
    keys, values = [], []
    for key_id, value_id, pairs, expired in rows:
        keys.append(f"{PREFIX}{key_id}".encode())
        body = ",".join(f"{json.dumps(k)}:{json.dumps(v, allow_nan=True)}" for k, v in [("car_id", value_id), *pairs])
        values.append(None if expired else ("{" + body + "}").encode())
    assert keyed(keys, values) == keyed_reference(keys, values)


def test_keyed_producer_messages_take_the_fast_path(monkeypatch):
    keys = [f"{PREFIX}PC-{i:03d}".encode() for i in range(3)]
    values = [orjson.dumps(m.encode_position(m.Position(f"PC-{i:03d}", 33.7, -84.4, 30.0, 90.0, NOW)))
              for i in range(3)]
    expected = keyed_reference(keys, values)

    def no_fallback(*_a, **_k):
        raise AssertionError("a producer's message fell back to the slow validator")

    monkeypatch.setattr(position_decoder, "decode_position", no_fallback)
    assert keyed(keys, values) == expected and len(expected[0]) == 3
