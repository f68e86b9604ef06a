"""Fault injection against real servers: Redis killed, restarted, its pub/sub link cut; MongoDB
killed in the middle of a bulk write. Each test asserts the recovery, waiting on conditions."""

import asyncio
import time

import pytest
from pymongo import AsyncMongoClient, MongoClient

from cartrack_desktop.config import load_settings
from cartrack_desktop.domain.models import Position, UnitStatus
from cartrack_desktop.services.history.sync import LocationSync
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_feed import FeedState, LiveFeed
from cartrack_desktop.services.live.live_store import LiveStore
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.history import history_on
from tests.helpers.waiting import async_wait_until

pytestmark = pytest.mark.slow
LAG_PROBE_S = 0.02


class Watch:
    """A LiveFeed whose callbacks record what arrives."""

    def __init__(self, url, store):
        self.snapshots = 0
        self.positions = 0
        self.last: dict[str, Position] = {}
        self.feed = LiveFeed(url, store, on_snapshot=self._snap, on_positions=self._pos)

    def _snap(self, ps):
        self.snapshots += 1
        self.last.update({p.car_id: p for p in ps})

    def _pos(self, ps, _sent):
        self.positions += len(ps)
        self.last.update({p.car_id: p for p in ps})


@pytest.fixture
async def runtime(tmp_path, own_redis, mongo_uri, mongo_db_name):
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    rt = Runtime(load_settings(["--redis-url", own_redis.url, "--mongo-uri", uri, "--cars", "5", "--data-dir",
                                str(tmp_path / "d")], environ={}))
    await rt.start()
    await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
    yield rt
    await rt.stop()


async def test_redis_killed_and_restarted(runtime, own_redis):
    watch = Watch(own_redis.url, runtime.store)
    task = asyncio.create_task(watch.feed.run())
    try:
        await async_wait_until(lambda: watch.feed.state is FeedState.LIVE and watch.positions > 10, 10, "live")
        inc = await runtime.dispatch.create_incident(33.75, -84.39, "Alarm", 3, "")
        await runtime.dispatch.dispatch(inc.incident_id, ["PC-003"])
        own_redis.kill()
        await async_wait_until(lambda: watch.feed.state is FeedState.DISCONNECTED, 5, "feed sees the outage")
        await async_wait_until(lambda: not runtime.health.redis_ok, 5, "health sees the outage")
        ticks = runtime.simulator.stats.ticks
        own_redis.start()                       # same port, empty: no persistence
        t_back = time.monotonic()
        before = watch.positions
        await async_wait_until(lambda: watch.feed.state is FeedState.LIVE and watch.positions > before, 10,
                               "feed back with positions")
        assert time.monotonic() - t_back < 5.0
        # the simulator (it paused while it could not hold its lease) resumes by itself
        await async_wait_until(lambda: runtime.simulator.stats.ticks > ticks + 2, 10, "simulator ticking again")
        # the dispatch state that Redis lost is restored from what this instance knew
        await async_wait_until(lambda: own_redis.client().hget("cartrack:status", "PC-003"), 5, "status restored")
        assert runtime.dispatch.status_of("PC-003") in (UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE,
                                                        UnitStatus.ON_SCENE)
        # the sync resumes by itself
        cycles = runtime.sync.stats.cycles
        await async_wait_until(lambda: runtime.sync.stats.cycles > cycles, 15, "a sync cycle after recovery")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_pubsub_connection_killed_reconnects_and_resyncs(runtime, own_redis):
    watch = Watch(own_redis.url, runtime.store)
    task = asyncio.create_task(watch.feed.run())
    try:
        await async_wait_until(lambda: watch.feed.state is FeedState.LIVE and watch.snapshots == 1, 10, "live")
        admin = own_redis.client()
        killed = admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        assert killed >= 1
        t0 = time.monotonic()
        await async_wait_until(lambda: watch.snapshots >= 2 and watch.feed.state is FeedState.LIVE, 5,
                               "resubscribed with a fresh snapshot")
        before = watch.positions
        await async_wait_until(lambda: watch.positions > before, 5, "positions again")
        assert time.monotonic() - t0 < 5.0
        assert watch.feed.stats.reconnects >= 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_paused_redis_is_detected_and_recovered(runtime, own_redis):
    watch = Watch(own_redis.url, runtime.store)
    task = asyncio.create_task(watch.feed.run())
    lags: list[float] = []

    async def lag_monitor():
        # measures the loop's lag as the lateness of a short timer (it is the probe, not a wait)
        while True:
            t = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_S)
            lags.append(time.perf_counter() - t - LAG_PROBE_S)

    mon = asyncio.create_task(lag_monitor())
    try:
        await async_wait_until(lambda: watch.feed.state is FeedState.LIVE and watch.positions > 5, 10, "live")
        own_redis.pause()
        paused_at = time.monotonic()
        await async_wait_until(lambda: watch.feed.state is FeedState.DISCONNECTED, 8, "half-open link detected")
        detect_s = time.monotonic() - paused_at
        assert detect_s < 6.0, detect_s
        lags.clear()
        await async_wait_until(lambda: time.monotonic() - paused_at > 8 and not runtime.health.redis_ok, 10,
                               "outage seen by health")
        assert max(lags) < 0.1, f"event loop blocked {max(lags) * 1000:.0f} ms during the pause"
        own_redis.resume()
        t_back = time.monotonic()
        before = watch.positions
        await async_wait_until(lambda: watch.feed.state is FeedState.LIVE and watch.positions > before, 10,
                               "resumed")
        assert time.monotonic() - t_back < 5.0
    finally:
        own_redis.resume()
        for t in (task, mon):
            t.cancel()
        await asyncio.gather(task, mon, return_exceptions=True)


async def test_mongodb_killed_in_the_middle_of_a_bulk_write(redis_url, own_mongo, mongo_db_name):
    client = make_redis(redis_url)
    store = LiveStore(client)
    n = 8000
    t = time.time()
    await store.update_car_locations([Position(f"U-{i:05d}", 33.7 + (i % 100) * 1e-3, -84.4 + (i // 100) * 1e-3,
                                               30.0, 90.0, t) for i in range(n)])
    mc = AsyncMongoClient(own_mongo.uri, serverSelectionTimeoutMS=1000, tz_aware=True)
    hist = history_on(mc, mongo_db_name)
    await hist.ensure_indexes()
    sync = LocationSync(store, hist.writer, timeout_s=20.0)
    cycle = await sync.capture()
    assert cycle is not None and len(cycle.positions) == n
    writer = asyncio.create_task(sync.write_one())
    probe = MongoClient(own_mongo.uri, serverSelectionTimeoutMS=1000)
    await async_wait_until(
        lambda: asyncio.to_thread(
            lambda: probe[mongo_db_name].location_buckets.count_documents({"cycle": cycle.cycle_id}) > 0
            or probe[mongo_db_name].last_known.count_documents({}) > 0),
        30, "the bulk write under way")
    probe.close()
    own_mongo.kill()                                  # SIGKILL mid-write
    assert await writer is False
    assert len(sync.backlog) == 1
    own_mongo.start()
    await async_wait_until(sync.write_one, 60, "the cycle written after the restart")
    db = MongoClient(own_mongo.uri)[mongo_db_name]
    ids = [cid for d in db.location_buckets.find({"cycle": cycle.cycle_id}) for cid in d["car_id"]]
    assert len(ids) == n and len(set(ids)) == n, "every unit exactly once"
    assert sum(len(d["units"]) for d in db.last_known.find({})) == n
    assert db.sync_stats.count_documents({"_id": cycle.cycle_id}) == 1
    await mc.close()
    await client.aclose()


async def test_background_failure_is_reported_and_restarted():
    from cartrack_desktop.services.infra.errors import ErrorBus
    from cartrack_desktop.services.infra.supervisor import Supervisor

    bus = ErrorBus()
    notices = []
    bus.subscribe(notices.append)
    sup = Supervisor(bus)
    runs = []

    async def flaky():
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RuntimeError("boom")
        await asyncio.Event().wait()

    sup.start("flaky", flaky)
    await async_wait_until(lambda: len(runs) == 2, 5, "restarted")
    assert notices and "boom" in notices[0].message and notices[0].source == "flaky"
    await sup.stop()




async def test_a_task_that_swallows_its_cancellation_cannot_leave_a_new_task_running_after_stop():
    """As the fleet loader did once in the suite: a driver turned the stop's CancelledError into its own
    error, the loader went on and started the simulator after stop() had taken its list of tasks."""
    from cartrack_desktop.services.infra.errors import ErrorBus
    from cartrack_desktop.services.infra.supervisor import Supervisor

    sup = Supervisor(ErrorBus())
    started = []
    waiting = asyncio.Event()

    async def forever():
        started.append("late")
        await asyncio.Event().wait()

    async def loader():
        try:
            waiting.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass                                   # swallowed, as a driver's error would be
        sup.start("late", forever)

    task = sup.start("loader", loader, restart=False)
    await waiting.wait()
    await sup.stop(timeout=2.0)
    assert task.done()
    assert started == []                           # refused: cancelled before it ran
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
                 and t.get_name() in ("late", "loader")]
    assert leftovers == []


async def test_a_lease_being_stopped_while_it_ends_its_role_stops():
    """The lease-lost path waits for its role to end; a stop arriving then must not be swallowed."""
    from cartrack_desktop.services.infra.lease import _cancel_and_wait

    release, ending, running = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def role():
        try:
            running.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ending.set()
            await release.wait()                   # slow to end
            raise

    role_task = asyncio.ensure_future(role())
    await running.wait()
    lease_task = asyncio.ensure_future(_cancel_and_wait(role_task))
    await ending.wait()
    lease_task.cancel()                            # the runtime stops while the role is ending
    with pytest.raises(asyncio.CancelledError):
        await lease_task
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await role_task
