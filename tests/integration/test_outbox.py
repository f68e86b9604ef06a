"""The outbox journal on disk: what an earlier run left is adopted; what this version cannot write is
counted and reported, never silently dropped nor queued."""

import orjson
import pytest

from cartrack_desktop.services.dispatch.outbox import Op, OpKind, Outbox
from cartrack_desktop.services.infra.errors import ErrorBus, Level


async def test_journalled_writes_of_unknown_kind_are_counted_and_reported(tmp_path):
    journal_dir = tmp_path / "outbox"
    journal_dir.mkdir()
    lines = [
        {"op": {"id": "a", "kind": "audit", "payload": {"action": "fleet.add"}, "at": 1.0}},
        {"op": {"id": "b", "kind": "teleport", "payload": {}, "at": 2.0}},
        {"op": {"id": "c", "kind": "future.kind", "payload": {}, "at": 3.0}},
        {"done": "c"},                       # written before the crash: neither adopted nor counted
    ]
    (journal_dir / "outbox-1-dead.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    bus = ErrorBus()
    applied: list[Op] = []

    async def apply(op: Op) -> None:
        applied.append(op)

    outbox = Outbox(apply, journal_dir, errors=bus)
    try:
        assert [(op.op_id, op.kind) for op in outbox.pending] == [("a", OpKind.AUDIT)]
        assert outbox.unknown_skipped == 1
        notices = [n for n in bus.recent if n.source == "outbox"]
        assert len(notices) == 1 and notices[0].level is Level.WARNING and "'teleport'" in notices[0].message
        with pytest.raises(ValueError):
            outbox.put("teleport", {})       # type: ignore[arg-type] - an unknown kind cannot be queued
        assert len(outbox.pending) == 1
        assert await outbox.flush(5.0)
        assert [op.op_id for op in applied] == ["a"]
    finally:
        outbox.close()
