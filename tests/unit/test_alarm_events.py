"""Alarm raise/ack events on cartrack:events: the shapes and their validation."""

import orjson
import pytest

from cartrack_desktop.domain import messages as m
from cartrack_desktop.domain.models import Alarm, AlarmAck

ALARM = Alarm("PC-001-1796161265416", "PC-001", "sos", 1796161265.0, 1796161265.4, 60.1, 24.9, "353861053849681",
              "osmand")


def raised(**override):
    return orjson.dumps({**m.encode_event("alarm", action="raise", **m.encode_alarm(ALARM)), **override})


def test_raise_round_trip():
    assert m.decode_event(raised()) == m.AlarmRaised(ALARM)


def test_raise_without_position():
    event = m.decode_event(raised(lat=None, lng=None, device_id=None))
    assert isinstance(event, m.AlarmRaised) and event.alarm.lat is None and event.alarm.device_id is None


def test_ack_round_trip():
    ack = AlarmAck(ALARM.alarm_id, "PC-001", "dispatcher 7", 1796161270.0)
    event = m.decode_event(orjson.dumps(m.encode_event("alarm", action="ack", **m.encode_alarm_ack(ack))))
    assert event == m.AlarmAcknowledged(ack)


@pytest.mark.parametrize("override", [
    {"alarm_id": "<script>"}, {"car_id": "PC 001"}, {"alarm": "s o s"}, {"alarm": 1}, {"at": float("nan")},
    {"device_id": "a\"b"}, {"device_id": "x" * 65}, {"lat": 91.0}, {"action": "explode"}, {"protocol": "Osm And"},
])
def test_bad_alarm_events_rejected(override):
    raw = raised(**override) if "nan" not in str(override) else raised().replace(b'"at":1796161265.0', b'"at":NaN')
    with pytest.raises(m.MessageRejected):
        m.decode_event(raw)


def test_ack_by_is_plain_text():
    bad = {"v": 1, "type": "alarm", "action": "ack", "alarm_id": "a", "car_id": "PC-1", "by": "x\u0000", "at": 1}
    with pytest.raises(m.MessageRejected):
        m.decode_event(orjson.dumps(bad))
