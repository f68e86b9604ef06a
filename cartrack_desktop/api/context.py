"""What every endpoint gets (through FastAPI's dependency injection; the app holds it, no globals)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..domain.models import is_valid_car_id
from ..services.dispatch.records import Records
from ..services.history.registry import FleetRegistry
from ..services.live.live_store import LiveStore
from .auth import Actor, Auth, AuthError
from .hubs import CLOSE_CLIENT_GONE, FleetHub, Listener, StallWatch, TrackHub
from .port import RuntimePort
from .tokens import Role, TokenStore

log = logging.getLogger(__name__)

DEFAULT_WS_QUEUE = 32          # newest frames kept per WebSocket client (~30 s of one unit)
DEFAULT_WS_SEND_STALL_S = 10.0  # a send blocked this long (the client does not read): the client is dropped
DEFAULT_WS_MAX_CLIENTS = 10_000


@dataclass
class WsCounters:
    dropped_slow: int = 0


@dataclass
class ApiContext:
    port: RuntimePort           # the runtime's services, on its loop (writes, in-memory state)
    store: LiveStore            # live positions, on the API's own Redis connection
    registry: FleetRegistry     # fleet registry reads, on the API's own MongoDB connection
    records: Records            # incident reads, likewise
    tokens: TokenStore
    auth: Auth
    tracks: TrackHub
    fleet: FleetHub
    ws_queue: int = DEFAULT_WS_QUEUE
    ws_max_clients: int = DEFAULT_WS_MAX_CLIENTS
    ws_send_stall_s: float = DEFAULT_WS_SEND_STALL_S
    ws: WsCounters = field(default_factory=WsCounters)
    stalls: StallWatch = field(init=False)

    def __post_init__(self) -> None:
        self.stalls = StallWatch(self.ws_send_stall_s, self._drop)

    def _drop(self, listener: Listener) -> None:
        self.ws.dropped_slow += 1
        log.info("API: dropped a WebSocket client that did not read its updates")
        listener.close(CLOSE_CLIENT_GONE, "did not read")
        listener.abort()

    @property
    def ws_clients(self) -> int:
        return self.tracks.clients + self.fleet.clients


async def known_unit(ctx: ApiContext, car_id: str) -> bool:
    """Registered (this instance's fleet, else the registry itself: it may have just been added) or live."""
    if not is_valid_car_id(car_id):
        return False
    if await ctx.port.read(lambda rt: car_id in rt.fleet):
        return True
    if await ctx.store.get_car_location(car_id) is not None:
        return True
    return await ctx.registry.get(car_id) is not None


# async, though they do no I/O: FastAPI runs a plain `def` dependency in a worker thread, a thread
# hop (and GIL hand-over) per request that cost more than the whole nearby search (bench: api_*)
async def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def ws_context(websocket: WebSocket) -> ApiContext:
    ctx: ApiContext = websocket.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
_bearer = HTTPBearer(auto_error=False,
                     description="`Authorization: Bearer ctk_…` (`cartrack-desktop api-token create`)")


def _require(role: Role) -> object:
    async def actor(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
        try:
            ctx: ApiContext = request.app.state.ctx
            return ctx.auth.actor(credentials.credentials if credentials else None, role)
        except AuthError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            if exc.retry_after_s is not None:
                headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
            raise HTTPException(exc.status, exc.message, headers=headers or None) from None

    return Depends(actor)


Reader = Annotated[Actor, _require(Role.READ)]
Dispatcher = Annotated[Actor, _require(Role.DISPATCH)]
Admin = Annotated[Actor, _require(Role.ADMIN)]
