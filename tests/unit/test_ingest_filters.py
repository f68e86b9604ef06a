"""Position filters (Traccar's FilterHandler as reference): each kind, the defaults, late fixes."""

import pytest

from cartrack_desktop.ingest import filters as f

NOW = 1_800_000_000.0
OPTS = f.FilterOptions()


def fix(t=NOW, lat=60.0, lng=24.0, **kw):
    return f.Fix(t, lat, lng, **kw)


def test_first_fix_is_live():
    assert f.check(fix(), None, NOW, OPTS) == (f.Verdict.LIVE, None)


@pytest.mark.parametrize(("candidate", "kind"), [
    (fix(valid=False), "invalid"),
    (fix(lat=0.0, lng=0.0), "zero"),
    (fix(t=NOW + 121), "future"),
    (fix(accuracy_m=1500.0), "accuracy"),
])
def test_absolute_filters(candidate, kind):
    assert f.check(candidate, None, NOW, OPTS) == (f.Verdict.REJECTED, kind)


def test_future_within_tolerance_is_live():
    assert f.check(fix(t=NOW + 119), None, NOW, OPTS)[0] is f.Verdict.LIVE


@pytest.mark.parametrize(("candidate", "verdict", "kind"), [
    (fix(t=NOW), f.Verdict.REJECTED, "duplicate"),
    (fix(t=NOW - 30), f.Verdict.LATE, None),
    (fix(t=NOW + 0.2, lat=60.00001), f.Verdict.REJECTED, "min_period"),
    (fix(t=NOW + 1, lat=60.1), f.Verdict.REJECTED, "teleport"),       # 11 km in 1 s
    (fix(t=NOW + 1, lat=60.0002), f.Verdict.LIVE, None),                # 22 m in 1 s (50 mph)
    (fix(t=NOW + 600, lat=60.3), f.Verdict.LIVE, None),                 # 33 km in 10 min (125 mph)
])
def test_relative_filters(candidate, verdict, kind):
    last = f.LastFix(NOW, 60.0, 24.0)
    assert f.check(candidate, last, NOW + 1000 if verdict is not f.Verdict.REJECTED else NOW + 5,
                   OPTS) == (verdict, kind)


def test_filters_can_be_switched_off():
    off = f.FilterOptions(invalid=False, zero=False, duplicate=False, future_s=0, accuracy_max_m=0,
                          min_period_s=0, max_implied_speed_mph=0, keep_late=False)
    last = f.LastFix(NOW, 60.0, 24.0)
    assert f.check(fix(valid=False, lat=0.0, lng=0.0, accuracy_m=9999), None, NOW, off)[0] is f.Verdict.LIVE
    assert f.check(fix(t=NOW + 0.1, lat=61.0), last, NOW, off)[0] is f.Verdict.LIVE
    assert f.check(fix(t=NOW - 5), last, NOW, off) == (f.Verdict.REJECTED, "out_of_order")


def test_teleport_gives_way_after_repeated_refusals():
    """The earlier fix was the wrong one: a unit must not stay frozen behind it."""
    last: f.LastFix | None = f.LastFix(NOW, 60.0, 24.0)
    verdicts = []
    for i in range(1, 5):
        candidate = fix(t=NOW + i, lat=61.0)
        v, kind = f.check(candidate, last, NOW + i, OPTS)
        verdicts.append(v)
        last = f.advance(last, candidate, v, kind)
    assert verdicts[:2] == [f.Verdict.REJECTED, f.Verdict.REJECTED]
    assert verdicts[2] is f.Verdict.LIVE
    assert last is not None and last.lat == 61.0 and last.teleports == 0


def test_advance_keeps_state_for_other_rejections():
    last = f.LastFix(NOW, 60.0, 24.0)
    assert f.advance(last, fix(t=NOW), f.Verdict.REJECTED, "duplicate") is last
    assert f.advance(last, fix(t=NOW - 9), f.Verdict.LATE, None) is last
    assert f.advance(None, fix(), f.Verdict.REJECTED, "zero") is None


def test_alarm_gate_raises_sos_once_per_window():
    from cartrack_desktop.ingest.alarms import AlarmGate
    from cartrack_desktop.ingest.report import DeviceReport

    gate = AlarmGate(["sos"], repeat_s=60)
    rep = DeviceReport("traccar_forward", "dev1", fix_time=NOW - 2, alarm="overspeed,SOS")
    a = gate.check(rep, "U1", now=NOW, mono=100.0, fix=(60.0, 24.0, NOW - 2))
    assert a is not None and (a.kind, a.car_id, a.lat, a.at, a.raised_at) == ("sos", "U1", 60.0, NOW - 2, NOW)
    assert a.alarm_id == f"U1-{int(NOW * 1000)}" and a.protocol == "traccar_forward"
    assert gate.check(rep, "U1", now=NOW + 1, mono=101.0, fix=None) is None          # repeated within 60 s
    assert gate.check(rep, "U2", now=NOW + 1, mono=101.0, fix=None) is not None      # another unit
    gate.forget(a)                                                                   # its write failed
    again = gate.check(rep, "U1", now=NOW + 2, mono=102.0, fix=None)
    assert again is not None and again.lat is None and again.at == NOW - 2
    assert gate.check(rep, "U1", now=NOW + 50, mono=150.0, fix=None) is None         # the new window
    assert gate.check(rep, "U1", now=NOW + 90, mono=200.0, fix=None) is not None
    for other in ("overspeed", "", "sos<script>", None):
        assert gate.check(DeviceReport("osmand", "d", alarm=other), "U3", now=NOW, mono=0.0, fix=None) is None
