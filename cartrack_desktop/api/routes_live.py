"""The seed's live endpoints: one unit's position, every live unit, nearby search (the window's GEO search)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from .context import Ctx, Reader
from .models import ErrorOut, NearbyRequest, NearbyResponse, PositionOut, RealtimeList

router = APIRouter(tags=["live positions"])


@router.get("/police/realtime/{car_id}", response_model=PositionOut, responses={404: {"model": ErrorOut}},
            summary="A unit's live position (Redis)")
async def realtime_one(car_id: str, ctx: Ctx, _actor: Reader) -> PositionOut:
    p = await ctx.store.get_car_location(car_id)   # an invalid id is simply not found
    if p is None:
        raise HTTPException(404, "no live position for this unit (unknown, or none for 300 s)")
    return PositionOut.of(p)


@router.get("/police/realtime", response_model=RealtimeList, summary="Every live unit")
async def realtime_all(ctx: Ctx, _actor: Reader) -> RealtimeList:
    positions = await ctx.store.get_all_car_locations()
    return RealtimeList.model_validate({"count": len(positions), "cars": [p.as_dict() for p in positions]})


@router.post("/police/nearby", response_model=NearbyResponse,
             summary="Live units within radius_km of a point, nearest first (the window's GEO search)")
async def nearby(body: NearbyRequest, ctx: Ctx, _actor: Reader) -> NearbyResponse:
    found = await ctx.store.get_nearby_cars(body.lat, body.lng, body.radius_km)
    # one validation pass in pydantic's core for the whole list (hundreds of units)
    return NearbyResponse.model_validate({"cars": [n.as_dict() for n in found]})
