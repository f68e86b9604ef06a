"""Authenticated and encrypted Redis: TLS with certificate verification, an ACL user with the
least privileges the app needs, failures that fail closed, and no credential in any log."""

import asyncio
import logging
import subprocess
from pathlib import Path

import orjson
import pytest
import trustme

from cartrack_desktop.config import ConfigError, load_settings
from cartrack_desktop.domain.models import UnitStatus
from cartrack_desktop.services.infra.redis_conn import make_redis
from cartrack_desktop.services.live.live_feed import FeedState, LiveFeed
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.servers import free_port
from tests.helpers.waiting import async_wait_until, wait_until

PASSWORD = "s3cr3t-Pa55-w0rd"
# The least-privilege ACL documented in the README (keys, channels, commands).
APP_ACL = (
    "user cartrack on >{pw} ~car:location:* ~cartrack:* &car:location:stream:* &cartrack:* -@all "
    "+ping +hello +client|setname +select +get +set +mget +del +ttl +time +pexpire "
    "+zadd +zrem +zrangebyscore +geoadd +geosearch +hset +hsetnx +hget +hgetall +hdel "
    "+publish +subscribe +psubscribe +unsubscribe +punsubscribe +evalsha +eval +script|load +script|exists "
    "+hlen +xadd +xreadgroup +xack +xdel +xautoclaim +xgroup|create"
)


class TlsRedis:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = workdir / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        cert.private_key_pem.write_to_path(str(workdir / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(workdir / "server.pem"))
        (workdir / "users.acl").write_text("user default off\n" + APP_ACL.format(pw=PASSWORD) + "\n")
        self.port = free_port()
        from cartrack_desktop.services.infra.embedded import find_redis_server

        self.proc = subprocess.Popen([
            find_redis_server(), "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(workdir / "server.pem"), "--tls-key-file", str(workdir / "server.key"),
            "--tls-ca-cert-file", str(self.ca_file), "--tls-auth-clients", "no", "--save", "",
            "--appendonly", "no", "--aclfile", str(workdir / "users.acl"), "--dir", str(workdir),
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        def up() -> bool:
            try:
                return bool(redis.Redis(host="127.0.0.1", port=self.port, ssl=True, ssl_ca_certs=str(self.ca_file),
                                        username="cartrack", password=PASSWORD, socket_timeout=1).ping())
            except redis.RedisError:
                return False

        wait_until(up, 15, "TLS redis-server")

    def url(self, user: str = "cartrack", password: str = PASSWORD, scheme: str = "rediss") -> str:
        return f"{scheme}://{user}:{password}@127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    server = TlsRedis(tmp_path_factory.mktemp("tls-redis"))
    yield server
    server.stop()


def settings(tls_redis, tmp_path, mongo_uri, mongo_db_name, url=None, *extra):
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    return load_settings(["--redis-url", url or tls_redis.url(), "--redis-ca-file", str(tls_redis.ca_file),
                          "--mongo-uri", uri, "--data-dir", str(tmp_path / "d"), *extra], environ={})


async def test_app_runs_over_tls_with_the_least_privilege_acl(tls_redis, tmp_path, mongo_uri, mongo_db_name,
                                                             caplog):
    caplog.set_level(logging.DEBUG)
    s = settings(tls_redis, tmp_path, mongo_uri, mongo_db_name, None, "--cars", "5")
    rt = Runtime(s)
    await rt.start()
    try:
        await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
        await async_wait_until(lambda: rt.health.redis_ok and rt.simulator.stats.ticks >= 2, 10, "simulating")
        # the live feed, nearby search, dispatch (status hash, events, scripts) all work under the ACL
        got = []
        feed = LiveFeed(rt.redis_url, rt.store, on_snapshot=got.extend, on_positions=lambda ps, _s: got.extend(ps))
        task = asyncio.create_task(feed.run())
        await async_wait_until(lambda: feed.state is FeedState.LIVE and len(got) > 5, 10, "feed over TLS")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        p = await rt.store.get_car_location("PC-001")
        assert await rt.store.get_nearby_cars(p.lat, p.lng, 50.0)
        inc = await rt.dispatch.create_incident(p.lat, p.lng, "Alarm", 3, "")
        assert (await rt.dispatch.dispatch(inc.incident_id, ["PC-001"]))[0].ok
        assert rt.dispatch.status_of("PC-001") is not UnitStatus.AVAILABLE
        await async_wait_until(lambda: rt.sync.stats.cycles >= 1, 40, "a sync cycle")
        # device data: a late fix lands in the history, an alarm is raised and acknowledged
        fix = {"car_id": "PC-002", "lat": p.lat, "lng": p.lng, "speed": 1.0, "heading": 0.0, "timestamp": 1e9}
        await rt.store.client.xadd("cartrack:late", {"p": orjson.dumps(fix)})
        await async_wait_until(lambda: rt.late.stats.landed == 1, 15, "late fix landed under the ACL")
        alarm = {"alarm_id": "PC-002-1", "car_id": "PC-002", "alarm": "sos", "at": 1e9, "raised_at": 1e9,
                 "lat": p.lat, "lng": p.lng, "device_id": "dev-2", "protocol": "osmand"}
        await rt.store.client.hset("cartrack:alarms", "PC-002-1", orjson.dumps(alarm))
        await rt.alarms.load()
        assert (await rt.alarms.acknowledge("PC-002-1")).ok
        assert rt.late.stats.failures == 0
    finally:
        await rt.stop()
    assert PASSWORD not in caplog.text


async def test_tls_is_verified_and_failures_fail_closed(tls_redis, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    import redis.asyncio as aioredis
    from redis.exceptions import AuthenticationError
    from redis.exceptions import ConnectionError as RedisConnectionError

    ok = make_redis(tls_redis.url() + f"?ssl_ca_certs={tls_redis.ca_file}")
    assert await ok.ping()
    await ok.aclose()
    # no CA given: the self-signed chain is not trusted -> refused, never downgraded
    no_ca = make_redis(tls_redis.url())
    with pytest.raises(RedisConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await no_ca.ping()
    await no_ca.aclose()
    # plain text to the TLS port: no silent fallback, the connection simply fails
    plain = make_redis(tls_redis.url(scheme="redis"))
    with pytest.raises((RedisConnectionError, aioredis.ResponseError)):
        await plain.ping()
    await plain.aclose()
    # wrong password, and the disabled default user
    for url in (tls_redis.url(password="wrong-password"), f"rediss://127.0.0.1:{tls_redis.port}/0"):
        bad = make_redis(url + f"?ssl_ca_certs={tls_redis.ca_file}")
        with pytest.raises((AuthenticationError, aioredis.ResponseError, RedisConnectionError)):
            await bad.ping()
        await bad.aclose()
    # the ACL really is narrow: other keys and admin commands are refused
    narrow = make_redis(tls_redis.url() + f"?ssl_ca_certs={tls_redis.ca_file}")
    with pytest.raises(aioredis.ResponseError, match="no permissions"):
        await narrow.set("other:key", "x")
    with pytest.raises(aioredis.ResponseError, match="no permissions"):
        await narrow.flushall()
    await narrow.aclose()
    assert PASSWORD not in caplog.text and "wrong-password" not in caplog.text


async def test_a_bad_password_is_reported_clearly_without_the_password(tls_redis, tmp_path, mongo_uri,
                                                                      mongo_db_name, caplog):
    caplog.set_level(logging.DEBUG)
    s = settings(tls_redis, tmp_path, mongo_uri, mongo_db_name, tls_redis.url(password="Wr0ng-Secret-9"),
                 "--no-simulator")
    notices = []
    rt = Runtime(s)
    rt.errors.subscribe(notices.append)
    await rt.start()
    try:
        await async_wait_until(lambda: rt.health.redis_detail not in ("connecting", ""), 10, "health verdict")
        assert not rt.health.redis_ok
        assert "password" in rt.health.redis_detail.lower() or "auth" in rt.health.redis_detail.lower()
        await async_wait_until(lambda: any(n.source == "Redis" for n in notices), 10, "notice")
    finally:
        await rt.stop()
    shown = " ".join(n.message for n in notices) + rt.health.redis_detail
    for secret in ("Wr0ng-Secret-9", PASSWORD):
        assert secret not in shown
        assert secret not in caplog.text


def test_tls_files_need_a_rediss_url(tls_redis, tmp_path):
    with pytest.raises(ConfigError, match="rediss://"):
        load_settings(["--redis-url", "redis://h:1/0", "--redis-ca-file", str(tls_redis.ca_file)], environ={})
    with pytest.raises(ConfigError, match="readable"):
        load_settings(["--redis-url", "rediss://h:1/0", "--redis-ca-file", str(tmp_path / "none.pem")], environ={})




class TlsMongo:
    """secantusd-py with TLS and SCRAM authentication (users created first, then --auth)."""

    def __init__(self, workdir: Path, ca: trustme.CA) -> None:
        from tests.helpers.servers import MongoServer

        cert = ca.issue_cert("127.0.0.1", "localhost")
        key, pem = workdir / "mongo.key", workdir / "mongo.pem"
        workdir.mkdir(parents=True, exist_ok=True)
        cert.private_key_pem.write_to_path(str(key))
        cert.cert_chain_pems[0].write_to_path(str(pem))
        self.ca_file = workdir / "mongo-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        tls = ["--tls-cert-file", str(pem), "--tls-key-file", str(key)]
        setup = MongoServer(workdir / "m", extra=tls)
        self._start_plain_tls(setup)
        self.server = MongoServer(workdir / "m", port=setup.port, extra=[*tls, "--auth"])
        self._start_plain_tls(self.server, wait_auth=True)

    def _start_plain_tls(self, srv, wait_auth: bool = False) -> None:
        from pymongo import MongoClient

        srv.workdir.mkdir(parents=True, exist_ok=True)
        (srv.workdir / "secantusd.toml").write_text("")
        from cartrack_desktop.services.infra.embedded import find_secantusd

        srv.proc = subprocess.Popen(
            [find_secantusd(), "--config", str(srv.workdir / "secantusd.toml"), "--host", "127.0.0.1", "--port",
             str(srv.port), "--storage-path", str(srv.workdir / "data"), "--log-level", "WARNING", *srv.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tls_uri = f"mongodb://127.0.0.1:{srv.port}/?tls=true&tlsCAFile={self.ca_file}&directConnection=true"

        def up() -> bool:
            c = MongoClient(tls_uri, serverSelectionTimeoutMS=300)
            try:
                c.admin.command("ping")
                return True
            except Exception:
                return False
            finally:
                c.close()

        wait_until(up, 20, "TLS secantusd-py")
        if not wait_auth:
            c = MongoClient(tls_uri)
            c.cartrack.command("createUser", "dispatch", pwd=PASSWORD, roles=[{"role": "readWrite", "db": "cartrack"}])
            c.close()
            srv.proc.terminate()
            srv.proc.wait(15)

    def uri(self, password: str = PASSWORD, ca: bool = True) -> str:
        ca_part = f"&tlsCAFile={self.ca_file}" if ca else ""
        return (f"mongodb://dispatch:{password}@127.0.0.1:{self.server.port}/cartrack?authSource=cartrack"
                f"&tls=true{ca_part}&directConnection=true")

    def stop(self) -> None:
        self.server.stop()


async def test_mongodb_over_tls_with_authentication(tls_redis, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    mongo = TlsMongo(tmp_path / "tls-mongo", tls_redis.ca)
    try:
        s = load_settings(["--redis-url", tls_redis.url(), "--redis-ca-file", str(tls_redis.ca_file),
                           "--mongo-uri", mongo.uri(), "--data-dir", str(tmp_path / "d"), "--cars", "3"],
                          environ={})
        rt = Runtime(s)
        await rt.start()
        try:
            await asyncio.wait_for(rt.fleet.loaded.wait(), 20)
            assert len(rt.fleet) == 3 and rt.health.mongo_ok is not False
            await async_wait_until(lambda: rt.sync.stats.cycles >= 1, 40, "a sync cycle over TLS + auth")
        finally:
            await rt.stop()
        from pymongo import AsyncMongoClient
        from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

        for uri, error in ((mongo.uri(password="not-it"), OperationFailure),
                           (mongo.uri(ca=False), ServerSelectionTimeoutError)):
            client = AsyncMongoClient(uri, serverSelectionTimeoutMS=1500)
            with pytest.raises(error):
                await client.cartrack.cars.find_one({})
            await client.close()
    finally:
        mongo.stop()
    assert PASSWORD not in caplog.text and "not-it" not in caplog.text
