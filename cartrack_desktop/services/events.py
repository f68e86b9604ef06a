"""Subscriber for `cartrack:events` (dispatch events between instances), with reconnect.

On every (re)connect it calls `on_connect` first, so state missed while disconnected is
reloaded (the events are a notification; the state is in Redis and MongoDB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError

from ..domain.messages import MessageRejected, decode_event
from .dispatch import EVENTS_CHANNEL
from .live_feed import BACKOFF_S, DEAD_AFTER_S, HEARTBEAT_S
from .redis_conn import make_redis
from .rejections import RejectionCounter
from .supervisor import backoff_delay
from .timeouts import within

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


class EventsListener:
    def __init__(self, redis_url: str, *, on_connect: Callable[[], Awaitable[None]],
                 rejections: RejectionCounter) -> None:
        self._url = redis_url
        self._on_connect = on_connect
        self.handlers: list[Handler] = []
        self.rejections = rejections
        self.connected = False

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self.connected:
                    attempt = 0
                    log.warning("dispatch events: connection lost (%s)", exc)
                self.connected = False
            await asyncio.sleep(backoff_delay(attempt, *BACKOFF_S))
            attempt = min(attempt + 1, 30)

    async def _session(self) -> None:
        client = make_redis(self._url, name="cartrack-events", pubsub=True)
        ps = client.pubsub(ignore_subscribe_messages=True)
        try:
            await within(ps.subscribe(EVENTS_CHANNEL), 5.0)
            await within(self._on_connect(), 15.0)
            self.connected = True
            last_rx = last_ping = time.monotonic()
            while True:
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
                if msg.get("type") != "message":
                    continue
                self._dispatch(msg.get("data"))
        finally:
            with contextlib.suppress(Exception):
                await within(ps.aclose(), 1.0)  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await within(client.aclose(), 1.0)

    def _dispatch(self, data: object) -> None:
        if not isinstance(data, bytes):
            self.rejections.reject("bad_type", None)
            return
        try:
            event = decode_event(data, loads=orjson.loads)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, None)
            return
        for handler in list(self.handlers):
            try:
                handler(event)
            except Exception:  # one broken handler must not stop the others
                log.exception("dispatch event handler failed")
