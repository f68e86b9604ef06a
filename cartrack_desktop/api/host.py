"""Where the API runs: uvicorn on a thread and event loop of its own, a supervised task of the runtime.

Why not on the runtime's loop: in the window that loop is the Qt thread (qasync). 1,000 WebSocket
clients mean 1,000 socket writes a second, each a Python callback on the thread that also draws
the map and handles input, and qasync watches every socket with a QSocketNotifier of its own. On a
thread of its own (uvloop when installed) the API's socket work never queues behind a repaint,
and the UI thread only runs the short calls that touch the runtime's state (`port.py`): writes,
and reads of in-memory state. Headless runs the same way, so the tests cover the window's path.

The API thread has its own Redis and MongoDB connections (asyncio clients belong to one loop) to
the runtime's servers, for reads (positions, nearby, tracking, registry, incident records, tokens).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from ..config import ApiBind, Settings
from ..services.dispatch.records import Records
from ..services.history.reader import HistoryReader
from ..services.history.registry import FleetRegistry
from ..services.infra.mongo import Doc
from ..services.infra.redis_conn import make_redis
from ..services.infra.retry import every
from ..services.infra.timeouts import within
from ..services.live.live_store import LiveStore
from ..services.runtime import Runtime
from .app import create_app
from .auth import Auth
from .context import DEFAULT_WS_MAX_CLIENTS, DEFAULT_WS_QUEUE, DEFAULT_WS_SEND_STALL_S, ApiContext
from .hubs import CLOSE_SERVER_STOPPING, FleetHub, TrackHub
from .limits import ApiWebSocket, GuardedHttp
from .port import RuntimePort
from .tokens import TokenStore

log = logging.getLogger(__name__)

TOKEN_REFRESH_S = 2.0          # a new or revoked token takes effect within this
TOKEN_CHECK_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 2.5
START_TIMEOUT_S = 15.0
MAX_CONNECTIONS = 12_000       # uvicorn answers 503 beyond (HTTP and WebSocket connections)
WS_MAX_MESSAGE_BYTES = 4096    # clients only ever send an auth message
MONGO_TIMEOUT_MS = 5000


class ApiRefused(RuntimeError):
    """The API will not start; the message says why (one line for the log, the banner, the exit)."""


@dataclass(frozen=True, slots=True)
class ApiConfig:
    bind: ApiBind
    cert: str | None = None
    key: str | None = None
    cors: tuple[str, ...] = ()
    rate_per_s: float = 50.0
    ws_queue: int = DEFAULT_WS_QUEUE
    ws_max_clients: int = DEFAULT_WS_MAX_CLIENTS
    ws_send_stall_s: float = DEFAULT_WS_SEND_STALL_S
    ws_ping_interval_s: float = 10.0   # a client that answers no ping within the timeout is dropped
    ws_ping_timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, s: Settings) -> ApiConfig:
        assert s.api is not None
        return cls(s.api, s.api_cert, s.api_key, s.api_cors, float(s.api_rate))


def _bind(bind: ApiBind) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind.host, bind.port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ApiRefused(f"the API cannot listen on {bind}: {exc.strerror or exc}") from None
    return sock


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ApiHost:
    def __init__(self, runtime: Runtime, config: ApiConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.address: tuple[str, int] | None = None   # where it listens (port 0 resolved)
        self.ctx: ApiContext | None = None            # the running app's context (tests, bench)
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        assert self.address is not None
        host, port = self.address
        scheme = "https" if self.config.cert else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"

    # ---- on the runtime's loop --------------------------------------------------------------------
    async def prepare(self) -> None:
        """Fail closed before listening: exposed only with a token; the port must be free."""
        if not self.config.bind.loopback:
            records = self.runtime.records
            assert records is not None
            try:
                tokens = await within(TokenStore(records.db).valid(), TOKEN_CHECK_TIMEOUT_S)
            except (PyMongoError, OSError, TimeoutError) as exc:
                raise ApiRefused(f"the API on {self.config.bind} needs its tokens, and MongoDB did not answer: "
                                 f"{str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}") from None
            if not tokens:
                raise ApiRefused(f"the API on {self.config.bind} (not loopback) needs at least one token: "
                                 "cartrack-desktop api-token create NAME --role read|dispatch|admin")
        self._socket = _bind(self.config.bind)
        self.address = self._socket.getsockname()[:2]

    async def run(self) -> None:
        """For the supervisor: serve until cancelled; an unexpected end raises (and is restarted)."""
        sock, self._socket = self._socket, None
        if sock is None:
            sock = _bind(self.config.bind)
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def end() -> None:
            if not ended.done():
                ended.set_result(None)

        def finished() -> None:
            with contextlib.suppress(RuntimeError):   # the runtime's loop has closed
                loop.call_soon_threadsafe(end)

        thread = threading.Thread(target=self._main, args=(sock, loop, started, finished), name="cartrack-api",
                                  daemon=True)
        thread.start()
        try:
            await within(asyncio.wrap_future(started), START_TIMEOUT_S)
            log.info("API listening on %s (docs at %s/docs)", self.url, self.url)
            await asyncio.shield(ended)   # (a cancel must not cancel `ended`: it says when the thread is done)
            raise RuntimeError("the API server stopped unexpectedly")
        finally:
            await self._stop_and_wait(ended)

    async def _stop_and_wait(self, ended: asyncio.Future[None]) -> None:
        self._request_stop()
        cancelled = False
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while not ended.done() and (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait({ended}, timeout=left)
            except asyncio.CancelledError:
                cancelled = True   # the supervisor repeats its cancel: finish stopping first
        if not ended.done():
            log.warning("the API server did not stop within %.1f s", STOP_TIMEOUT_S)
        if cancelled:
            raise asyncio.CancelledError

    def _request_stop(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._begin_stop)

    # ---- on the API's thread ---------------------------------------------------------------------
    def _main(self, sock: socket.socket, runtime_loop: asyncio.AbstractEventLoop,
              started: concurrent.futures.Future[None], finished: Callable[[], None]) -> None:
        loop = _new_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock, runtime_loop, started))
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            else:
                log.exception("the API server failed")
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None
            sock.close()
            log.info("API stopped")
            finished()

    def _context(self, runtime_loop: asyncio.AbstractEventLoop,
                 mongo: AsyncMongoClient[Doc]) -> tuple[ApiContext, Callable[[], object]]:
        rt, cfg = self.runtime, self.config
        redis = make_redis(rt.redis_url, name="cartrack-api")
        db = mongo[rt.settings.mongo_db]
        store = LiveStore(redis, rejections=rt.redis_rejections)
        ctx = ApiContext(
            port=RuntimePort(rt, runtime_loop), store=store,
            registry=FleetRegistry(db, HistoryReader(db, rejections=rt.mongo_rejections),
                                   rejections=rt.mongo_rejections),
            records=Records(db, rejections=rt.mongo_rejections), tokens=TokenStore(db),
            auth=Auth(loopback=cfg.bind.loopback, rate_per_s=cfg.rate_per_s),
            tracks=TrackHub(rt.redis_url, rejections=rt.redis_rejections),
            fleet=FleetHub(rt.redis_url, store, rejections=rt.redis_rejections),
            ws_queue=cfg.ws_queue, ws_max_clients=cfg.ws_max_clients, ws_send_stall_s=cfg.ws_send_stall_s)
        return ctx, redis.aclose

    def _uvicorn(self, ctx: ApiContext) -> uvicorn.Server:
        cfg = self.config
        config = uvicorn.Config(
            create_app(ctx, cors_origins=cfg.cors), http=GuardedHttp, ws=ApiWebSocket, lifespan="off",
            log_config=None, access_log=False, server_header=False, proxy_headers=False,
            ws_ping_interval=cfg.ws_ping_interval_s, ws_ping_timeout=cfg.ws_ping_timeout_s,
            ws_max_size=WS_MAX_MESSAGE_BYTES, ws_max_queue=8, ws_per_message_deflate=False,
            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5, timeout_graceful_shutdown=1,
            ssl_certfile=cfg.cert, ssl_keyfile=cfg.key)
        return uvicorn.Server(config)

    async def _serve(self, sock: socket.socket, runtime_loop: asyncio.AbstractEventLoop,
                     started: concurrent.futures.Future[None]) -> None:
        rt = self.runtime
        mongo: AsyncMongoClient[Doc] = AsyncMongoClient(
            rt.mongo_uri, serverSelectionTimeoutMS=MONGO_TIMEOUT_MS, connectTimeoutMS=MONGO_TIMEOUT_MS,
            appname="cartrack-api", tz_aware=True)
        ctx, close_redis = self._context(runtime_loop, mongo)
        self.ctx = ctx
        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(ctx.tracks.run()), asyncio.ensure_future(ctx.stalls.run()),
                 asyncio.ensure_future(every(TOKEN_REFRESH_S, lambda: self._load_tokens(ctx), what="API tokens",
                                             errors=(PyMongoError, OSError, TimeoutError)))]
        unfollow: Callable[[], None] | None = None
        try:
            unfollow = await ctx.port.follow_changes(ctx.fleet.status, loop)
            self._server = server = self._uvicorn(ctx)
            serving = asyncio.ensure_future(server.serve(sockets=[sock]))
            while not server.started and not serving.done():   # noqa: ASYNC110 - uvicorn has only this flag
                await asyncio.sleep(0.01)
            if serving.done():
                serving.result()   # its error
                raise ApiRefused("the API server did not start")
            started.set_result(None)
            await serving
        finally:
            if unfollow is not None:
                unfollow()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ctx.fleet.stop()
            with contextlib.suppress(Exception):
                await within(close_redis(), 1.0)   # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                await within(mongo.close(), 1.0)

    async def _load_tokens(self, ctx: ApiContext) -> None:
        ctx.auth.set_tokens(await within(ctx.tokens.valid(), 5.0))

    def _begin_stop(self) -> None:
        """Every WebSocket is told 1001 (server stopping), then uvicorn stops."""
        ctx, server = self.ctx, self._server
        if ctx is not None:
            ctx.tracks.close_all(CLOSE_SERVER_STOPPING, "server stopping")
            ctx.fleet.close_all(CLOSE_SERVER_STOPPING, "server stopping")
        if server is not None:
            asyncio.get_running_loop().call_later(0.05, setattr, server, "should_exit", True)


async def start_api(runtime: Runtime) -> ApiHost | None:
    """When the settings ask for it: check, listen, and run the API under the runtime's supervisor.

    Raises ApiRefused (exposed without a token, port taken, MongoDB silent about the tokens).
    """
    settings = runtime.settings
    if settings.api is None:
        return None
    host = ApiHost(runtime, ApiConfig.from_settings(settings))
    await host.prepare()
    runtime.supervisor.start("api", host.run)
    return host
