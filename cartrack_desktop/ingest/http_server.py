"""A lean HTTP/1.1 server: asyncio.Protocol over httptools (the parser uvicorn uses).

Why not a framework: at 10,000 requests/s the per-request cost is the budget. A framework adds a
task, a request object and middleware per request; here a request is a handful of parser
callbacks, and its answer comes from a future shared by every request of one Redis micro-batch.
Limits (request line, header bytes and count, body), a slow-client timeout, an idle timeout and a
connection cap keep memory bounded whatever a client sends; every refusal is counted by kind.

A request target that is only `?query` (no `/`, as Traccar's own tools send it) is rewritten to
`/?query` before the parser sees it (llhttp refuses it); done at the start of each request read
in a fresh chunk, which is every request of a client that waits for its answer (a pipelined `?`
request is refused with 400).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from collections.abc import Callable
from typing import NamedTuple, cast

import httptools

from ..domain.messages import RejectionKind
from ..services.infra.rejections import RejectionCounter
from . import options as o
from .protocols import Request

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 2.0              # slow-client (10 s) and idle (120 s) timeouts are checked this often
_TARGET_PEEK_BYTES = 16          # "OPTIONS ?" fits: the method and the target's first byte
# The headers a decoder or this server reads; the others (Host, User-Agent, Accept-Encoding, ...)
# count against the limits and are not kept: decoding every header cost more than the rest of
# the HTTP layer's per-request work.
_MAX_HEADER_BYTES, _MAX_HEADERS = o.MAX_HEADER_BYTES, o.MAX_HEADERS   # module globals: one lookup each
_PLAIN_STARTS = (b"GET /", b"POST /")   # a request that needs no target fix (see _fix_target)
KEPT_HEADERS = frozenset((b"content-type", b"content-length", b"x-device-token", b"x-limit-u", b"x-limit-d",
                          b"expect"))


class Response(NamedTuple):
    code: int
    body: bytes = b""
    json: bool = False
    retry_after_s: int = 0


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 408: "Request Timeout",
            413: "Payload Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large",
            503: "Service Unavailable"}
OK = Response(200)
OK_JSON = Response(200, b"[]", json=True)


def render(resp: Response, keep_alive: bool) -> bytes:
    head = [f"HTTP/1.1 {resp.code} {_REASONS.get(resp.code, 'Error')}"]
    if resp.json:
        head.append("Content-Type: application/json")
    elif resp.body:
        head.append("Content-Type: text/plain; charset=utf-8")
    if resp.retry_after_s:
        head.append(f"Retry-After: {resp.retry_after_s}")
    if not keep_alive:
        head.append("Connection: close")
    head.append(f"Content-Length: {len(resp.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + resp.body


_RENDERED: dict[tuple[Response, bool], bytes] = {}


def rendered(resp: Response, keep_alive: bool) -> bytes:
    """Responses repeat (200, 400 unknown device, 503): render each once."""
    key = (resp, keep_alive)
    out = _RENDERED.get(key)
    if out is None:
        out = render(resp, keep_alive)
        if len(_RENDERED) < 256:
            _RENDERED[key] = out
    return out


Handler = Callable[[Request], "Response | asyncio.Future[Response]"]


class _Refuse(Exception):
    """Raised inside a parser callback to stop a request that broke a limit."""

    def __init__(self, resp: Response, kind: RejectionKind) -> None:
        super().__init__(kind)
        self.resp, self.kind = resp, kind


class HttpServer:
    """Owns the listening socket(s), the open connections and the periodic timeout sweep."""

    def __init__(self, handler: Handler, opts: o.IngestOptions, rejections: RejectionCounter) -> None:
        self.handler = handler
        self.opts = opts
        self.rejections = rejections
        self.connections: set[HttpConnection] = set()
        self.requests = 0
        self.idle_closed = 0
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._waiters: dict[asyncio.Future[Response], list[tuple[HttpConnection, list[object]]]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self, *, reuse_port: bool = False) -> tuple[str, int]:
        self.loop = asyncio.get_running_loop()
        ctx = None
        if self.opts.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(self.opts.cert_file), str(self.opts.key_file))
        self._server = await self.loop.create_server(
            lambda: HttpConnection(self), self.opts.host, self.opts.port, ssl=ctx, reuse_port=reuse_port or None,
            backlog=4096, ssl_handshake_timeout=self.opts.request_timeout_s if ctx else None)
        self._sweeper = self.loop.call_later(SWEEP_EVERY_S, self._sweep)
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()

    def wait(self, fut: asyncio.Future[Response], conn: HttpConnection, slot: list[object]) -> None:
        """Answer `slot` of `conn` when `fut` resolves. The requests of one micro-batch share a
        future: one done-callback per future answers them all (not a closure and a scheduled
        callback per request)."""
        waiters = self._waiters.get(fut)
        if waiters is None:
            waiters = self._waiters[fut] = []
            fut.add_done_callback(self._resolved)
        waiters.append((conn, slot))

    def _resolved(self, fut: asyncio.Future[Response]) -> None:
        resp = fut.result() if not fut.cancelled() else Response(503, retry_after_s=o.RETRY_AFTER_S)
        keep, close = rendered(resp, True), rendered(resp, False)   # once for the whole micro-batch
        for conn, slot in self._waiters.pop(fut, ()):
            if not conn.closed:
                slot[0] = keep if slot[1] else close
                conn._flush()

    def _sweep(self) -> None:
        """Slow clients (a request started and not finished) and idle keep-alive connections."""
        assert self.loop is not None
        now = self.loop.time()
        for conn in list(self.connections):
            conn.check_timeouts(now)
        self._sweeper = self.loop.call_later(SWEEP_EVERY_S, self._sweep)


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, hand each request over, answer in order (pipelining-safe)."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.opts = server.opts
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self._at_start = True
        self._prefix = b""
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._header_count = 0
        self._body = bytearray()
        self._slots: collections.deque[list[object]] = collections.deque()   # [bytes | None, keep_alive]
        self._reading = True
        self._writing = True
        self._broken = False     # the parser refused this connection's input: nothing more is read
        self.request_started: float | None = None
        self.last_activity = time.monotonic()

    # ---- transport events ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)   # uvloop's transports are not subclasses
        srv = self.server
        assert srv.loop is not None
        self.last_activity = srv.loop.time()
        if len(srv.connections) >= self.opts.max_connections:
            srv.rejections.reject("too_many_connections")
            self.transport.abort()
            self.closed = True
            return
        srv.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self._slots.clear()

    def pause_writing(self) -> None:
        """The client does not read its answers: stop reading its requests (bounded buffers)."""
        self._writing = False
        self._set_reading()

    def resume_writing(self) -> None:
        self._writing = True
        self._set_reading()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self.closed = True

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        loop = self.server.loop
        assert loop is not None
        self.last_activity = loop.time()
        if self._at_start:
            if self.request_started is None:
                self.request_started = self.last_activity
            if self._prefix or not data.startswith(_PLAIN_STARTS):
                fixed = self._fix_target(data)
                if fixed is None:
                    return
                data = fixed
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refuse):
                self._refuse(cause.resp, cause.kind)
            else:
                log.exception("ingest request handler failed")
                self._refuse(Response(400, b"bad request\n"), "bad_http")
        except httptools.HttpParserUpgrade:
            self._refuse(Response(400, b"upgrade not supported\n"), "bad_http")
        except httptools.HttpParserError:
            self._refuse(Response(400, b"bad request\n"), "bad_http")

    def _fix_target(self, data: bytes) -> bytes | None:
        """`GET ?id=..` -> `GET /?id=..` (see the module docstring); None: wait for more bytes."""
        buf = self._prefix + data if self._prefix else data
        sp = buf.find(b" ", 0, _TARGET_PEEK_BYTES)
        if sp < 0:
            if len(buf) < _TARGET_PEEK_BYTES:
                self._prefix = buf
                return None
            self._prefix = b""
            return buf
        self._prefix = b""
        if buf[sp + 1:sp + 2] == b"?":
            return buf[:sp + 1] + b"/" + buf[sp + 1:]
        return buf

    # ---- parser callbacks --------------------------------------------------------------------
    # No on_message_begin/on_headers_complete: every parser callback is a Python call per request;
    # the request's start is seen in data_received, the Content-Length check is done in on_header.
    def on_url(self, url: bytes) -> None:
        if self._at_start:
            self._at_start = False
            self._url = url          # the whole target in one callback: the common case, no copy
            self._headers = {}
            self._header_bytes = self._header_count = 0
            if self._body:
                self._body = bytearray()
        else:
            self._url += url
        if len(self._url) > o.MAX_REQUEST_LINE_BYTES:
            raise _Refuse(Response(414, b"request line too long\n"), "request_line_too_long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        self._header_count += 1
        if self._header_bytes > _MAX_HEADER_BYTES or self._header_count > _MAX_HEADERS:
            raise _Refuse(Response(431, b"headers too large\n"), "headers_too_large")
        key = name.lower()
        if key not in KEPT_HEADERS:
            return
        self._headers[key.decode("latin-1")] = value.decode("latin-1")
        if key == b"content-length" and (not value.isdigit() or int(value) > o.MAX_BODY_BYTES):
            raise _Refuse(Response(413, b"body too large\n"), "body_too_large")
        if key == b"expect" and value.lower() == b"100-continue" and self.transport is not None and not self._slots:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")   # curl waits a second for it otherwise

    def on_body(self, body: bytes) -> None:
        self._body += body
        if len(self._body) > o.MAX_BODY_BYTES:
            raise _Refuse(Response(413, b"body too large\n"), "body_too_large")

    def on_message_complete(self) -> None:
        self._at_start = True
        self.request_started = None
        srv = self.server
        srv.requests += 1
        keep_alive = self.parser.should_keep_alive()
        path, _, query = self._url.partition(b"?")
        if b"#" in query:
            query = query.partition(b"#")[0]
        req = Request(path.decode("latin-1") or "/", query, self._headers, bytes(self._body) if self._body else b"")
        result = srv.handler(req)
        slot: list[object] = [None, keep_alive]
        self._slots.append(slot)
        if isinstance(result, Response):
            slot[0] = rendered(result, keep_alive)
            self._flush()
        else:
            srv.wait(result, self, slot)
            if len(self._slots) >= o.MAX_PIPELINED:
                self._set_reading()

    # ---- answers ----------------------------------------------------------------------------
    def answer(self, slot: list[object], resp: Response) -> None:
        if self.closed:
            return
        slot[0] = rendered(resp, bool(slot[1]))
        self._flush()

    def _flush(self) -> None:
        """Write every answer that is ready, in request order; close after a non-keep-alive one."""
        transport = self.transport
        assert transport is not None
        while self._slots and self._slots[0][0] is not None:
            data, keep_alive = self._slots.popleft()
            assert isinstance(data, bytes)
            transport.write(data)
            if not keep_alive:
                self._slots.clear()
                transport.close()
                self.closed = True
                self.server.connections.discard(self)
                return
        if not self._reading:
            self._set_reading()

    def _set_reading(self) -> None:
        if self.closed or self.transport is None or self._broken:
            return
        want = self._writing and len(self._slots) < o.MAX_PIPELINED
        if want != self._reading:
            self._reading = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def _refuse(self, resp: Response, kind: RejectionKind) -> None:
        """Answer a broken request (after the answers owed before it) and close the connection."""
        self.server.rejections.reject(kind)
        if self.closed or self.transport is None or self._broken:
            return
        self._broken = True
        self.transport.pause_reading()
        self._reading = False
        self._slots.append([rendered(resp, False), False])
        if self._slots[0][0] is None:   # earlier answers still pending: send this one after them
            return
        self._flush()

    def check_timeouts(self, now: float) -> None:
        if self.closed or (self.request_started is None and now - self.last_activity <= self.opts.idle_timeout_s):
            return
        if self.request_started is not None and now - self.request_started > self.opts.request_timeout_s:
            self.request_started = None
            self._refuse(Response(408, b"request timeout\n"), "slow_client")
        elif not self._slots and self.request_started is None and now - self.last_activity > self.opts.idle_timeout_s:
            self.server.idle_closed += 1
            self.abort()
            self.server.connections.discard(self)
