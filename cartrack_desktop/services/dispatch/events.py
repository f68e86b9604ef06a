"""Subscriber for `cartrack:events` (dispatch events between instances), with reconnect.

On every (re)connect it calls `on_connect` first, so state missed while disconnected is
reloaded (the events are a notification; the state is in Redis and MongoDB).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio.client import PubSub

from ...domain.messages import DispatchEvent, MessageRejected, decode_event
from ..infra.observers import Observers
from ..infra.rejections import RejectionCounter
from ..infra.subscriber import Subscriber
from ..infra.timeouts import within
from .keys import EVENTS_CHANNEL

log = logging.getLogger(__name__)

class EventsListener(Subscriber):
    name = "dispatch events"
    client_name = "cartrack-events"

    def __init__(self, redis_url: str, *, on_connect: Callable[[], Awaitable[None]],
                 rejections: RejectionCounter) -> None:
        super().__init__(redis_url)
        self._on_connect = on_connect
        self.received: Observers[DispatchEvent] = Observers("dispatch events")
        self.rejections = rejections

    async def _subscribe(self, pubsub: PubSub) -> None:
        await within(pubsub.subscribe(EVENTS_CHANNEL), 5.0)
        await within(self._on_connect(), 15.0)

    def _on_message(self, msg: dict[str, Any]) -> None:
        data = msg.get("data")
        if not isinstance(data, bytes):
            self.rejections.reject("bad_type", None)
            return
        try:
            event = decode_event(data, loads=orjson.loads)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, None)
            return
        self.received.emit(event)   # one broken handler is logged there and does not stop the others
