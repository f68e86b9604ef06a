"""The Qt-free core both modes build on: wiring only.

It starts the servers the settings leave to us, builds each room's services on the two clients,
connects them (who follows whom) and runs their loops under one supervisor; `stop` undoes it all
within a time budget. What each piece does lives in its room: live/, history/, dispatch/, infra/.
The headless service and the window both build on this; it never imports Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Callable

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from ..config import Settings, redact_url
from ..domain.messages import (
    DispatchEvent,
    FleetEvent,
    MessageRejected,
    validate_unknown_device,
)
from ..domain.models import UnknownDevice
from ..domain.patrol import PatrolArea
from ..ingest.devices import list_unknown
from ..ingest.service import IngestService, IngestStats
from .dispatch.alarms import AlarmBook
from .dispatch.eta import EtaEstimator
from .dispatch.events import EventsListener
from .dispatch.outbox import Outbox
from .dispatch.records import Records
from .dispatch.service import DispatchService
from .history.buckets import BucketWriter
from .history.fleet import Fleet
from .history.late import LateFixWriter
from .history.reader import HistoryReader
from .history.registry import FleetRegistry
from .history.sync import LocationSync
from .history.sync_status import SYNC_STATUS_EVERY_S, SyncStatusReader
from .infra.embedded import EmbeddedServers
from .infra.errors import ErrorBus
from .infra.health import Health, HealthMonitor
from .infra.instance import instance_name
from .infra.lease import Lease
from .infra.mongo import Doc
from .infra.private_files import make_private, restrict_umask
from .infra.redaction import register_url
from .infra.redis_conn import make_redis
from .infra.rejections import RejectionCounter
from .infra.retry import every
from .infra.road_network import RoadNetworkSource
from .infra.supervisor import Supervisor
from .infra.timeouts import within
from .live.live_store import LiveStore
from .live.simulator import Simulator
from .live.steering import Steering

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 5.0
ARRIVALS_EVERY_S = 1.0
SERVER_STOP_RESERVE_S = 1.5   # of the shutdown budget, kept for stopping the child servers
MONGO_TIMEOUT_MS = 5000
ROADS_WAIT_S = 5.0            # the simulator waits this long at most for the road network before spawning units


Box = tuple[float, float, float, float]     # south, west, north, east


class Runtime:
    def __init__(self, settings: Settings, *, errors: ErrorBus | None = None, map_area: Box | None = None) -> None:
        """`map_area`: the imported street map's extent (mapdata.store.patrol_area), where simulated units
        patrol unless the settings give a fleet area."""
        self.settings = settings
        self.instance = instance_name(settings.dispatcher)   # names this app in shared records
        self._map_area = map_area
        self.errors = errors or ErrorBus()
        self.supervisor = Supervisor(self.errors)
        self.health = Health()
        self.redis_rejections = RejectionCounter("redis")
        self.mongo_rejections = RejectionCounter("mongodb")
        self.fleet = Fleet(self.errors)   # exists before start: the window subscribes to it first
        self.roads = RoadNetworkSource(settings.data_dir, self.errors)   # the imported map's road network
        self.servers = EmbeddedServers(settings.data_dir, redis=settings.redis_url is None,
                                       mongo=settings.mongo_uri is None, mongo_db=settings.mongo_db)
        self.redis_url = ""
        self.mongo_uri = ""
        self.store: LiveStore | None = None
        self.history: HistoryReader | None = None
        self.records: Records | None = None
        self.simulator: Simulator | None = None
        self.sync: LocationSync | None = None
        self.sync_status: SyncStatusReader | None = None
        self.outbox: Outbox | None = None
        self.dispatch: DispatchService | None = None
        self.events: EventsListener | None = None
        self.alarms: AlarmBook | None = None
        self.late: LateFixWriter | None = None
        self.ingest: IngestService | None = None   # with --ingest: the device ingest's worker processes
        self._registry: FleetRegistry | None = None
        self._health_monitor: HealthMonitor | None = None
        self._steering: Steering | None = None
        self._closers: list[Callable[[], object]] = []

    # ---- start --------------------------------------------------------------------------------
    async def start(self, progress: Callable[[str], object] | None = None) -> None:
        say = progress or (lambda msg: log.info("%s", msg))
        s = self.settings
        restrict_umask()   # everything this process and its servers write is private to the user
        s.data_dir.mkdir(parents=True, exist_ok=True)
        # an earlier version (or a copy) may have left files readable by others: repair them
        await asyncio.to_thread(make_private, s.data_dir)
        await self.servers.start(say)
        self.redis_url = s.redis_url or (self.servers.redis.url if self.servers.redis else "")
        self.mongo_uri = s.mongo_uri or (self.servers.mongo.uri if self.servers.mongo else "")
        register_url(self.redis_url)
        register_url(self.mongo_uri)
        log.info("Redis: %s", "embedded" if s.redis_url is None else redact_url(self.redis_url))
        log.info("MongoDB: %s (database %s)", "embedded" if s.mongo_uri is None else redact_url(self.mongo_uri),
                 s.mongo_db)
        say("Connecting…")
        self._build()
        self._wire()
        self._run()
        say("Running")

    def _build(self) -> None:
        """One Redis client and one MongoDB client; every service on them."""
        s = self.settings
        redis_client = make_redis(self.redis_url, name="cartrack-store")
        self._closers.append(redis_client.aclose)
        self.store = LiveStore(redis_client, rejections=self.redis_rejections)
        mongo: AsyncMongoClient[Doc] = AsyncMongoClient(
            self.mongo_uri, serverSelectionTimeoutMS=MONGO_TIMEOUT_MS, connectTimeoutMS=MONGO_TIMEOUT_MS,
            appname="cartrack-desktop", tz_aware=True,
        )
        self._closers.append(mongo.close)
        db = mongo[s.mongo_db]
        self.history = HistoryReader(db, rejections=self.mongo_rejections)
        self._registry = FleetRegistry(db, self.history, rejections=self.mongo_rejections)
        self.records = Records(db, rejections=self.mongo_rejections)
        self.sync = LocationSync(self.store, BucketWriter(db, self._registry, instance=self.instance))
        self.sync_status = SyncStatusReader(db, rejections=self.mongo_rejections)
        self.outbox = Outbox(self.records.apply, s.data_dir / "outbox", errors=self.errors)
        self.dispatch = DispatchService(self.store, self._registry, self.records, self.outbox,
                                        dispatcher=s.dispatcher, instance=self.instance,
                                        rejections=self.redis_rejections)
        self.dispatch.eta = EtaEstimator(self.store, self.roads)
        self.alarms = AlarmBook(redis_client, self.outbox, dispatcher=s.dispatcher, host=socket.gethostname()[:64],
                                rejections=self.redis_rejections)
        self.late = LateFixWriter(redis_client, db, rejections=self.redis_rejections)
        self.events = EventsListener(self.redis_url, on_connect=self._events_connected,
                                     rejections=self.redis_rejections)
        self._health_monitor = HealthMonitor(self.errors, self.health, redis_ping=self.store.ping,
                                     mongo_ping=lambda: mongo.admin.command("ping"))
        if s.simulator:
            self.simulator = Simulator(self.store, seed=s.seed, area=self.patrol_area)
        if s.ingest is not None:
            self.ingest = IngestService(s.ingest, redis_url=self.redis_url, mongo_uri=self.mongo_uri,
                                        mongo_db=s.mongo_db, log_level=s.log_level)

    def _wire(self) -> None:
        """Who follows whom: dispatch follows the events channel, the fleet follows registry events,
        simulated units follow the fleet and obey their dispatch status, alarms follow the events.
        The device ingest's workers follow the events channel themselves (fleet changes)."""
        assert self.dispatch is not None and self.events is not None and self.alarms is not None
        dispatch, fleet = self.dispatch, self.fleet
        dispatch.call_sign = fleet.call_sign
        self.alarms.call_sign = fleet.call_sign
        self.events.received.subscribe(dispatch.handle_event)
        self.events.received.subscribe(self.alarms.handle_event)
        self.events.received.subscribe(self._on_fleet_event)
        if self.simulator is not None:
            steering = Steering(self.simulator)
            dispatch.changes.subscribe(steering.on_change)
            fleet.changed.subscribe(self.simulator.sync_fleet)
            self.roads.changed.subscribe(self.simulator.use_router)
            self._steering = steering

    def _run(self) -> None:
        assert self.store is not None and self.sync is not None and self.outbox is not None
        assert self.events is not None and self.dispatch is not None and self._health_monitor is not None
        store, sync, dispatch = self.store, self.sync, self.dispatch
        sup = self.supervisor
        sup.start("health", self._health_monitor.run)
        sup.start("roads", self.roads.run)
        sup.start("fleet", self._load_fleet)
        # One capturer for all instances sharing the servers; each writes what it captured.
        sync_lease = Lease(store.client, "sync")
        sup.start("sync-capture", lambda: sync_lease.run(sync.run_capture))
        sup.start("sync-writer", sync.run_writer)
        if self.sync_status is not None:   # the last cycle any instance wrote: what every desktop shows
            sup.start("sync-status", functools.partial(every, SYNC_STATUS_EVERY_S, self.sync_status.refresh,
                                                       what="sync status", errors=(PyMongoError, OSError)))
        sup.start("outbox", self.outbox.run)
        sup.start("events", self.events.run)
        # en route / on scene from positions, for every assigned unit (compare-and-set: any instance may)
        sup.start("arrivals", lambda: every(ARRIVALS_EVERY_S, dispatch.check_arrivals, what="arrival check",
                                            errors=(RedisError, OSError, TimeoutError)))
        sup.start("prune", lambda: every(PRUNE_EVERY_S, store.prune_expired, what="prune",
                                         errors=(RedisError, OSError)))
        if self.late is not None:   # every instance: the consumer group hands each late fix to one
            sup.start("late-fixes", self.late.run)
        if self.ingest is not None:
            sup.start("ingest", self.ingest.run)

    @property
    def patrol_area(self) -> PatrolArea | None:
        """Where simulated units patrol: the fleet area setting, else the imported map, else the default."""
        box = self.settings.fleet_area or self._map_area
        return PatrolArea(*box) if box else None

    def follow_map_area(self, box: Box) -> int:
        """A new street map was imported: simulated units patrol it, unless a fleet area is set.
        Returns how many simulated units moved there."""
        self._map_area = box
        area = self.patrol_area
        if self.settings.fleet_area is not None or area is None or self.simulator is None:
            return 0
        moved = self.simulator.set_area(area)
        log.info("simulated units patrol the imported map's area now (%d moved there)", moved)
        return moved

    # ---- tasks -------------------------------------------------------------------------------
    async def _load_fleet(self) -> None:
        """Schema + fleet registry (retried until MongoDB answers), then statuses and the simulator."""
        assert self.sync is not None and self.records is not None and self.dispatch is not None
        assert self._registry is not None
        registry = self._registry
        owners = (registry, self.sync.writer, self.records)

        async def prepare() -> None:
            for owner in owners:
                await owner.ensure_indexes()

        sim = self.simulator
        if sim is not None:   # simulated units are placed on the roads from the start when a map is imported
            with contextlib.suppress(TimeoutError):
                await within(self.roads.checked.wait(), ROADS_WAIT_S)
            sim.use_router(self.roads.router)
        cars = await self.fleet.load(registry, prepare=prepare,
                                     seed_to=self.settings.cars if sim is not None else None)
        dispatch = self.dispatch
        with contextlib.suppress(RedisError, OSError):
            await dispatch.seed_statuses(cars)
        if sim is not None:
            assert self.store is not None and self._steering is not None
            lease = Lease(self.store.client, "simulator")
            steering = self._steering
            self.supervisor.start("simulator", lambda: lease.run(lambda: steering.lead(dispatch.statuses.values())))

    async def _events_connected(self) -> None:
        """(Re)subscribed to dispatch events: restore statuses if Redis lost them, then reload."""
        if self.dispatch is None:
            return
        if self.fleet.loaded.is_set():
            await self.dispatch.seed_statuses(list(self.fleet.values()))
        await self.dispatch.resync()
        if self.alarms is not None:
            await self.alarms.load()

    async def unknown_devices(self) -> list[UnknownDevice]:
        """The Unknown devices list (README "Devices and units"), validated, most recently seen first."""
        assert self.store is not None
        out = []
        for entry in await list_unknown(self.store.client):
            try:
                out.append(validate_unknown_device(entry))
            except MessageRejected as exc:
                self.redis_rejections.reject(exc.kind, None)
        return out

    def ingest_stats(self) -> IngestStats | None:
        return self.ingest.stats() if self.ingest is not None else None

    def _on_fleet_event(self, event: DispatchEvent) -> None:
        if isinstance(event, FleetEvent):
            self.supervisor.spawn(self.fleet.follow(event), "fleet change")

    # ---- stop ---------------------------------------------------------------------------------
    async def stop(self, *, flush_timeout: float = 1.5, budget_s: float = 4.5) -> None:
        """Cancel tasks, write what is pending (briefly), close clients, stop servers: within budget_s.

        Each step gets what is left of the budget; stopping the child servers always happens,
        whatever the earlier steps did (they may hang on an unreachable server).
        """
        deadline = time.monotonic() + budget_s

        def left(cap: float) -> float:
            return max(0.1, min(cap, deadline - time.monotonic() - SERVER_STOP_RESERVE_S))

        try:
            if self.ingest is not None:   # first, so devices are answered while Redis is still there
                with contextlib.suppress(Exception):
                    await within(self.ingest.stop(), left(2.5))
            await self.supervisor.stop(timeout=left(2.0))
            if self.outbox is not None:
                if self.outbox.pending and self.health.mongo_ok:
                    with contextlib.suppress(Exception):
                        await within(self.outbox.flush(left(1.0)), left(1.0) + 0.2)
                if self.outbox.pending:
                    log.warning("%d dispatcher write(s) not yet in MongoDB are kept in %s and written on the next "
                                "start", len(self.outbox.pending), self.settings.data_dir / "outbox")
                self.outbox.close()
            if self.sync is not None and self.health.mongo_ok and self.health.redis_ok:
                # a last cycle, so a clean stop keeps the positions since the last 10 s slot
                with contextlib.suppress(Exception):
                    await within(self.sync.capture(), left(1.0))
                    await within(self.sync.flush(left(flush_timeout)), left(flush_timeout) + 0.2)
            if self.sync is not None and self.sync.backlog:
                log.warning("sync: %d cycle(s) not written at shutdown", len(self.sync.backlog))
            for close in reversed(self._closers):
                with contextlib.suppress(Exception):
                    result = close()
                    if asyncio.iscoroutine(result):
                        await within(result, left(0.5))
            self._closers.clear()
        finally:
            await self.servers.stop(max(0.8, deadline - time.monotonic() - 0.3))
