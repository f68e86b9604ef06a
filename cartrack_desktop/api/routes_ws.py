"""WS /ws/track/{car_id} (the seed's stream of one unit) and WS /ws/fleet (every batch, for a wall display).

Authentication, when tokens are in use: the subprotocol pair `["cartrack.bearer", TOKEN]` (what
a browser can send), or a first text message `{"type": "auth", "token": TOKEN}` within
AUTH_WAIT_S. Close codes: 1001 server stopping, 1013 too many clients or token list not loaded,
4401 missing/invalid token, 4403 role or origin not allowed, 4404 unknown unit (or removed from
the fleet while tracked). A client that does not read (a send stalled for the stall limit, or
a ping unanswered) is dropped without a close frame (its connection is aborted: it sees 1006).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..services.infra.timeouts import within
from .auth import WS_SUBPROTOCOL, Actor, AuthError, token_from_subprotocols
from .context import ApiContext, known_unit, ws_context
from .hubs import CLOSE_CLIENT_GONE, CLOSE_UNKNOWN_UNIT, Closed, Listener, position_text
from .limits import ABORT_EXTENSION
from .tokens import Role

log = logging.getLogger(__name__)

router = APIRouter(tags=["websockets"])
AUTH_WAIT_S = 5.0
CLOSE_TIMEOUT_S = 2.0
CLOSE_TOO_MANY = 1013


async def _first_message_token(ws: WebSocket) -> str | None:
    try:
        text = await within(ws.receive_text(), AUTH_WAIT_S)
        obj = orjson.loads(text)
    except (TimeoutError, ValueError, KeyError, WebSocketDisconnect, RuntimeError):
        return None
    token = obj.get("token") if isinstance(obj, dict) and obj.get("type") == "auth" else None
    return token if isinstance(token, str) else None


async def accept(ctx: ApiContext, ws: WebSocket, role: Role) -> Actor | None:
    """Authenticate and accept, or close with the documented code (None)."""
    offered = list(ws.scope.get("subprotocols") or [])
    protocol = WS_SUBPROTOCOL if WS_SUBPROTOCOL in offered else None
    await ws.accept(subprotocol=protocol)
    if ctx.ws_clients >= ctx.ws_max_clients:
        await ws.close(CLOSE_TOO_MANY, "too many WebSocket clients")
        return None
    token = token_from_subprotocols(offered)
    try:
        if token is None and ctx.auth.mode.value == "tokens":
            token = await _first_message_token(ws)
        return ctx.auth.actor(token, role)
    except AuthError as exc:
        await ws.close(exc.ws_code, exc.message[:120])
        return None


def _listener(ctx: ApiContext, ws: WebSocket) -> Listener:
    """A client's queue; the stall watch can abort its connection (a client that does not read
    would never read a close frame either)."""
    ext = ws.scope.get("extensions", {}).get(ABORT_EXTENSION, {})
    return Listener(ctx.ws_queue, ext.get("abort", lambda: None), ext.get("write_frame"))


async def _pump(ctx: ApiContext, ws: WebSocket, listener: Listener) -> None:
    """Send the listener's frames until it is closed or the client goes; client messages are read and ignored."""
    async def watch() -> None:
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            listener.close(CLOSE_CLIENT_GONE, "client closed")

    watcher = asyncio.ensure_future(watch())
    ctx.stalls.listeners.add(listener)
    try:
        while True:
            text = await listener.next()
            listener.sending_since = time.monotonic()
            await ws.send_text(text)
            listener.sending_since = None
    except Closed as closed:
        if closed.code != CLOSE_CLIENT_GONE:
            with contextlib.suppress(Exception):
                await within(ws.close(closed.code, closed.reason), CLOSE_TIMEOUT_S)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        ctx.stalls.listeners.discard(listener)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


@router.websocket("/ws/track/{car_id}")
async def track(ws: WebSocket, car_id: str) -> None:
    """Every update of one unit as the seed's JSON (about once a second), its current position first."""
    ctx = ws_context(ws)
    if await accept(ctx, ws, Role.READ) is None:
        return
    if not await known_unit(ctx, car_id):
        await ws.close(CLOSE_UNKNOWN_UNIT, "unknown unit")
        return
    listener = _listener(ctx, ws)
    await ctx.tracks.join(car_id, listener)
    try:
        current = await ctx.store.get_car_location(car_id)
        if current is not None:
            listener.push(position_text(current))
        await _pump(ctx, ws, listener)
    finally:
        ctx.tracks.leave(car_id, listener)


@router.websocket("/ws/fleet")
async def fleet(ws: WebSocket) -> None:
    """A snapshot of every live unit, then every batch (at most every 0.2 s), and unit status changes."""
    ctx = ws_context(ws)
    if await accept(ctx, ws, Role.READ) is None:
        return
    listener = _listener(ctx, ws)
    try:
        await ctx.fleet.join(listener)
        await _pump(ctx, ws, listener)
    finally:
        ctx.fleet.leave(listener)
