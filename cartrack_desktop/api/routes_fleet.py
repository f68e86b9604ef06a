"""The fleet registry (`cars`), the seed's simulator endpoints, statistics, unknown devices.

Registry changes go through the runtime's DispatchService (as the Fleet editor's): every instance
and the running simulator follow them through the dispatch events channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from ..domain.messages import MessageRejected, validate_text, validate_unknown_device
from ..domain.models import is_valid_car_id
from ..ingest.devices import list_unknown
from ..services.dispatch.result import ActionResult
from ..services.dispatch.service import DispatchService
from ..services.runtime import Runtime
from .auth import Actor
from .context import Admin, ApiContext, Ctx, Reader
from .models import (
    ActionOut,
    ApiStatsOut,
    CarList,
    CarOut,
    ErrorOut,
    IngestStatsOut,
    LiveStatsOut,
    NewCar,
    SimulatorStatsOut,
    StatsOut,
    SyncStatsOut,
    UnknownDeviceOut,
    UnknownDevicesOut,
)

router = APIRouter(tags=["fleet"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (404, 409, 422, 503)}
_MONGO_DOWN = "not reachable"     # in ActionResult messages of the registry writes


def _dispatch_of(rt: Runtime) -> DispatchService:
    assert rt.dispatch is not None   # the API starts after the runtime
    return rt.dispatch


@router.get("/police/cars", response_model=CarList, summary="Every registered unit, with its last synced position")
async def cars(ctx: Ctx, _actor: Reader) -> CarList:
    registered = await ctx.registry.load()
    statuses = await ctx.port.read(lambda rt: dict(_dispatch_of(rt).statuses))
    out = [CarOut.of(c, statuses.get(c.car_id)) for c in registered]
    return CarList(count=len(out), cars=out)


@router.get("/police/cars/{car_id}", response_model=CarOut, responses={404: {"model": ErrorOut}},
            summary="A registered unit and its last known position (MongoDB, synced every 10 s)")
async def car(car_id: str, ctx: Ctx, _actor: Reader) -> CarOut:
    found = await ctx.registry.get(car_id) if is_valid_car_id(car_id) else None
    if found is None:
        raise HTTPException(404, "no such unit in the fleet registry")
    status = await ctx.port.read(lambda rt: _dispatch_of(rt).statuses.get(car_id))
    return CarOut.of(found, status)


def _answer(result: ActionResult) -> ActionOut:
    if not result.ok:
        raise HTTPException(503 if _MONGO_DOWN in result.message else 409, result.message)
    return ActionOut(ok=True, message=result.message, car_id=result.car_id)


async def _add(ctx: ApiContext, car_id: str, call_sign: str, simulated: bool, actor: Actor) -> ActionOut:
    try:
        validate_text(call_sign.strip(), "call_sign", max_chars=32)
    except MessageRejected:
        raise HTTPException(422, "call_sign must be 1-32 printable characters") from None
    result = await ctx.port.call(lambda rt: _dispatch_of(rt).fleet_edits.add_unit(
        car_id, call_sign, simulated=simulated, by=actor.name))
    return _answer(result)


@router.post("/police/cars", response_model=ActionOut, status_code=201, responses=_ERRORS,
             summary="Register a unit (the simulator moves it when simulated)")
async def add_car(body: NewCar, ctx: Ctx, actor: Admin) -> ActionOut:
    return await _add(ctx, body.car_id, body.call_sign, body.simulated, actor)


@router.post("/simulator/add/{car_id}", response_model=ActionOut, status_code=201, responses=_ERRORS,
             summary="Add a simulated unit (registered; the running simulator picks it up)")
async def simulator_add(car_id: str, ctx: Ctx, actor: Admin,
                        call_sign: Annotated[str | None, Query(max_length=32)] = None) -> ActionOut:
    if not is_valid_car_id(car_id):
        raise HTTPException(422, "car_id must be 1-32 letters, digits, '-' or '_'")
    return await _add(ctx, car_id, call_sign or car_id, True, actor)


@router.delete("/simulator/remove/{car_id}", response_model=ActionOut, responses=_ERRORS,
               summary="Remove a unit (from the registry; the simulator stops moving it)")
async def simulator_remove(car_id: str, ctx: Ctx, actor: Admin) -> ActionOut:
    if not is_valid_car_id(car_id):
        raise HTTPException(404, "no such unit in the fleet registry")
    result = await ctx.port.call(lambda rt: _dispatch_of(rt).fleet_edits.remove_unit(car_id, by=actor.name))
    if not result.ok and "not in the fleet registry" in result.message:
        raise HTTPException(404, result.message)
    return _answer(result)


@dataclass(frozen=True, slots=True)
class _RuntimeStats:
    simulator: SimulatorStatsOut | None
    sync: SyncStatsOut | None
    redis_ok: bool
    mongo_ok: bool
    rejections: dict[str, dict[str, int]]


def _runtime_stats(rt: Runtime) -> _RuntimeStats:
    sim, sync = rt.simulator, rt.sync
    return _RuntimeStats(
        simulator=None if sim is None else SimulatorStatsOut(
            running_here=sim.stats.ticks > 0, units=sim.stats.units, ticks=sim.stats.ticks,
            last_tick_ms=round(sim.stats.last_tick_s * 1000, 2), write_failures=sim.stats.write_failures,
            skipped_ticks=sim.stats.skipped_ticks),
        sync=None if sync is None else SyncStatsOut.model_validate(sync.stats.as_dict()),
        redis_ok=rt.health.redis_ok, mongo_ok=rt.health.mongo_ok,
        rejections={"redis": {str(k): v for k, v in rt.redis_rejections.snapshot().items()},
                    "mongodb": {str(k): v for k, v in rt.mongo_rejections.snapshot().items()}},
    )


def _ingest_stats(rt: Runtime) -> IngestStatsOut:
    st = rt.ingest_stats()
    if st is None:
        return IngestStatsOut(state="off")
    return IngestStatsOut(state=st.state, detail=st.detail[:400], listening=[a[:80] for a in st.listening],
                          workers=st.workers, positions_per_s=st.positions_per_s, late_per_s=st.late_per_s,
                          totals=dict(st.totals), rejections=dict(st.rejections), connections=st.connections,
                          devices=st.devices)


@router.get("/stats", response_model=StatsOut, summary="Simulator, sync, live data, ingest, rejections, API")
async def stats(ctx: Ctx, _actor: Reader) -> StatsOut:
    got = await ctx.port.read(_runtime_stats)
    live = await ctx.store.live_count()
    ingest = await ctx.port.read(_ingest_stats)
    auth = ctx.auth
    rejections = {**got.rejections, "api": {"refused": auth.refused, "rate_limited": auth.rate_limited}}
    return StatsOut(
        simulator=got.simulator, sync=got.sync,
        live=LiveStatsOut(live_units=live, redis_ok=got.redis_ok, mongo_ok=got.mongo_ok),
        ingest=ingest, rejections=rejections,
        api=ApiStatsOut(auth=auth.mode.value, tokens=auth.token_count, ws_track_clients=ctx.tracks.clients,
                        ws_fleet_clients=ctx.fleet.clients, ws_dropped_slow=ctx.ws.dropped_slow,
                        refused=auth.refused, rate_limited=auth.rate_limited),
    )


@router.get("/ingest/devices/unknown", response_model=UnknownDevicesOut, responses={404: {"model": ErrorOut}},
            summary="Devices that reported but belong to no unit (when this instance runs the device ingest)")
async def unknown_devices(ctx: Ctx, _actor: Reader) -> UnknownDevicesOut:
    if not await ctx.port.read(lambda rt: rt.ingest is not None):
        raise HTTPException(404, "the device ingest is not running in this instance")
    out = []
    # read on the API's own Redis connection (the list holds up to 10,000 devices: not on the window's
    # thread), each entry validated as the window validates it
    for entry in await list_unknown(ctx.store.client):
        try:
            d = validate_unknown_device(entry)
        except MessageRejected as exc:
            ctx.store.rejections.reject(exc.kind, None)
            continue
        out.append(UnknownDeviceOut(device_id=d.device_id, protocol=d.protocol, lat=d.lat, lng=d.lng,
                                    fix_at=d.fix_at, count=d.count, first_seen=d.first_seen,
                                    last_seen=d.last_seen))
    out.sort(key=lambda d: d.last_seen or 0.0, reverse=True)
    return UnknownDevicesOut(devices=out)
