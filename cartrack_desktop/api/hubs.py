"""Fan-out from Redis to WebSocket clients, with bounded buffering per client.

- `TrackHub`: WS /ws/track/{car_id}. One pub/sub connection. Producers that write through the live
  store (the simulator, the device ingest) publish each tick as batches on `cartrack:batch` before
  the per-unit copies: the hub reads those batches (one message per 1,000 units, only the tracked
  units' rows checked) and subscribes a tracked unit's own channel (`car:location:stream:{car_id}`,
  the seed's) only while no batch carries it, so seed-style producers are followed too and each
  update reaches a client once. Positions are validated and encoded once, then queued per client.
  `cartrack:events` tells it when a unit leaves the fleet (its streams end).
- `FleetHub`: WS /ws/fleet. While a client is connected, a LiveFeed (the desktop's own subscriber:
  batches plus per-unit channels, deduplicated, snapshot on reconnect) runs on the API's loop;
  what it delivers is sent in frames at most every FLEET_FRAME_S.

A client's queue holds the newest `limit` frames (a burst beyond that skips the oldest: for a
moving unit the newest position is what matters). A client that does not read is dropped: a send
that has not completed within the stall limit (its socket buffers are full; `StallWatch`) or a
ping left unanswered (limits.py) aborts its connection. Memory per client is bounded by that queue
plus the transport's write buffer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import TypeAdapter
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from ..domain.messages import (
    FleetEvent,
    IncidentEvent,
    MessageRejected,
    StatusEvent,
    decode_batch,
    decode_event,
    decode_position,
)
from ..domain.models import Position
from ..services.dispatch.keys import EVENTS_CHANNEL
from ..services.infra.rejections import RejectionCounter
from ..services.infra.subscriber import Subscriber
from ..services.infra.timeouts import within
from ..services.live.keys import BATCH_CHANNEL, CHANNEL_PREFIX
from ..services.live.live_feed import BATCH_COVERS_S, FeedState, LiveFeed
from ..services.live.live_store import LiveStore
from .limits import text_frame
from .models import FleetFrame, StatusFrame

log = logging.getLogger(__name__)

FLEET_FRAME_S = 0.2          # /ws/fleet: what arrived within this window goes out as one frame
COVERAGE_CHECK_S = 1.0       # how often units that left the batches get their own channel again
STALL_CHECK_S = 1.0
CLOSE_SERVER_STOPPING = 1001
CLOSE_UNKNOWN_UNIT = 4404
CLOSE_CLIENT_GONE = 1000
_EVENTS = EVENTS_CHANNEL.encode()
_BATCH = BATCH_CHANNEL.encode()
_PREFIX = CHANNEL_PREFIX.encode()
_FLEET_FRAME = TypeAdapter(FleetFrame)


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class Frame:
    """One message for many clients: its text, and its WebSocket frame built once, when first needed."""

    __slots__ = ("_frame", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(self.text.encode())
        return self._frame


class Listener:
    """One WebSocket client's bounded queue of text frames (the newest `limit`).

    With `write_frame` (limits.ApiWebSocket), a frame is written at once while nothing is queued or
    being sent; otherwise it is queued for the client's sender task, which sends the ASGI way.
    """

    def __init__(self, limit: int, abort: Callable[[], object] = lambda: None,
                 write_frame: Callable[[bytes], bool] | None = None) -> None:
        self._queue: collections.deque[str] = collections.deque(maxlen=limit)
        self._wake = asyncio.Event()
        self.abort = abort
        self._write_frame = write_frame
        self.closed: Closed | None = None
        self.sending_since: float | None = None   # monotonic time a send started, while it runs

    def push(self, message: Frame | str) -> None:
        if self.closed is not None:
            return
        if (self._write_frame is not None and not self._queue and self.sending_since is None
                and isinstance(message, Frame) and self._write_frame(message.frame)):
            return
        self._queue.append(message.text if isinstance(message, Frame) else message)   # full: the oldest goes
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


class StallWatch:
    """Drops clients whose current send has been blocked for stall_s: one check a second for all of
    them, instead of a timer around every send (which cost more than the send itself)."""

    def __init__(self, stall_s: float, on_drop: Callable[[Listener], object]) -> None:
        self.stall_s = stall_s
        self._on_drop = on_drop
        self.listeners: set[Listener] = set()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(min(STALL_CHECK_S, self.stall_s / 2))
            now = time.monotonic()
            for listener in [x for x in self.listeners
                             if x.sending_since is not None and now - x.sending_since > self.stall_s]:
                self.listeners.discard(listener)
                self._on_drop(listener)


def position_text(p: Position) -> str:
    """The seed's JSON for one position (PositionOut's shape; tests validate messages against it).

    Encoded by orjson from a Position the domain decoder accepted, not through the model: 1.5 ms
    instead of 7.9 ms for a tick of 1,000 tracked units here, time every client's update waited for."""
    return orjson.dumps(p.as_dict()).decode()


class TrackHub(Subscriber):
    name = "API tracking"
    client_name = "cartrack-api-track"

    def __init__(self, redis_url: str, *, rejections: RejectionCounter) -> None:
        super().__init__(redis_url)
        self.rejections = rejections
        self._units: dict[str, set[Listener]] = {}
        self._own_channel: set[str] = set()        # tracked units whose seed channel is subscribed
        self._in_batch: dict[str, float] = {}      # tracked unit -> monotonic time of its last batch row
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._checked_at = 0.0
        self.clients = 0

    async def _subscribe(self, pubsub: PubSub) -> None:
        self._pubsub = None
        async with self._lock:
            self._own_channel = set(self._units)   # coverage is unknown after a reconnect: ask for all
            self._in_batch.clear()
            await within(pubsub.subscribe(EVENTS_CHANNEL, BATCH_CHANNEL,
                                          *(CHANNEL_PREFIX + c for c in self._own_channel)), 5.0)
            self._pubsub = pubsub

    def _connection_lost(self, detail: str, was_connected: bool) -> None:
        self._pubsub = None
        super()._connection_lost(detail, was_connected)

    async def join(self, car_id: str, listener: Listener) -> None:
        listeners = self._units.setdefault(car_id, set())
        if listener not in listeners:
            listeners.add(listener)
            self.clients += 1
        if len(listeners) == 1:
            await self._align(car_id)

    def leave(self, car_id: str, listener: Listener) -> None:
        listeners = self._units.get(car_id)
        if listeners is None or listener not in listeners:
            return
        listeners.discard(listener)
        self.clients -= 1
        if not listeners:
            del self._units[car_id]
            self._in_batch.pop(car_id, None)
            self._spawn_align(car_id)

    def _spawn_align(self, car_id: str) -> None:
        task = asyncio.ensure_future(self._align(car_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _wants_own_channel(self, car_id: str) -> bool:
        seen = self._in_batch.get(car_id)
        return car_id in self._units and (seen is None or time.monotonic() - seen > BATCH_COVERS_S)

    async def _align(self, car_id: str) -> None:
        """Subscribe or unsubscribe one unit's own channel to match what it needs now (serialised,
        so a quick leave-and-join can never end unsubscribed)."""
        async with self._lock:
            ps = self._pubsub
            if ps is None:
                return   # the next (re)connect subscribes what is tracked
            want, have = self._wants_own_channel(car_id), car_id in self._own_channel
            if want == have:
                return
            try:
                if want:
                    await within(ps.subscribe(CHANNEL_PREFIX + car_id), 5.0)
                    self._own_channel.add(car_id)
                else:
                    await within(ps.unsubscribe(CHANNEL_PREFIX + car_id), 5.0)
                    self._own_channel.discard(car_id)
            except (RedisError, OSError, TimeoutError) as exc:
                log.debug("API tracking: (un)subscribe %s failed (%s); done again on reconnect", car_id, exc)

    async def _between_messages(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= COVERAGE_CHECK_S:
            self._checked_at = now
            for car_id in [c for c in self._units if c not in self._own_channel and self._wants_own_channel(c)]:
                self._spawn_align(car_id)   # it left the batches: follow its own channel again

    def close_all(self, code: int, reason: str) -> None:
        for listeners in self._units.values():
            for listener in listeners:
                listener.close(code, reason)

    def _on_message(self, msg: dict[str, Any]) -> None:
        channel, data = msg.get("channel"), msg.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            self.rejections.reject("bad_type", None)
            return
        if channel == _BATCH:
            if self._units:
                self._batch(data)
            return
        if channel == _EVENTS:
            if b'"fleet"' in data:   # only removals matter here; skip the rest unparsed
                self._fleet_event(data)
            return
        car_id = channel[len(_PREFIX):].decode("utf-8", "replace")
        if car_id not in self._units or not self._wants_own_channel(car_id):
            return   # not tracked, or a copy of what a batch brought
        try:
            p = decode_position(data, now=time.time(), loads=orjson.loads, expected_car_id=car_id)
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, car_id)
            return
        self._send(p)

    def _batch(self, data: bytes) -> None:
        try:
            positions, _sent = decode_batch(data, now=time.time(), loads=orjson.loads, only=self._units,
                                            on_reject=lambda k: self.rejections.reject(k, None))
        except MessageRejected as exc:
            self.rejections.reject(exc.kind, None)
            return
        now = time.monotonic()
        for p in positions:
            self._in_batch[p.car_id] = now
            if p.car_id in self._own_channel:
                self._spawn_align(p.car_id)   # covered by batches now: its own channel only duplicates
            self._send(p)

    def _send(self, p: Position) -> None:
        listeners = self._units.get(p.car_id)
        if not listeners:
            return
        message = Frame(position_text(p))
        for listener in list(listeners):
            listener.push(message)

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
        message = Frame(_frame("batch", positions))
        for listener in list(self._listeners):
            listener.push(message)

    def status(self, change: StatusEvent | IncidentEvent) -> None:
        """A unit's dispatch status changed (from the runtime): told to every wall display."""
        if not isinstance(change, StatusEvent) or not self._listeners:
            return
        a = change.assignment
        message = Frame(StatusFrame(car_id=a.car_id, status=a.status, incident_id=a.incident_id,
                                    by=a.by).model_dump_json())
        for listener in list(self._listeners):
            listener.push(message)


def _frame(kind: str, positions: list[Position]) -> str:
    rows = [(p.car_id, p.lat, p.lng, p.speed, p.heading, p.timestamp) for p in positions]
    frame = _FLEET_FRAME.validate_python({"type": kind, "cars": rows})
    return _FLEET_FRAME.dump_json(frame).decode()
