"""Decoders against the peers' own sample messages (Traccar's *ProtocolDecoderTest, the OwnTracks booklet)."""

from datetime import UTC, datetime

import orjson
import pytest

from cartrack_desktop.ingest.protocols import Request, decode_request, parse_query
from cartrack_desktop.ingest.report import DecodeError
from cartrack_desktop.ingest.units import MPH_PER_KMH, MPH_PER_KNOT, MPH_PER_MPS, SpeedUnit, heading_degrees

# Traccar's OsmAndProtocolDecoderTest.testDecodeQuery (the request targets, without the leading "/?")
TRACCAR_QUERIES = [
    "id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0",
    "id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0",
    "lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681",
    "id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0",
    "id=123456&timestamp=1377177267&lat=60.0&lon=30.0",
    "lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456",
    "id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87",
    "id=123456&timestamp=1377177267&location=60.0,30.0",
    "id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244&speed=40"
    "&ignition=true&rpm=933&fuel=24",
]

# Traccar's OsmAndProtocolDecoderTest.testDecodeJson (Traccar Client 9)
TRACCAR_JSON = [
    '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,'
    '"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange",'
    '"battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{},'
    '"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}',
    '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,'
    '"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange",'
    '"battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{"device_string_test":'
    '"long_device_id","device_bool_test":true,"device_bool_false_test":false,"device_integer_test":1,'
    '"device_double_test":1.345,"device_very_long_double_test":1763636.3442},'
    '"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}',
    '{"location":{"extras":{},"mock":true,"coords":{"speed_accuracy":-1,"speed":-1,"longitude":-122.406417,'
    '"ellipsoidal_altitude":0,"floor":null,"heading_accuracy":-1,"latitude":37.785834000000001,"accuracy":5,'
    '"altitude_accuracy":-1,"altitude":0,"heading":-1},"is_moving":false,"age":188,"odometer":0,'
    '"uuid":"2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8","event":"motionchange","battery":{"level":-1,'
    '"is_charging":false},"activity":{"type":"unknown","confidence":100},"timestamp":"2025-05-09T04:11:30.579Z"},'
    '"device_id":"658765"}',
    '{"location":{"event":"motionchange","is_moving":false,"uuid":"0e9a2473-a9a7-4c00-997b-fb97d2154e75",'
    '"timestamp":"2021-07-21T08:06:34.444Z","odometer":0,"coords":{"latitude":-6.1148096,"longitude":106.6837015,'
    '"accuracy":3.8,"speed":18.67,"speed_accuracy":0.26,"heading":63,"heading_accuracy":0.28,"altitude":35.7,'
    '"altitude_accuracy":3.8},"activity":{"type":"still","confidence":100},"battery":{"is_charging":false,'
    '"level":0.79},"extras":{}},"device_id":"8737767034"}',
]

# The OwnTracks booklet (docs/features/traccar.md, docs/tech/json.md)
OWNTRACKS = {
    "tid": {"lon": 2.29513, "lat": 48.85833, "_type": "location", "tst": 1497476456, "tid": "JJ"},
    "topic": {"lon": 2.29513, "lat": 48.85833, "_type": "location", "tst": 1497476456,
              "topic": "owntracks/jane/phone", "tid": "JJ"},
    "full": {"cog": 271, "batt": 41, "lon": 2.29513, "acc": 5, "vel": 61, "vac": 21, "lat": 48.85833, "t": "u",
             "tst": 1497476456, "alt": 161, "_type": "location", "tid": "JJ"},
}

# A Traccar server's forwarder (forward.type=json): PositionData {position, device} as Jackson writes it
FORWARDED = {
    "position": {"id": 0, "attributes": {"batteryLevel": 87.0, "ignition": True, "alarm": "sos", "motion": True,
                                         "distance": 12.5, "totalDistance": 1234.5},
                 "deviceId": 7, "protocol": "h02", "serverTime": "2024-05-01T10:00:01.000+00:00",
                 "deviceTime": "2024-05-01T10:00:00.000+00:00", "fixTime": "2024-05-01T10:00:00.000+00:00",
                 "outdated": False, "valid": True, "latitude": 52.5162, "longitude": 13.3777, "altitude": 34.0,
                 "speed": 21.598272, "course": 359.5, "address": None, "accuracy": 0.0, "network": None},
    "device": {"id": 7, "attributes": {}, "groupId": 0, "name": "Unit 7", "uniqueId": "860000000000007",
               "status": "online", "lastUpdate": "2024-05-01T10:00:01.000+00:00", "positionId": 0, "phone": None,
               "model": None, "contact": None, "category": None, "disabled": False},
}


def req(query: str = "", body: bytes = b"", headers: dict[str, str] | None = None, method: str = "GET") -> Request:
    """method: what the sender uses (any is taken, none is kept)."""
    return Request("/", query.encode(), headers or {}, body)


def decode(r: Request, **kw):
    return decode_request(r, loads=orjson.loads, **kw)


@pytest.mark.parametrize("query", TRACCAR_QUERIES)
def test_traccar_query_vectors_decode(query):
    rep = decode(req(query)).report
    assert rep is not None and rep.device_id and rep.protocol == "osmand"
    assert rep.has_position


def test_query_without_id_is_refused():
    with pytest.raises(DecodeError) as info:
        decode(req("timestamp=1377177267&lat=60.0&lon=30.0"))
    assert info.value.kind == "missing_device_id"


def test_query_fields_and_units():
    rep = decode(req(TRACCAR_QUERIES[-1] + "&altitude=12.5&accuracy=8&batt=87&charge=true&alarm=sos")).report
    assert rep is not None
    assert rep.device_id == "123456789012345"
    assert rep.fix_time == datetime(2017, 9, 7, 5, 56, 50, tzinfo=UTC).timestamp()
    assert (rep.lat, rep.lng) == (40.7232948571, -74.0061408571)
    assert rep.speed_mph == pytest.approx(40 * 1.150779, rel=1e-6)   # knots -> mph
    assert rep.heading == pytest.approx(7.19889788244)
    assert (rep.altitude_m, rep.accuracy_m, rep.battery_pct) == (12.5, 8.0, 87.0)
    assert rep.alarm == "sos"
    assert rep.attributes == {"ignition": True, "rpm": 933.0, "fuel": 24.0, "charge": True, "alarm": "sos"}


@pytest.mark.parametrize(("value", "expected"), [
    ("1377177267", datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC)),                       # epoch s
    ("1442068686579", datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)),             # epoch ms
    ("2016-01-27T18%3A55%3A47Z", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)),          # ISO 8601
    ("2025-06-15T13:45:12.862Z", datetime(2025, 6, 15, 13, 45, 12, 862000, tzinfo=UTC)),
    ("2016-01-27T20%3A55%3A47%2B02%3A00", datetime(2016, 1, 27, 18, 55, 47, tzinfo=UTC)),  # with an offset
    ("2014-06-04+09%3A10%3A11", datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)),             # yyyy-MM-dd HH:mm:ss UTC
    ("2014-06-04%2009:10:11", datetime(2014, 6, 4, 9, 10, 11, tzinfo=UTC)),
])
def test_timestamp_forms(value, expected):
    rep = decode(req(f"id=1&lat=1&lon=2&timestamp={value}")).report
    assert rep is not None and rep.fix_time == pytest.approx(expected.timestamp())


def test_missing_timestamp_means_receive_time():
    rep = decode(req("id=1&lat=1&lon=2")).report
    assert rep is not None and rep.fix_time is None


@pytest.mark.parametrize(("unit", "factor"), [(SpeedUnit.KNOTS, MPH_PER_KNOT), (SpeedUnit.KMH, MPH_PER_KMH),
                                              (SpeedUnit.MPS, MPH_PER_MPS), (SpeedUnit.MPH, 1.0)])
def test_speed_unit_option(unit, factor):
    rep = decode(req("id=1&lat=1&lon=2&speed=10"), speed_unit=unit).report
    assert rep is not None and rep.speed_mph == pytest.approx(10 * factor)


def test_speed_unit_in_the_url_overrides_the_option():
    rep = decode(req("id=1&lat=1&lon=2&speed=10&speed_unit=mps")).report
    assert rep is not None and rep.speed_mph == pytest.approx(10 * MPH_PER_MPS)
    assert "speed_unit" not in rep.attributes
    with pytest.raises(DecodeError) as info:
        decode(req("id=1&lat=1&lon=2&speed=10&speed_unit=furlongs"))
    assert info.value.kind == "bad_speed_unit"


def test_unit_constants():
    assert MPH_PER_KNOT == pytest.approx(1.15078, rel=1e-5)
    assert MPH_PER_KMH == pytest.approx(0.621371, rel=1e-5)
    assert MPH_PER_MPS == pytest.approx(2.236936, rel=1e-6)
    assert heading_degrees(-1) == 0.0 and heading_degrees(360.0) == 0.0 and heading_degrees(725.0) == 5.0


def test_valid_flag_and_location_param():
    assert decode(req("id=1&lat=1&lon=2&valid=false")).report.valid is False  # type: ignore[union-attr]
    assert decode(req("id=1&lat=1&lon=2&valid=1")).report.valid is True  # type: ignore[union-attr]
    rep = decode(req("id=1&location=60.5,30.25")).report
    assert rep is not None and (rep.lat, rep.lng) == (60.5, 30.25)


def test_form_body_and_post():
    r = req(body=b"id=77&lat=1.5&lon=2.5&speed=1", headers={"content-type": "application/x-www-form-urlencoded"},
            method="POST")
    rep = decode(r).report
    assert rep is not None and rep.device_id == "77" and rep.lat == 1.5


@pytest.mark.parametrize(("query", "kind"), [
    ("id=1&lat=abc&lon=1", "bad_number"),
    ("id=1&lat=NaN&lon=1", "bad_number"),
    ("id=1&lat=inf&lon=1", "bad_number"),
    ("id=1&lat=1e999&lon=1", "bad_number"),
    ("id=1&lat=" + "9" * 5000 + "&lon=1", "bad_number"),
    ("id=1&location=60.0", "bad_number"),
    ("id=1&timestamp=yesterday", "bad_timestamp"),
    ("id=1&speed=fast", "bad_number"),
    ("id=", "missing_device_id"),
    ("id=1&q=%FF%FE", "bad_utf8"),
    ("&".join(f"k{i}=1" for i in range(100)), "oversize"),
])
def test_bad_queries(query, kind):
    with pytest.raises(DecodeError) as info:
        decode(req(query))
    assert info.value.kind == kind


def test_parse_query_fast_path_matches_parse_qsl():
    from urllib.parse import parse_qsl
    for q in TRACCAR_QUERIES:
        assert parse_query(q.encode()) == parse_qsl(q, keep_blank_values=True)


@pytest.mark.parametrize("q", [*TRACCAR_QUERIES, "id=1&id=2&lat=1=2&flag&=x", "a%20b=c+d&id=3"])
def test_query_dict_is_parse_qsl_with_the_last_value_of_a_key(q):
    from urllib.parse import parse_qsl

    from cartrack_desktop.ingest.protocols import query_dict
    expected = dict(parse_qsl(q, keep_blank_values=True))
    got = query_dict(q.encode())
    # an empty pair gives the key "" here (parse_qsl skips it); every decoder ignores that key
    assert {k: v for k, v in got.items() if k} == {k: v for k, v in expected.items() if k}


@pytest.mark.parametrize("body", TRACCAR_JSON)
def test_traccar_client_json_vectors(body):
    rep = decode(req(body=body.encode(), headers={"content-type": "application/json"}, method="POST")).report
    assert rep is not None and rep.protocol == "traccar_json" and rep.has_position and rep.fix_time


def test_traccar_client_json_fields():
    rep = decode(req(body=TRACCAR_JSON[3].encode(), headers={"content-type": "application/json"})).report
    assert rep is not None
    assert rep.device_id == "8737767034"
    assert rep.fix_time == pytest.approx(datetime(2021, 7, 21, 8, 6, 34, 444000, tzinfo=UTC).timestamp())
    assert rep.speed_mph == pytest.approx(18.67 * 2.2369363, rel=1e-6)   # m/s -> mph
    assert (rep.heading, rep.accuracy_m, rep.altitude_m) == (63.0, 3.8, 35.7)
    assert rep.battery_pct == pytest.approx(79.0)
    unknown = decode(req(body=TRACCAR_JSON[2].encode(), headers={"content-type": "application/json"})).report
    assert unknown is not None and (unknown.speed_mph, unknown.heading, unknown.battery_pct) == (0.0, 0.0, None)


def test_traccar_client_json_alarm_and_errors():
    body = orjson.loads(TRACCAR_JSON[3])
    body["location"]["extras"] = {"alarm": "sos"}
    rep = decode(req(body=orjson.dumps(body))).report
    assert rep is not None and rep.alarm == "sos"
    for bad, kind in [(b"{\"location\":{}}", "missing_device_id"), (b"{\"device_id\":\"1\"}", "unknown_format"),
                      (b"{\"device_id\":1,\"location\":{}}", "missing_device_id"),
                      (b"{\"device_id\":\"1\",\"location\":{\"timestamp\":\"yesterday\"}}", "bad_timestamp"),
                      (b"{\"device_id\":\"1\",\"location\":{\"coords\":{\"latitude\":1}}}", "missing_field"),
                      (b"{\"device_id\":\"1\",\"location\":{\"coords\":{\"latitude\":NaN,\"longitude\":1}}}",
                       "malformed_json"),
                      (b"{not json", "malformed_json"), (b"[1,2]", "not_object")]:
        with pytest.raises(DecodeError) as info:
            decode(req(body=bad, headers={"content-type": "application/json"}))
        assert info.value.kind == kind, bad


@pytest.mark.parametrize("name", list(OWNTRACKS))
def test_owntracks_booklet_payloads(name):
    d = decode(req(body=orjson.dumps(OWNTRACKS[name]), headers={"content-type": "application/json"}))
    assert d.json_reply and d.report is not None and d.report.protocol == "owntracks"
    assert d.report.fix_time == 1497476456 and (d.report.lat, d.report.lng) == (48.85833, 2.29513)


def test_owntracks_device_and_units():
    body = orjson.dumps(OWNTRACKS["full"])
    assert decode(req(body=body)).report.device_id == "JJ"  # type: ignore[union-attr]
    topic = decode(req(body=orjson.dumps(OWNTRACKS["topic"]))).report
    assert topic is not None and topic.device_id == "owntracks-jane-phone"
    limit = decode(req(body=body, headers={"x-limit-u": "jane", "x-limit-d": "phone"})).report
    assert limit is not None and limit.device_id == "jane-phone"
    query = decode(req("u=jane&d=car", body=body)).report
    assert query is not None and query.device_id == "jane-car"
    rep = decode(req(body=body)).report
    assert rep is not None
    assert rep.speed_mph == pytest.approx(61 * 0.6213712, rel=1e-6)    # km/h -> mph
    assert (rep.heading, rep.accuracy_m, rep.altitude_m, rep.battery_pct) == (271.0, 5.0, 161.0, 41.0)


def test_owntracks_other_types_are_acknowledged():
    d = decode(req(body=b'{"_type":"transition","event":"enter","tst":1,"wtst":1,"acc":1}'))
    assert d.report is None and d.json_reply
    with pytest.raises(DecodeError):
        decode(req(body=b'{"_type":"location","lat":1,"lon":2,"tst":3}'))   # no device at all


def test_traccar_forwarder():
    rep = decode(req(body=orjson.dumps(FORWARDED), headers={"content-type": "application/json"}, method="POST")).report
    assert rep is not None and rep.protocol == "traccar_forward"
    assert rep.device_id == "860000000000007"
    assert rep.fix_time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()
    assert rep.speed_mph == pytest.approx(21.598272 * 1.1507794, rel=1e-6)   # knots -> mph
    assert rep.heading == 359.5 and rep.accuracy_m is None and rep.battery_pct == 87.0
    assert rep.alarm == "sos" and rep.attributes["ignition"] is True


def test_unknown_json_and_empty_requests():
    with pytest.raises(DecodeError) as info:
        decode(req(body=b'{"hello":1}'))
    assert info.value.kind == "unknown_format"
    with pytest.raises(DecodeError) as info:
        decode(req())
    assert info.value.kind == "empty"


def test_token_from_query_and_header():
    assert decode(req("id=1&lat=1&lon=2&token=s3cret")).report.token == "s3cret"  # type: ignore[union-attr]
    rep = decode(req("id=1&lat=1&lon=2", headers={"x-device-token": "h"})).report
    assert rep is not None and rep.token == "h"


def test_attributes_are_bounded():
    q = "id=1&lat=1&lon=2&" + "&".join(f"a{i}={'x' * 500}" for i in range(60))
    rep = decode(req(q)).report
    assert rep is not None and len(rep.attributes) == 32
    assert all(len(str(v)) <= 128 for v in rep.attributes.values())
