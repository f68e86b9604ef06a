"""The seed's live endpoints: one unit's position, every live unit, nearby search (the window's GEO search)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from .context import Ctx, Reader
from .models import ErrorOut, NearbyRequest, NearbyResponse, PositionOut, RealtimeList

router = APIRouter(tags=["live positions"])


def validated_json(model: type[BaseModel], obj: Any) -> Response:
    """A big answer (hundreds of units): encoded once with orjson, checked against its response model
    in pydantic's core straight from those bytes, and sent as is. FastAPI's own path would dump the
    model, validate it again and encode it with the standard library: ~3x the time (bench: api_*).
    A body that does not fit its model raises (500): nothing unchecked leaves."""
    body = orjson.dumps(obj)
    model.__pydantic_validator__.validate_json(body)
    return Response(body, media_type="application/json")


@router.get("/police/realtime/{car_id}", response_model=PositionOut, responses={404: {"model": ErrorOut}},
            summary="A unit's live position (Redis)")
async def realtime_one(car_id: str, ctx: Ctx, _actor: Reader) -> PositionOut:
    p = await ctx.store.get_car_location(car_id)   # an invalid id is simply not found
    if p is None:
        raise HTTPException(404, "no live position for this unit (unknown, or none for 300 s)")
    return PositionOut.of(p)


@router.get("/police/realtime", response_model=RealtimeList, summary="Every live unit")
async def realtime_all(ctx: Ctx, _actor: Reader) -> Response:
    positions = await ctx.store.get_all_car_locations()
    return validated_json(RealtimeList, {"count": len(positions), "cars": [p.as_dict() for p in positions]})


@router.post("/police/nearby", response_model=NearbyResponse,
             summary="Live units within radius_km of a point, nearest first (the window's GEO search)")
async def nearby(body: NearbyRequest, ctx: Ctx, _actor: Reader) -> Response:
    found = await ctx.store.get_nearby_cars(body.lat, body.lng, body.radius_km)
    return validated_json(NearbyResponse, {"cars": [
        {"car_id": p.car_id, "lat": p.lat, "lng": p.lng, "speed": p.speed, "heading": p.heading,
         "timestamp": p.timestamp, "distance_km": d} for p, d in found]})
