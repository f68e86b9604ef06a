"""Names and records other instances read: the instance name, sync records, which last sync to show."""

import datetime as dt

import pytest

from cartrack_desktop.domain.messages import MessageRejected, validate_sync_record
from cartrack_desktop.domain.models import SyncRecord
from cartrack_desktop.services.history.sync import SyncStats
from cartrack_desktop.services.history.sync_status import newest_sync
from cartrack_desktop.services.infra.instance import INSTANCE_MAX_CHARS, instance_name

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_instance_name_is_readable_bounded_and_printable():
    assert instance_name("alice", host="ws-12.police.local", pid=4242) == "alice@ws-12:4242"
    assert instance_name("bob", host="ws-12", pid=1) != instance_name("bob", host="ws-12", pid=2)
    odd = instance_name("a b\x1b[2J" + "x" * 100, host="h\u202eost" * 20, pid=99)
    assert len(odd) <= INSTANCE_MAX_CHARS and odd.isprintable() and " " not in odd and "\x1b" not in odd


def test_sync_record_is_validated():
    doc = {"_id": 17, "taken_at": T0, "written_at": T0 + dt.timedelta(seconds=0.4), "cars": 10_000,
           "attempts": 1, "duration_s": 0.31, "instance": "alice@ws-12:4242"}
    rec = validate_sync_record(doc)
    assert rec == SyncRecord(17, T0.timestamp(), T0.timestamp() + 0.4, 10_000, 0.31, "alice@ws-12:4242")
    assert validate_sync_record({k: v for k, v in doc.items() if k not in ("duration_s", "instance")}).instance == ""
    for bad in ({"_id": "totals"}, {"_id": True}, {"cars": -1}, {"cars": 1.5}, {"duration_s": float("nan")},
                {"duration_s": -1}, {"instance": "x" * 65}, {"instance": "bad\x00"}, {"written_at": "today"}):
        with pytest.raises(MessageRejected):
            validate_sync_record({**doc, **bad})


def test_the_shared_record_wins_unless_this_instance_wrote_a_newer_cycle():
    shared = SyncRecord(100, 1000.0, 1000.3, 50, 0.3, "alice@a:1")
    assert newest_sync(None, shared, "bob@b:2") == shared
    idle = SyncStats()                      # bob never wrote a cycle (alice holds the sync lease)
    assert newest_sync(idle, shared, "bob@b:2") == shared
    assert newest_sync(idle, None, "bob@b:2") is None
    mine = SyncStats(last_cars=51, last_duration_s=0.2, last_success_at=1010.2, last_cycle_id=101,
                     last_taken_at=1010.0)
    assert newest_sync(mine, shared, "bob@b:2") == SyncRecord(101, 1010.0, 1010.2, 51, 0.2, "bob@b:2")
    # once the record of that cycle is read back, it is shown (it says who really wrote it)
    back = SyncRecord(101, 1010.0, 1010.2, 51, 0.2, "alice@a:1")
    assert newest_sync(mine, back, "bob@b:2") == back
