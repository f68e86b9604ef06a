"""Fan-out from Redis to WebSocket clients, with bounded buffering per client.

- `TrackHub`: WS /ws/track/{car_id}. One pub/sub connection subscribed to exactly the units someone
  tracks (`car:location:stream:{car_id}`, the seed's channel, so seed-style producers count too)
  and to `cartrack:events` (a unit removed from the fleet ends its streams). Each message is
  validated and encoded once, then queued for every client of that unit.
- `FleetHub`: WS /ws/fleet. While a client is connected, a LiveFeed (the desktop's own subscriber:
  batches plus per-unit channels, deduplicated, snapshot on reconnect) runs on the API's loop;
  what it delivers is sent in frames at most every FLEET_FRAME_S.

A client's queue holds the newest `limit` frames (a burst beyond that skips the oldest: for a
moving unit the newest position is what matters). A client that does not read is dropped by the
sender (routes_ws.py): a send that cannot complete within the stall limit (its socket buffers are
full) aborts the connection, as does a ping left unanswered (limits.py). Memory per client is
bounded by that queue plus the transport's write buffer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import Any

import orjson
from pydantic import TypeAdapter
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from ..domain.messages import FleetEvent, IncidentEvent, MessageRejected, StatusEvent, decode_event, decode_position
from ..domain.models import Position
from ..services.dispatch.keys import EVENTS_CHANNEL
from ..services.infra.rejections import RejectionCounter
from ..services.infra.subscriber import Subscriber
from ..services.infra.timeouts import within
from ..services.live.keys import CHANNEL_PREFIX
from ..services.live.live_feed import FeedState, LiveFeed
from ..services.live.live_store import LiveStore
from .models import FleetFrame, PositionOut, StatusFrame

log = logging.getLogger(__name__)

FLEET_FRAME_S = 0.2          # /ws/fleet: what arrived within this window goes out as one frame
CLOSE_SERVER_STOPPING = 1001
CLOSE_UNKNOWN_UNIT = 4404
CLOSE_CLIENT_GONE = 1000
_EVENTS = EVENTS_CHANNEL.encode()
_PREFIX = CHANNEL_PREFIX.encode()
_FLEET_FRAME = TypeAdapter(FleetFrame)


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class Listener:
    """One WebSocket client's bounded queue of text frames (the newest `limit`)."""

    def __init__(self, limit: int) -> None:
        self._queue: collections.deque[str] = collections.deque(maxlen=limit)
        self._wake = asyncio.Event()
        self.closed: Closed | None = None
        self.skipped = 0

    def push(self, text: str) -> None:
        if self.closed is not None:
            return
        if len(self._queue) == self._queue.maxlen:
            self.skipped += 1    # the deque drops the oldest
        self._queue.append(text)
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = Closed(code, reason)
            self._wake.set()

    async def next(self) -> str:
        while True:
            if self.closed is not None:
                raise self.closed
            if self._queue:
                return self._queue.popleft()
            self._wake.clear()
            await self._wake.wait()


def position_text(p: Position) -> str:
    """The seed's JSON for one position, checked by its response model."""
    return PositionOut.of(p).model_dump_json()


class TrackHub(Subscriber):
    name = "API tracking"
    client_name = "cartrack-api-track"

    def __init__(self, redis_url: str, *, rejections: RejectionCounter) -> None:
        super().__init__(redis_url)
        self.rejections = rejections
        self._units: dict[str, set[Listener]] = {}
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> int:
        return sum(len(s) for s in self._units.values())

    async def _subscribe(self, pubsub: PubSub) -> None:
        self._pubsub = None
        async with self._lock:
            await within(pubsub.subscribe(EVENTS_CHANNEL, *(CHANNEL_PREFIX + c for c in self._units)), 5.0)
            self._pubsub = pubsub

    def _connection_lost(self, detail: str, was_connected: bool) -> None:
        self._pubsub = None
        super()._connection_lost(detail, was_connected)

    async def join(self, car_id: str, listener: Listener) -> None:
        listeners = self._units.setdefault(car_id, set())
        listeners.add(listener)
        if len(listeners) == 1:
            await self._resubscribe(car_id)

    def leave(self, car_id: str, listener: Listener) -> None:
        listeners = self._units.get(car_id)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._units[car_id]
            task = asyncio.ensure_future(self._resubscribe(car_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _resubscribe(self, car_id: str) -> None:
        """Bring the subscription of one unit in line with whether anyone tracks it (serialised, so a
        quick leave-and-join can never end unsubscribed)."""
        async with self._lock:
            ps = self._pubsub
            if ps is None:
                return   # subscribed with the rest on the next (re)connect
            try:
                if car_id in self._units:
                    await within(ps.subscribe(CHANNEL_PREFIX + car_id), 5.0)
                else:
                    await within(ps.unsubscribe(CHANNEL_PREFIX + car_id), 5.0)
            except (RedisError, OSError, TimeoutError) as exc:
                log.debug("API tracking: (un)subscribe %s failed (%s); done again on reconnect", car_id, exc)

    def close_all(self, code: int, reason: str) -> None:
        for listeners in self._units.values():
            for listener in listeners:
                listener.close(code, reason)

    def _on_message(self, msg: dict[str, Any]) -> None:
        channel, data = msg.get("channel"), msg.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            self.rejections.reject("bad_type", None)
            return
        if channel == _EVENTS:
            if b'"fleet"' in data:   # only removals matter here; skip the rest unparsed
                self._fleet_event(data)
            return
        car_id = channel[len(_PREFIX):].decode("utf-8", "replace")
        listeners = self._units.get(car_id)
        if not listeners:
            return
        try:
            p = decode_position(data, now=time.time(), loads=orjson.loads, expected_car_id=car_id)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, car_id)
            return
        text = position_text(p)
        for listener in list(listeners):
            listener.push(text)

    def _fleet_event(self, data: bytes) -> None:
        try:
            event = decode_event(data, loads=orjson.loads)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, None)
            return
        if isinstance(event, FleetEvent) and event.action == "remove":
            for listener in list(self._units.get(event.car_id, ())):
                listener.close(CLOSE_UNKNOWN_UNIT, "unit removed from the fleet")


class FleetHub:
    def __init__(self, redis_url: str, store: LiveStore, *, rejections: RejectionCounter,
                 frame_s: float = FLEET_FRAME_S) -> None:
        self._url = redis_url
        self._store = store
        self.rejections = rejections
        self._frame_s = frame_s
        self._listeners: set[Listener] = set()
        self._feed: LiveFeed | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, Position] = {}
        self._flush: asyncio.TimerHandle | None = None

    @property
    def clients(self) -> int:
        return len(self._listeners)

    @property
    def feed_live(self) -> bool:
        return self._feed is not None and self._feed.state is FeedState.LIVE

    async def join(self, listener: Listener) -> None:
        """A new client: a snapshot of every live unit first, then batches."""
        self._listeners.add(listener)
        if self._task is None or self._task.done():
            self._feed = LiveFeed(self._url, self._store, on_snapshot=self._positions,
                                  on_positions=lambda ps, _sent: self._positions(ps), rejections=self.rejections)
            self._task = asyncio.ensure_future(self._feed.run())
        snapshot = await self._store.get_all_car_locations()
        listener.push(_frame("snapshot", snapshot))

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        if not self._listeners and self._task is not None:
            self._task.cancel()
            self._task = None

    def close_all(self, code: int, reason: str) -> None:
        for listener in self._listeners:
            listener.close(code, reason)

    async def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _positions(self, positions: list[Position]) -> None:
        pending = self._pending
        for p in positions:
            cur = pending.get(p.car_id)
            if cur is None or p.timestamp >= cur.timestamp:
                pending[p.car_id] = p
        if self._flush is None and pending:
            self._flush = asyncio.get_running_loop().call_later(self._frame_s, self._send)

    def _send(self) -> None:
        self._flush = None
        positions, self._pending = list(self._pending.values()), {}
        if not positions or not self._listeners:
            return
        text = _frame("batch", positions)
        for listener in list(self._listeners):
            listener.push(text)

    def status(self, change: StatusEvent | IncidentEvent) -> None:
        """A unit's dispatch status changed (from the runtime): told to every wall display."""
        if not isinstance(change, StatusEvent) or not self._listeners:
            return
        a = change.assignment
        text = StatusFrame(car_id=a.car_id, status=a.status, incident_id=a.incident_id, by=a.by).model_dump_json()
        for listener in list(self._listeners):
            listener.push(text)


def _frame(kind: str, positions: list[Position]) -> str:
    rows = [(p.car_id, p.lat, p.lng, p.speed, p.heading, p.timestamp) for p in positions]
    frame = _FLEET_FRAME.validate_python({"type": kind, "cars": rows})
    return _FLEET_FRAME.dump_json(frame).decode()
