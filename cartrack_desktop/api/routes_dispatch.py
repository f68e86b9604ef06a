"""Incidents, dispatch and unit status: every write is the runtime's DispatchService, as a dispatcher's click.

The caller's token name is the dispatcher of the write (status record, timeline, audit log).
A dispatch is the same atomic compare-and-set in Redis as the desktops'; whoever loses gets 409
with the incident (and dispatcher) holding the unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from ..domain.dispatch import ASSIGNED, Incident, UnitAssignment
from ..domain.models import UnitStatus
from ..services.dispatch.result import ActionResult
from ..services.dispatch.service import DispatchService
from ..services.runtime import Runtime
from .context import ApiContext, Ctx, Dispatcher, Reader, known_unit
from .models import (
    ActionOut,
    ConflictOut,
    DispatchOut,
    DispatchRequest,
    ErrorOut,
    Holder,
    IncidentList,
    IncidentOut,
    NewIncident,
    UnitStatusRequest,
)

router = APIRouter(tags=["incidents and dispatch"])
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}, 409: {"model": ConflictOut}}


def _dispatch_of(rt: Runtime) -> DispatchService:
    assert rt.dispatch is not None   # the API starts after the runtime
    return rt.dispatch


@router.get("/police/incidents", response_model=IncidentList, summary="Incidents, newest first")
async def incidents(ctx: Ctx, _actor: Reader, status: Literal["open", "closed", "all"] = "open",
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> IncidentList:
    if status == "open":
        found = await ctx.port.read(lambda rt: sorted(
            (i for i in _dispatch_of(rt).incidents.values() if i.is_open), key=lambda i: -i.created_at))
        found = found[:limit]
    else:
        found = await ctx.records.incidents(None if status == "all" else "closed", limit)
    return IncidentList(count=len(found), incidents=[IncidentOut.of(i) for i in found])


async def _incident(ctx: ApiContext, incident_id: str) -> Incident | None:
    """What this instance knows (open incidents, newest timeline), else the record in MongoDB."""
    known = await ctx.port.read(lambda rt: _dispatch_of(rt).incidents.get(incident_id))
    return known if known is not None else await ctx.records.incident(incident_id)


@router.get("/police/incidents/{incident_id}", response_model=IncidentOut, responses={404: {"model": ErrorOut}},
            summary="One incident with its timeline")
async def incident(incident_id: str, ctx: Ctx, _actor: Reader) -> IncidentOut:
    found = await _incident(ctx, incident_id)
    if found is None:
        raise HTTPException(404, "no such incident")
    return IncidentOut.of(found)


@router.post("/police/incidents", response_model=IncidentOut, status_code=201, summary="Create an incident")
async def create_incident(body: NewIncident, ctx: Ctx, actor: Dispatcher) -> IncidentOut:
    try:
        inc = await ctx.port.call(lambda rt: _dispatch_of(rt).create_incident(
            body.lat, body.lng, body.type, body.priority, body.notes, by=actor.name))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return IncidentOut.of(inc)


@router.post("/police/incidents/{incident_id}/close", response_model=IncidentOut, responses=_ERRORS,
             summary="Close an incident (its units are cleared)")
async def close_incident(incident_id: str, ctx: Ctx, actor: Dispatcher) -> IncidentOut:
    result = await ctx.port.call(lambda rt: _dispatch_of(rt).close_incident(incident_id, by=actor.name))
    found = await _incident(ctx, incident_id)
    if found is None:
        raise HTTPException(404, "no such incident")
    if not result.ok:
        raise HTTPException(409, result.message)
    return IncidentOut.of(found)


@dataclass(frozen=True, slots=True)
class _Dispatched:
    result: ActionResult | None          # None: the incident is not open
    incident: Incident | None
    holder: UnitAssignment | None


async def _do_dispatch(rt: Runtime, body: DispatchRequest, who: str) -> _Dispatched:
    d = _dispatch_of(rt)
    if body.incident_id is None:
        assert body.lat is not None and body.lng is not None and body.type is not None
        inc = await d.create_incident(body.lat, body.lng, body.type, body.priority, body.notes, by=who)
    else:
        known = d.incidents.get(body.incident_id)
        if known is None or not known.is_open:
            return _Dispatched(None, known, None)
        inc = known
    [result] = await d.dispatch(inc.incident_id, [body.car_id], by=who)
    return _Dispatched(result, d.incidents.get(inc.incident_id, inc), d.statuses.get(body.car_id))


@router.post("/police/dispatch", response_model=DispatchOut, responses=_ERRORS,
             summary="Dispatch a unit to an incident (existing, or created from lat/lng/type)")
async def dispatch(body: DispatchRequest, ctx: Ctx, actor: Dispatcher) -> DispatchOut | JSONResponse:
    if not await known_unit(ctx, body.car_id):
        raise HTTPException(404, "unknown unit (not registered and not live)")
    done = await ctx.port.call(lambda rt: _do_dispatch(rt, body, actor.name))
    if done.result is None:
        if done.incident is None and await ctx.records.incident(body.incident_id or "") is None:
            raise HTTPException(404, "no such incident")
        return _conflict(f"Incident {body.incident_id} is not open", body.car_id, body.incident_id, None)
    assert done.incident is not None
    if not done.result.ok:
        return _conflict(done.result.message, body.car_id, done.incident.incident_id, done.holder)
    return DispatchOut(ok=True, message=done.result.message, car_id=body.car_id, incident=IncidentOut.of(done.incident))


def _conflict(message: str, car_id: str, incident_id: str | None, holder: UnitAssignment | None) -> JSONResponse:
    held = None
    if holder is not None and holder.status in ASSIGNED:
        held = Holder(incident_id=holder.incident_id, status=holder.status, by=holder.by)
    body = ConflictOut(detail=message, car_id=car_id, incident_id=incident_id, held_by=held)
    return JSONResponse(body.model_dump(mode="json"), status_code=409)


async def _set_status(rt: Runtime, car_id: str, body: UnitStatusRequest, who: str) -> ActionResult:
    d = _dispatch_of(rt)
    if body.status == "out_of_service":
        return await d.set_out_of_service(car_id, True, by=who)
    current = d.status_of(car_id)
    if current in ASSIGNED:
        return await d.clear_unit(car_id, body.note, by=who)
    if current is UnitStatus.OUT_OF_SERVICE:
        return await d.set_out_of_service(car_id, False, by=who)
    return ActionResult(True, f"{d.call_sign(car_id)} is available", car_id)


@router.post("/police/units/{car_id}/status", response_model=ActionOut, responses=_ERRORS,
             summary="Change a unit's status: clear it (available) or take it out of service")
async def unit_status(car_id: str, body: UnitStatusRequest, ctx: Ctx, actor: Dispatcher) -> ActionOut:
    if not await known_unit(ctx, car_id):
        raise HTTPException(404, "unknown unit (not registered and not live)")
    result = await ctx.port.call(lambda rt: _set_status(rt, car_id, body, actor.name))
    if not result.ok:
        raise HTTPException(409, result.message)
    return ActionOut(ok=True, message=result.message, car_id=car_id)
