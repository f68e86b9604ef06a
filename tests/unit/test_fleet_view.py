from cartrack_desktop.domain.models import Car, Position, UnitStatus
from cartrack_desktop.view.fleet_view import FixState, FleetState, MapWire, fix_state

T = 1_800_000_000.0


def pos(cid, ts, lat=33.7):
    return Position(cid, lat, -84.4, 30.0, 90.0, ts)


def test_newest_timestamp_wins_and_duplicates_are_dropped():
    fs = FleetState(clock=lambda: T)
    assert fs.apply([pos("A", T - 5, 33.1)]) == 1
    assert fs.apply([pos("A", T - 10, 33.2)]) == 0      # out of order
    assert fs.apply([pos("A", T - 5, 33.3)]) == 0       # duplicate
    assert fs.units["A"].position.lat == 33.1
    assert fs.stale_dropped == 2
    frame = fs.take_frame()
    assert [p.lat for p in frame.positions] == [33.1]   # coalesced: one entry per unit per frame
    assert fs.take_frame() is None


def test_units_are_bounded():
    rejected = []
    fs = FleetState(clock=lambda: T, max_units=100, on_reject=lambda kind, subject: rejected.append(kind))
    fs.apply([pos(f"U{i}", T) for i in range(150)])
    assert len(fs.units) == 100
    assert rejected == ["too_many_units"] * 50


def test_fix_states_and_expiry():
    now = [T]
    fs = FleetState(clock=lambda: now[0])
    fs.set_registry([Car("REG", "Reg-1")])
    fs.apply([pos("REG", T), pos("STRANGER", T)])
    assert fix_state(0) is FixState.LIVE and fix_state(20) is FixState.FADED and fix_state(70) is FixState.STALE
    assert fs.state_of("REG") is FixState.LIVE
    now[0] = T + 301
    assert sorted(fs.expire()) == ["REG", "STRANGER"]
    assert fs.state_of("REG") is FixState.LOST
    assert sorted(fs.take_frame().gone) == ["REG", "STRANGER"]
    now[0] = T + 301 + 600
    fs.expire()
    assert "STRANGER" not in fs.units           # unregistered and long lost: forgotten
    assert "REG" in fs.units                    # registered units stay listed


def test_counts_in_one_pass():
    now = T
    fs = FleetState(clock=lambda: now)
    fs.apply([pos("A", T), pos("B", T - 70), pos("C", T - 400)])
    c = fs.counts()
    assert (c.units, c.live, c.stale, c.lost) == (3, 1, 1, 1)


def test_snapshot_marks_missing_units_lost():
    fs = FleetState(clock=lambda: T)
    fs.apply([pos("A", T), pos("B", T)])
    fs.take_frame()
    fs.apply_snapshot([pos("A", T + 1)])
    frame = fs.take_frame()
    assert frame.full and [p.car_id for p in frame.positions] == ["A"] and frame.gone == ["B"]


def test_payload_is_integer_columns():
    fs = FleetState(clock=lambda: T)
    fs.set_status("A", UnitStatus.AVAILABLE)
    fs.apply([Position("A", 33.7490123, -84.3880456, 35.26, 123.44, T + 0.25),
              Position("B", 33.7590123, -84.4880456, 0.0, 359.96, T - 0.5)])
    p = MapWire().payload(fs.take_frame(), flushed_at=T + 0.5)
    assert p["t0"] == T
    # micro-degrees as offsets from the frame's south-west corner
    assert (p["lat0"], p["lng0"]) == (33749012, -84488046)
    assert [p["lat0"] + v for v in p["lat"]] == [33749012, 33759012]
    assert [p["lng0"] + v for v in p["lng"]] == [-84388046, -84488046]
    assert (p["hdg"], p["spd"], p["ts"]) == ([1234, 3600], [353, 0], [250, -500])


def test_unit_ids_travel_once_per_code_table():
    fs = FleetState(clock=lambda: T)
    wire = MapWire()
    fs.apply([pos("A", T), pos("B", T)])
    first = wire.payload(fs.take_frame(), flushed_at=T)
    assert first["newIds"] == ["A", "B"] and first["codes"] == first["newCodes"] == [0, 1]
    fs.apply([pos("B", T + 1), pos("C", T + 1)])
    second = wire.payload(fs.take_frame(), flushed_at=T + 1)
    assert not second["reset"] and second["newIds"] == ["C"] and second["newCodes"] == [2]
    assert second["codes"] == [1, 2]
    # a full frame (the page has just said it is ready) starts a new table: every id again
    fs.request_full()
    full = wire.payload(fs.take_frame(), flushed_at=T + 2)
    assert full["full"] and full["reset"]
    assert dict(zip(full["newCodes"], full["newIds"], strict=True)) == dict(enumerate(["A", "B", "C"]))


def test_code_table_is_bounded():
    fs = FleetState(clock=lambda: T)
    wire = MapWire()
    wire.MAX_CODES = 3
    fs.apply([pos("A", T), pos("B", T)])
    wire.payload(fs.take_frame(), flushed_at=T)
    fs.apply([pos("C", T + 1), pos("D", T + 1)])
    p = wire.payload(fs.take_frame(), flushed_at=T + 1)
    assert p["reset"] and not p["full"] and p["newIds"] == ["C", "D"] and p["codes"] == [0, 1]


