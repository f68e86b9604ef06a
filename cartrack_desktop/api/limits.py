"""Hostile clients: what uvicorn leaves open, closed here.

- `GuardedHttp` (uvicorn's httptools protocol plus two limits): a request head larger than
  MAX_HEAD_BYTES gets 431, a request whose head and body have not fully arrived within
  REQUEST_TIMEOUT_S of its first byte (or a connection that sends nothing) gets 408, and the
  connection is closed. uvicorn itself only times out idle keep-alive connections, so a client
  dribbling a header a byte at a time (slowloris) would hold a connection forever.
- `ApiWebSocket` (uvicorn's websockets-sansio protocol): a client that stops answering pings is
  aborted, not just closed (a close waits for a write buffer that a non-reading client never
  drains); the WebSocket routes get the same abort through the `cartrack.abort` scope extension,
  with `write_frame` for the fan-out's pre-framed messages; the kernel's send buffer per
  WebSocket is capped at WS_SNDBUF_BYTES.
- `BodyLimit` (ASGI): bodies larger than MAX_BODY_BYTES get 413, whether announced by
  Content-Length or streamed.
- `OriginGuard` (ASGI): a request (or WebSocket) from a browser page whose origin is neither
  loopback nor in the `--api-cors` allow-list gets 403, so a web page in a dispatcher's browser
  cannot drive or read a loopback API that runs without tokens (CSRF, cross-site WebSocket).
These subclass uvicorn's protocols by their documented constructor; uvicorn is pinned.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
REQUEST_TIMEOUT_S = 10.0
WS_SNDBUF_BYTES = 64 * 1024
ABORT_EXTENSION = "cartrack.abort"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _plain_response(status: str, message: str) -> bytes:
    body = message.encode("ascii")
    return (f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode("ascii") + body


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size cap and a per-request deadline."""

    _in_head = True
    _head_bytes = 0          # bytes received while the head is incomplete
    _head_size = 0           # size of the parsed request line target and headers
    _too_big = False
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(REQUEST_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(_plain_response("408 Request Timeout", "request not received in time"))
            self.transport.close()

    # parser callbacks: sizes counted as they are parsed; an oversized request never reaches the app
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._head_size, self._too_big = True, 0, 0, False
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        if not self._too_big:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)
        if not self._too_big:
            super().on_header(name, value)

    def _grow(self, n: int) -> None:
        self._head_size += n
        if self._head_size > MAX_HEAD_BYTES:
            self._too_big = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        if not self._too_big:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._too_big:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._too_big:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (self._too_big or (self._in_head and self._head_bytes > MAX_HEAD_BYTES)) and not self.transport.is_closing():
            self._disarm()
            self.transport.write(_plain_response("431 Request Header Fields Too Large",
                                                 f"request head larger than {MAX_HEAD_BYTES} bytes"))
            self.transport.close()


class ApiWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's sansio WebSocket protocol; a connection can be aborted (ping timeout, or by the app),
    and its kernel send buffer is capped (WS_SNDBUF_BYTES): without the cap Linux grows it to 4 MB,
    which a client that does not read would pin, and which hides that it does not read for minutes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, WS_SNDBUF_BYTES)
            except OSError as exc:
                log.debug("SO_SNDBUF not set on a WebSocket: %s", exc)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][ABORT_EXTENSION] = {"abort": self._abort, "write_frame": self._write_frame}

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()   # even when closing: its buffer may never drain

    def _write_frame(self, frame: bytes) -> bool:
        """Write one complete, already framed message (server frames are not masked) now, if the
        connection is open and its transport is not holding back; False: send it the ASGI way.
        The fan-out of one position to many clients frames it once and skips the per-client ASGI
        send (Starlette, uvicorn, the frame builder), which cost ~50 us each (bench: ws_*)."""
        if (not self.handshake_complete or self.close_sent or self.disconnected or not self.writable.is_set()
                or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.transport.abort()


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame (RFC 6455 5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await _json_error(send, 413, f"request body larger than {self.max_bytes} bytes")
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:   # FastAPI passes an HTTPException from the body read through
                    raise HTTPException(413, f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


def is_loopback_origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OriginGuard:
    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    def allows(self, origin: str | None) -> bool:
        return origin is None or origin in self.allowed or is_loopback_origin(origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
            if not self.allows(origin):
                if scope["type"] == "http":
                    await _json_error(send, 403, "this origin may not call the API (see --api-cors)")
                else:
                    await receive()   # websocket.connect
                    await send({"type": "websocket.close", "code": 4403, "reason": "origin not allowed"})
                return
        await self.app(scope, receive, send)


async def _json_error(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
