"""What every Redis pub/sub subscriber here needs: reconnect with capped exponential backoff and
jitter, and a heartbeat that detects a half-open or paused server instead of waiting forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from .redis_conn import make_redis
from .retry import Attempts, Backoff
from .timeouts import within

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0            # our PING on the subscriber connection
DEAD_AFTER_S = 3.5           # nothing at all received for this long: the link is dead (or Redis paused)
RECONNECT_BACKOFF = Backoff(0.25, 2.0)   # so we are back within ~2 s of Redis
YIELD_EVERY = 256            # messages handled before pausing for other threads and tasks


class Subscriber:
    """Subclasses subscribe in `_subscribe`, then every message reaches `_on_message`."""

    name = "subscriber"              # for logs
    client_name = "cartrack-sub"     # for CLIENT LIST (no spaces allowed)

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self.connected = False
        self.reconnects = 0
        self.yield_pause_s = 0.0

    # ---- for subclasses --------------------------------------------------------------------
    async def _subscribe(self, pubsub: PubSub) -> None:
        raise NotImplementedError

    async def _between_messages(self) -> None:
        """Called before each read (e.g. to reload state after a transparent reconnect)."""

    def _on_message(self, msg: dict[str, Any]) -> None:
        raise NotImplementedError

    def _connection_lost(self, detail: str, was_connected: bool) -> None:
        if was_connected:
            log.warning("%s: connection lost (%s)", self.name, detail)
        else:
            log.debug("%s: cannot connect (%s)", self.name, detail)

    # ---- the machinery -----------------------------------------------------------------------
    async def run(self) -> None:
        attempts = Attempts(RECONNECT_BACKOFF)
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                was = self.connected
                if was:
                    attempts.reset()  # it was working: start the backoff afresh
                self.connected = False
                self._connection_lost(detail, was)
            self.reconnects += 1
            await attempts.pause()

    async def _session(self) -> None:
        client: aioredis.Redis = make_redis(self._url, name=self.client_name, pubsub=True)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await self._subscribe(pubsub)
            self.connected = True
            await self._listen(pubsub)
        finally:
            with contextlib.suppress(Exception):
                await within(pubsub.aclose(), 1.0)  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await within(client.aclose(), 1.0)

    async def _listen(self, ps: PubSub) -> None:
        last_rx = last_ping = time.monotonic()
        handled = 0
        while True:
            await self._between_messages()
            now = time.monotonic()
            if now - last_ping >= HEARTBEAT_S:
                await within(ps.ping(), 2.0)
                last_ping = now
            msg = await ps.get_message(timeout=HEARTBEAT_S / 2)
            if msg is None:
                if time.monotonic() - last_rx > DEAD_AFTER_S:
                    raise TimeoutError(f"no reply from Redis for {DEAD_AFTER_S:.0f} s")
                continue
            last_rx = time.monotonic()
            if msg.get("type") not in ("message", "pmessage"):
                continue  # pong and (un)subscribe confirmations
            self._on_message(msg)
            handled += 1
            if handled % YIELD_EVERY == 0:
                # A real (if tiny) sleep when asked: on its own thread a busy loop would otherwise
                # hold the GIL back to back under a flood, and the UI's callbacks would queue for it.
                await asyncio.sleep(self.yield_pause_s)
