"""The desktop's subscription to live positions: Redis pub/sub, no polling.

Subscribes to the fleet-wide batch channel and, for seed-style producers, to the per-unit
channels. On every (re)connect it subscribes first and then loads a snapshot of all live
positions, so nothing published in between is missed; messages published while
disconnected are lost by design and covered by that snapshot. A half-open connection is
detected by our own heartbeat. Reconnects back off exponentially with jitter (capped).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio.client import PubSub

from ...domain.messages import MessageRejected, decode_batch, decode_position, validate_car_id
from ...domain.models import Position
from ..infra.redis_conn import make_redis
from ..infra.rejections import RejectionCounter
from ..infra.retry import Attempts
from ..infra.subscriber import RECONNECT_BACKOFF, Subscriber
from ..infra.timeouts import within
from .keys import BATCH_CHANNEL, CHANNEL_PATTERN, CHANNEL_PREFIX
from .live_store import LiveStore

log = logging.getLogger(__name__)

BATCH_COVERS_S = 3.0         # a unit seen in a batch this recently: skip its per-unit duplicate unparsed
YIELD_PAUSE_S = 0.0005       # that pause: the GIL is free for the UI thread, even under a flood


class FeedState(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    DISCONNECTED = "disconnected"


@dataclass
class FeedStats:
    messages: int = 0
    batches: int = 0
    positions: int = 0
    duplicates_skipped: int = 0
    reconnects: int = 0


class LiveFeed(Subscriber):
    name = "live feed"
    client_name = "cartrack-feed"

    def __init__(
        self,
        redis_url: str,
        store: LiveStore,
        *,
        on_snapshot: Callable[[list[Position]], None],
        on_positions: Callable[[list[Position], float | None], object],
        on_state: Callable[[FeedState, str], None] | None = None,
        rejections: RejectionCounter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(redis_url)
        self._store = store
        self._on_snapshot = on_snapshot
        self._on_positions = on_positions
        self._on_state = on_state or (lambda s, d: None)
        self.rejections = rejections or RejectionCounter("live feed")
        self._clock = clock
        self.state = FeedState.CONNECTING
        self.stats = FeedStats()
        self._batch_seen: dict[str, float] = {}
        self._resync = False

    def _set_state(self, state: FeedState, detail: str = "") -> None:
        if state is not self.state or detail:
            self.state = state
            self._on_state(state, detail)

    def _connection_lost(self, detail: str, was_connected: bool) -> None:
        super()._connection_lost(detail, was_connected)
        self.stats.reconnects += 1
        self._set_state(FeedState.DISCONNECTED, detail)

    async def _subscribe(self, pubsub: PubSub) -> None:
        await within(pubsub.subscribe(BATCH_CHANNEL), 5.0)
        await within(pubsub.psubscribe(CHANNEL_PATTERN), 5.0)
        # redis-py reconnects and resubscribes a dropped pub/sub link by itself; what was
        # published meanwhile is lost, so every such reconnect asks for a fresh snapshot.
        self._resync = False
        if pubsub.connection is not None:
            pubsub.connection.register_connect_callback(self._reconnected)
        await self._snapshot()
        self._set_state(FeedState.LIVE)

    async def _reconnected(self, _connection: object) -> None:
        self._resync = True
        self.stats.reconnects += 1
        log.info("live feed: pub/sub link re-established; reloading the snapshot")

    async def _between_messages(self) -> None:
        if self._resync:
            self._resync = False
            await self._snapshot()

    async def _snapshot(self) -> None:
        snapshot = await within(self._store.get_all_car_locations(), 10.0)
        self._batch_seen.clear()
        self._on_snapshot(snapshot)
        log.info("live feed subscribed; snapshot of %d unit(s)", len(snapshot))

    def _on_message(self, msg: dict[str, Any]) -> None:
        self._handle(msg)

    def _handle(self, msg: dict[str, object]) -> None:
        raw_channel = msg.get("channel")
        channel = raw_channel.decode("utf-8", "replace") if isinstance(raw_channel, bytes) else str(raw_channel)
        data = msg.get("data")
        if not isinstance(data, bytes):
            self.rejections.reject("bad_type", None)
            return
        self.stats.messages += 1
        now = self._clock()
        if channel == BATCH_CHANNEL:
            try:
                positions, sent = decode_batch(data, now=now, loads=orjson.loads,
                                               on_reject=lambda k: self.rejections.reject(k, None))
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, None)
                return
            self.stats.batches += 1
            seen = self._batch_seen
            for p in positions:
                seen[p.car_id] = now
            if len(seen) > 200_000:  # bounded whatever producers do
                seen.clear()
            self.stats.positions += len(positions)
            self._on_positions(positions, sent or None)
            return
        if channel.startswith(CHANNEL_PREFIX):
            car_id = channel[len(CHANNEL_PREFIX):]
            try:
                validate_car_id(car_id)
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, None)
                return
            seen_at = self._batch_seen.get(car_id)
            if seen_at is not None and now - seen_at < BATCH_COVERS_S:
                self.stats.duplicates_skipped += 1
                return
            try:
                p = decode_position(data, now=now, loads=orjson.loads, expected_car_id=car_id)
            except MessageRejected as exc:
                self.rejections.reject(exc.kind, car_id)
                return
            self.stats.positions += 1
            self._on_positions([p], None)


class FeedInbox:
    """Hand-over from the feed thread to the UI loop: coalesced (newest fix per unit) and thread-safe.

    The feed thread puts; `notify` is called (once until the next take) so the UI loop can
    come and take everything at once.
    """

    def __init__(self, notify: Callable[[], object]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._positions: dict[str, Position] = {}
        self._snapshot: list[Position] | None = None
        self._sent: float | None = None
        self._states: list[tuple[FeedState, str]] = []
        self._scheduled = False

    def _wake(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._notify()

    def put_positions(self, positions: list[Position], sent: float | None) -> None:
        with self._lock:
            pending = self._positions
            for p in positions:
                cur = pending.get(p.car_id)
                if cur is None or p.timestamp > cur.timestamp:
                    pending[p.car_id] = p
            if sent is not None:
                self._sent = sent if self._sent is None else max(self._sent, sent)
            self._wake()

    def put_snapshot(self, positions: list[Position]) -> None:
        with self._lock:
            self._snapshot = positions
            self._positions = {}
            self._wake()

    def put_state(self, state: FeedState, detail: str) -> None:
        with self._lock:
            self._states.append((state, detail))
            self._wake()

    def take(self) -> tuple[list[Position] | None, list[Position], float | None, list[tuple[FeedState, str]]]:
        with self._lock:
            out = (self._snapshot, list(self._positions.values()), self._sent, self._states)
            self._snapshot, self._positions, self._sent, self._states = None, {}, None, []
            self._scheduled = False
        return out


class ThreadedFeed:
    """Runs a LiveFeed on its own thread and asyncio loop, off the UI thread.

    Receiving, parsing and validating 10,000 fixes a second (plus their per-unit duplicates)
    would otherwise compete with drawing and input on the UI thread; this thread hands over
    only the coalesced result, through a FeedInbox.
    """

    def __init__(self, redis_url: str, inbox: FeedInbox, *, rejections: RejectionCounter,
                 on_crash: Callable[[BaseException], object] | None = None) -> None:
        self._url = redis_url
        self.inbox = inbox
        self.rejections = rejections
        self._on_crash = on_crash
        self.feed: LiveFeed | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._main, name="cartrack-live-feed", daemon=True)

    @property
    def stats(self) -> FeedStats:
        return self.feed.stats if self.feed is not None else FeedStats()

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        attempts = Attempts(RECONNECT_BACKOFF)
        while not self._stopping.is_set():
            try:
                asyncio.run(self._run())
                return
            except Exception as exc:  # noqa: BLE001 - reported, then the feed restarts
                if self._on_crash is not None:
                    self._on_crash(exc)
                self._stopping.wait(attempts.failed())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        client = make_redis(self._url, name="cartrack-feed-snapshots")
        store = LiveStore(client, rejections=self.rejections)
        self.feed = LiveFeed(self._url, store, on_snapshot=self.inbox.put_snapshot,
                             on_positions=self.inbox.put_positions, on_state=self.inbox.put_state,
                             rejections=self.rejections)
        self.feed.yield_pause_s = YIELD_PAUSE_S
        self._task = asyncio.ensure_future(self.feed.run())
        try:
            if self._stopping.is_set():
                self._task.cancel()
            await self._task
        except asyncio.CancelledError:
            pass
        finally:
            with contextlib.suppress(Exception):
                await within(client.aclose(), 1.0)

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("live feed thread did not stop within %.1f s", timeout)
