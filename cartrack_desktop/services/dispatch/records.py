"""The dispatch record in MongoDB: incidents with their timeline, unit statuses, the audit log.

    incidents  {_id: INC-YYMMDD-XXXX, type, priority, notes, lat, lng, status, created_at/by, closed_at,
                units, timeline: [{id, at, kind, by, car_id, note}]}
    audit_log  {_id, at, dispatcher, action, details}
    cars       status, incident_id, status_at (the registry's documents; newer status wins)

Writes arrive as outbox operations (`apply`), each idempotent: replaying one changes nothing.
Reads validate every document; a bad one is skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Literal, assert_never, get_args

import pymongo
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ...domain.dispatch import Incident
from ...domain.messages import MessageRejected, validate_incident, validate_text
from ..infra.mongo import Doc, utc
from ..infra.rejections import RejectionCounter
from .outbox import Op, OpKind

log = logging.getLogger(__name__)

AuditAction = Literal[
    "incident.create", "incident.close", "unit.dispatch", "unit.en_route", "unit.arrive", "unit.clear",
    "unit.out_of_service", "unit.in_service", "fleet.add", "fleet.remove", "fleet.device",
    "alarm.raise", "alarm.ack",
]
AUDIT_ACTIONS: tuple[AuditAction, ...] = get_args(AuditAction)
OPEN_INCIDENTS_LIMIT = 500
AUDIT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    dispatcher: str
    action: str
    details: str


def _timeline_doc(e: dict[str, Any]) -> Doc:
    return {**e, "at": utc(e["at"])}


def _short_value(v: Any) -> str:
    if isinstance(v, bool | int | float):
        return str(v)
    if isinstance(v, str):
        return "".join(c if c.isprintable() else " " for c in v[:80])
    if isinstance(v, list):
        return "[" + " ".join(_short_value(x) for x in v[:10]) + "]"
    return "?"


class Records:
    def __init__(self, db: AsyncDatabase[Doc], *, rejections: RejectionCounter) -> None:
        self.db = db
        self.rejections = rejections

    async def ensure_indexes(self) -> None:
        await self.db.incidents.create_index([("status", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)])
        await self.db.audit_log.create_index([("at", pymongo.DESCENDING)])

    async def apply(self, op: Op) -> None:
        """Write one outbox operation. Each is idempotent: replaying it changes nothing."""
        db, kind, payload = self.db, op.kind, op.payload
        if kind is OpKind.INCIDENT_INSERT:
            try:
                await db.incidents.insert_one(dict(payload, created_at=utc(payload["created_at"]),
                                                   timeline=[_timeline_doc(e) for e in payload["timeline"]]))
            except DuplicateKeyError:
                pass
        elif kind is OpKind.INCIDENT_EVENT:
            update: Doc = {"$push": {"timeline": _timeline_doc(payload["event"])}}
            if payload.get("car_id"):
                update["$addToSet"] = {"units": payload["car_id"]}
            await db.incidents.update_one({"_id": payload["id"], "timeline.id": {"$ne": payload["event"]["id"]}},
                                          update)
        elif kind is OpKind.INCIDENT_CLOSE:
            await db.incidents.update_one({"_id": payload["id"]},
                                          {"$set": {"status": "closed", "closed_at": utc(payload["closed_at"])}})
        elif kind is OpKind.CAR_STATUS:
            at = payload["at"]
            await db.cars.update_one(
                {"_id": payload["car_id"], "$or": [{"status_at": {"$lt": at}}, {"status_at": None}]},
                {"$set": {"status": payload["status"], "incident_id": payload.get("incident"), "status_at": at}},
            )
        elif kind is OpKind.AUDIT:
            try:
                await db.audit_log.insert_one({"_id": payload["id"], "at": utc(payload["at"]),
                                               "dispatcher": payload["dispatcher"], "action": payload["action"],
                                               "details": payload.get("details", {})})
            except DuplicateKeyError:
                pass
        else:
            assert_never(kind)   # unknown kinds never reach the outbox (OpKind), nor leave the journal

    async def open_incidents(self, limit: int = OPEN_INCIDENTS_LIMIT) -> list[Incident]:
        return await self.incidents("open", limit)

    async def incidents(self, status: str | None, limit: int) -> list[Incident]:
        """The newest incidents (of one status, or any), newest first, validated."""
        out = []
        query: Doc = {} if status is None else {"status": status}
        cursor = self.db.incidents.find(query).sort("created_at", pymongo.DESCENDING).limit(limit)
        async for doc in cursor:
            inc = self._incident(doc)
            if inc is not None:
                out.append(inc)
        return out

    async def incident(self, incident_id: str) -> Incident | None:
        """One incident with its whole timeline (open or closed), or None."""
        doc = await self.db.incidents.find_one({"_id": incident_id})
        return None if doc is None else self._incident(doc)

    def _incident(self, doc: Doc) -> Incident | None:
        try:
            return validate_incident(doc)
        except MessageRejected as exc:
            raw_id = doc.get("_id")
            self.rejections.reject(exc.kind, raw_id if isinstance(raw_id, str) else None)
            return None

    async def audit(self, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
        """The newest audit entries, newest first, as text fit for a table."""
        out = []
        async for doc in self.db.audit_log.find({}).sort("at", pymongo.DESCENDING).limit(limit):
            try:
                at = doc.get("at")
                if not isinstance(at, dt.datetime):
                    raise MessageRejected("bad_type", "at")
                action = doc.get("action")
                if action not in AUDIT_ACTIONS:
                    raise MessageRejected("bad_type", "action")
                who = validate_text(doc.get("dispatcher", ""), "dispatcher", max_chars=64, allow_empty=True)
                details = doc.get("details", {})
                if not isinstance(details, dict):
                    raise MessageRejected("bad_type", "details")
                text = ", ".join(f"{k}={_short_value(v)}" for k, v in list(details.items())[:12]
                                 if isinstance(k, str))
                out.append(AuditEntry((at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp(), who, action,
                                      text[:400]))
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, None)
        return out
