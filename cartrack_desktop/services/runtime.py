"""The Qt-free core of the application: servers, clients, simulator, sync and their tasks.

Both the headless service and the window build on this; it never imports Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from ..config import Settings, redact_url
from ..domain.dispatch import UnitAssignment
from ..domain.models import Car, UnitStatus
from ..domain.patrol import Mode
from .archive import Archive, Doc, apply_op
from .dispatch import DispatchService
from .embedded import DataDirLock, EmbeddedMongo, EmbeddedRedis
from .errors import ErrorBus, Level
from .events import EventsListener
from .lease import Lease
from .live_store import LiveStore
from .outbox import Op, Outbox
from .private_files import make_private, restrict_umask
from .redaction import register_url
from .redis_conn import make_redis
from .rejections import RejectionCounter
from .simulator import Simulator
from .supervisor import Supervisor, backoff_delay
from .sync import LocationSync
from .timeouts import within

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
PRUNE_EVERY_S = 5.0
HEALTH_EVERY_S = 2.0
ARRIVALS_EVERY_S = 1.0
SERVER_STOP_RESERVE_S = 1.5   # of the shutdown budget, kept for stopping the child servers
MONGO_TIMEOUT_MS = 5000
MONGO_CREDENTIALS_FILE = "mongo-credentials.json"   # in the data dir, 0600: the embedded database's app user


@dataclass
class Health:
    redis_ok: bool = False
    mongo_ok: bool = False
    redis_detail: str = "connecting"
    mongo_detail: str = "connecting"
    checked: bool = False
    changed_at: float = field(default_factory=time.time)


class Runtime:
    def __init__(self, settings: Settings, *, errors: ErrorBus | None = None) -> None:
        self.settings = settings
        self.errors = errors or ErrorBus()
        self.supervisor = Supervisor(self.errors)
        self.health = Health()
        self.redis_rejections = RejectionCounter("redis")
        self.mongo_rejections = RejectionCounter("mongodb")
        self._lock: DataDirLock | None = None
        self._embedded_redis: EmbeddedRedis | None = None
        self._embedded_mongo: EmbeddedMongo | None = None
        self.redis_url = ""
        self.mongo_uri = ""
        self.store: LiveStore | None = None
        self.archive: Archive | None = None
        self.simulator: Simulator | None = None
        self.sync: LocationSync | None = None
        self.outbox: Outbox | None = None
        self.dispatch: DispatchService | None = None
        self.events: EventsListener | None = None
        self.fleet_loaded = asyncio.Event()
        self.fleet: dict[str, Car] = {}
        self.fleet_listeners: list[Callable[[list[Car]], None]] = []
        self.removal_listeners: list[Callable[[str], None]] = []
        self._mongo: AsyncMongoClient[Doc] | None = None
        self._closers: list[Callable[[], object]] = []

    # ---- start --------------------------------------------------------------------------------
    async def start(self, progress: Progress | None = None) -> None:
        say = progress or (lambda msg: log.info("%s", msg))
        s = self.settings
        run_dir = s.data_dir / "run"
        restrict_umask()   # everything this process and its servers write is private to the user
        try:
            s.data_dir.mkdir(parents=True, exist_ok=True)
            if s.redis_url is None or s.mongo_uri is None:
                self._lock = DataDirLock(s.data_dir)
                self._lock.acquire()
            # an earlier version (or a copy) may have left files readable by others: repair them
            await asyncio.to_thread(make_private, s.data_dir)
            starts = []
            if s.redis_url is None:
                say("Starting the embedded Redis server…")
                self._embedded_redis = EmbeddedRedis(run_dir)
                starts.append(self._embedded_redis.start())
            if s.mongo_uri is None:
                say("Starting the embedded database (SecantusDB)…")
                self._embedded_mongo = EmbeddedMongo(run_dir, s.data_dir / "mongo",
                                                     credentials_file=s.data_dir / MONGO_CREDENTIALS_FILE,
                                                     db_name=s.mongo_db)
                starts.append(self._embedded_mongo.start())
            if starts:
                await asyncio.gather(*starts)
        except BaseException:
            await self.stop()
            raise
        self.redis_url = s.redis_url or (self._embedded_redis.url if self._embedded_redis else "")
        self.mongo_uri = s.mongo_uri or (self._embedded_mongo.uri if self._embedded_mongo else "")
        register_url(self.redis_url)
        register_url(self.mongo_uri)
        log.info("Redis: %s", "embedded" if s.redis_url is None else redact_url(self.redis_url))
        log.info("MongoDB: %s (database %s)", "embedded" if s.mongo_uri is None else redact_url(self.mongo_uri),
                 s.mongo_db)

        say("Connecting…")
        redis_client = make_redis(self.redis_url, name="cartrack-store")
        self._closers.append(redis_client.aclose)
        self.store = LiveStore(redis_client, rejections=self.redis_rejections)
        self._mongo = AsyncMongoClient(
            self.mongo_uri, serverSelectionTimeoutMS=MONGO_TIMEOUT_MS, connectTimeoutMS=MONGO_TIMEOUT_MS,
            appname="cartrack-desktop", tz_aware=True,
        )
        self._closers.append(self._mongo.close)
        self.archive = Archive(self._mongo, s.mongo_db, rejections=self.mongo_rejections)
        self.sync = LocationSync(self.store, self.archive)
        archive = self.archive

        async def apply(op: Op) -> None:
            await apply_op(archive, op.kind, op.payload)

        journal_dir = s.data_dir / "outbox"
        self.outbox = Outbox(apply, journal_dir)
        self.dispatch = DispatchService(self.store, self.archive, self.outbox, dispatcher=s.dispatcher,
                                        rejections=self.redis_rejections)
        self.dispatch.call_sign = lambda cid: self.fleet[cid].call_sign if cid in self.fleet else cid
        self.dispatch.listeners.append(self._on_dispatch_change)
        self.events = EventsListener(self.redis_url, on_connect=self._events_connected,
                                     rejections=self.redis_rejections)
        self.events.handlers.append(self.dispatch.handle_event)
        self.events.handlers.append(self._on_fleet_event)
        if s.simulator:
            self.simulator = Simulator(self.store, seed=s.seed)

        sup = self.supervisor
        sup.start("health", self._health_loop)
        sup.start("fleet", self._load_fleet)
        # One capturer for all instances sharing the servers; each writes what it captured.
        sync_lease = Lease(redis_client, "sync")
        sync = self.sync
        sup.start("sync-capture", lambda: sync_lease.run(sync.run_capture))
        sup.start("sync-writer", self.sync.run_writer)
        sup.start("outbox", self.outbox.run)
        sup.start("events", self.events.run)
        sup.start("arrivals", self._arrivals_loop)
        sup.start("prune", self._prune_loop)
        say("Running")

    # ---- tasks -------------------------------------------------------------------------------
    async def _load_fleet(self) -> None:
        """Schema + fleet registry; retried until MongoDB answers, then the simulator starts."""
        assert self.archive is not None
        attempt = 0
        while True:
            try:
                with pymongo.timeout(10):
                    await self.archive.ensure_schema()
                    cars = (await self.archive.ensure_fleet(self.settings.cars) if self.simulator
                            else await self.archive.load_fleet())
                break
            except PyMongoError as exc:
                if attempt == 0:
                    self.errors.report("fleet", f"fleet registry unavailable, retrying: {exc}", Level.WARNING)
                await asyncio.sleep(backoff_delay(attempt, 1.0, 15.0))
                attempt += 1
        self.set_fleet(cars)
        log.info("fleet: %d unit(s) registered", len(cars))
        self.fleet_loaded.set()
        if self.dispatch is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.dispatch.seed_statuses(cars)
        if self.simulator is not None:
            self.simulator.sync_fleet(cars)
            assert self.store is not None
            lease = Lease(self.store.client, "simulator")
            self.supervisor.start("simulator", lambda: lease.run(self._simulator_role))

    async def _simulator_role(self) -> None:
        """While this instance leads: units first pick up their current orders, then tick."""
        assert self.simulator is not None and self.dispatch is not None
        for a in list(self.dispatch.statuses.values()):
            self._steer(a)
        await self.simulator.run()

    def _on_dispatch_change(self, kind: str, value: object) -> None:
        if kind == "status" and isinstance(value, UnitAssignment):
            self._steer(value)

    def _steer(self, a: UnitAssignment) -> None:
        """Simulated units obey their status: drive to the scene, hold, patrol, park."""
        sim = self.simulator
        if sim is None or a.car_id not in sim.units:
            return
        unit = sim.units[a.car_id]
        if a.status in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE) and a.scene is not None:
            if unit.mode not in (Mode.RESPONDING, Mode.HOLDING) or (unit.target_lat, unit.target_lng) != a.scene:
                sim.dispatch(a.car_id, *a.scene)
        elif a.status is UnitStatus.AVAILABLE and unit.mode is not Mode.PATROL:
            sim.resume_patrol(a.car_id)
        elif a.status is UnitStatus.OUT_OF_SERVICE and unit.mode is not Mode.PARKED:
            sim.set_out_of_service(a.car_id, True)

    async def _events_connected(self) -> None:
        """(Re)subscribed to dispatch events: restore statuses if Redis lost them, then reload."""
        if self.dispatch is None:
            return
        if self.fleet_loaded.is_set():
            await self.dispatch.seed_statuses(list(self.fleet.values()))
        await self.dispatch.resync()

    def _on_fleet_event(self, event: dict[str, object]) -> None:
        if event.get("type") == "fleet":
            car_id, action = str(event["car_id"]), str(event["action"])
            self.supervisor.spawn(self._apply_fleet_change(car_id, action), "fleet change")

    async def _apply_fleet_change(self, car_id: str, action: str) -> None:
        """Another dispatcher (or this one) changed the registry: follow it at once."""
        if action == "remove":
            if self.fleet.pop(car_id, None) is not None:
                if self.simulator is not None:
                    self.simulator.remove_car(car_id)
                self.set_fleet(list(self.fleet.values()))
            for listener in list(self.removal_listeners):
                listener(car_id)
            return
        assert self.archive is not None
        try:
            with pymongo.timeout(5):
                car = await self.archive.get_car(car_id)
        except PyMongoError as exc:
            self.errors.report("fleet", f"could not load unit {car_id}: {exc}", Level.WARNING)
            return
        if car is None:
            return
        self.fleet[car_id] = car
        if self.simulator is not None:
            self.simulator.add_car(car)
        self.set_fleet(list(self.fleet.values()))

    async def _arrivals_loop(self) -> None:
        """En route / on scene from positions, for every assigned unit (compare-and-set: any instance may)."""
        assert self.dispatch is not None
        while True:
            try:
                await self.dispatch.check_arrivals()
            except (RedisError, OSError, TimeoutError) as exc:
                log.debug("arrival check skipped: %s", exc)
            await asyncio.sleep(ARRIVALS_EVERY_S)

    def set_fleet(self, cars: list[Car]) -> None:
        self.fleet = {c.car_id: c for c in cars}
        for listener in list(self.fleet_listeners):
            listener(cars)

    async def _prune_loop(self) -> None:
        assert self.store is not None
        while True:
            try:
                await self.store.prune_expired()
            except (RedisError, OSError) as exc:
                log.debug("prune skipped: %s", exc)
            await asyncio.sleep(PRUNE_EVERY_S)

    async def _health_loop(self) -> None:
        assert self.store is not None
        assert self._mongo is not None
        while True:
            redis_ok, redis_detail = True, "connected"
            try:
                await within(self.store.ping(), 2.0)
            except (RedisError, OSError, TimeoutError) as exc:
                redis_ok, redis_detail = False, _short(exc) or "unreachable"
            mongo_ok, mongo_detail = True, "connected"
            try:
                with pymongo.timeout(2.0):
                    await self._mongo.admin.command("ping")
            except (PyMongoError, OSError) as exc:
                mongo_ok, mongo_detail = False, _short(exc) or "unreachable"
            h = self.health
            first = not h.checked
            if first or (redis_ok, mongo_ok) != (h.redis_ok, h.mongo_ok):
                for name, ok, was, detail in (("Redis", redis_ok, h.redis_ok, redis_detail),
                                              ("MongoDB", mongo_ok, h.mongo_ok, mongo_detail)):
                    if first and not ok:
                        self.errors.report(name, f"not reachable: {detail}", Level.WARNING)
                    elif ok != was:
                        self.errors.report(name, "connected" if ok else f"connection lost: {detail}",
                                           Level.INFO if ok else Level.WARNING)
                h.changed_at = time.time()
            h.checked = True
            h.redis_ok, h.redis_detail, h.mongo_ok, h.mongo_detail = redis_ok, redis_detail, mongo_ok, mongo_detail
            await asyncio.sleep(HEALTH_EVERY_S)

    def stats_line(self) -> str:
        sim = self.simulator.stats if self.simulator else None
        sy = self.sync.stats if self.sync else None
        parts = [
            f"redis={'ok' if self.health.redis_ok else 'DOWN'}",
            f"mongo={'ok' if self.health.mongo_ok else 'DOWN'}",
        ]
        if sim is not None:
            parts.append(f"units={sim.units} ticks={sim.ticks} tick_ms={sim.last_tick_s * 1000:.1f}")
        if sy is not None:
            parts.append(
                f"sync_cycles={sy.cycles} cars_synced={sy.cars_synced} last_sync_s={sy.last_duration_s:.2f} "
                f"pending={sy.pending} failures={sy.failures}"
            )
        rejected = self.redis_rejections.total + self.mongo_rejections.total
        parts.append(f"rejected={rejected}")
        return " ".join(parts)

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
            grace = max(0.8, deadline - time.monotonic() - 0.3)
            stops = [srv.stop(grace) for srv in (self._embedded_redis, self._embedded_mongo) if srv is not None]
            if stops:
                await asyncio.gather(*stops, return_exceptions=True)
            if self._lock is not None:
                self._lock.release()
                self._lock = None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
