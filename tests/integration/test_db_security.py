"""The embedded servers and the data directory are closed to other local users and processes.

Issue: the embedded MongoDB-wire server listened without authentication and its files were
world-readable. Against the real embedded servers: clients without the app's credentials are
refused (from another process), files and directories are private whatever the umask, no
password shows in logs or process arguments, and an old unauthenticated data directory is
migrated with its data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from cartrack_desktop.config import load_settings
from cartrack_desktop.headless import stats_line
from cartrack_desktop.services.infra.embedded import MONGO_CREDENTIALS_FILE, find_secantusd
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.servers import free_port
from tests.helpers.waiting import wait_until

# Run in ANOTHER process, as another local program would, without the app's credentials.
_INTRUDER = r"""
import json, sys
import redis
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pymongo.errors import OperationFailure
out = {}
c = MongoClient(sys.argv[1], serverSelectionTimeoutMS=3000)
for name, call in (("list_databases", lambda: c.list_database_names()),
                   ("read_cars", lambda: c.cartrack.cars.count_documents({})),
                   ("write_cars", lambda: c.cartrack.cars.insert_one({"_id": "INTRUDER"}))):
    try:
        call()
        out[name] = "allowed"
    except OperationFailure as exc:
        out[name] = "refused:%s" % exc.code
r = redis.Redis(unix_socket_path=sys.argv[2], socket_timeout=3)
for name, call in (("redis_read", lambda: r.get("car:location:PC-001")), ("redis_write", lambda: r.set("x", "1"))):
    try:
        call()
        out[name] = "allowed"
    except redis.exceptions.AuthenticationError:
        out[name] = "refused:auth"
    except redis.exceptions.ResponseError as exc:
        out[name] = "refused:%s" % str(exc).split()[0]
print(json.dumps(out))
"""


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _settings(data_dir: Path, *extra: str):
    return load_settings(["--headless", "--cars", "3", "--data-dir", str(data_dir), *extra], environ={})


def _not_private(root: Path) -> list[str]:
    """What `find root -perm /077` would list."""
    return [str(p) for p in [root, *root.rglob("*")]
            if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]


def _answers(client: MongoClient) -> bool:
    try:
        return bool(client.admin.command("ping")["ok"])
    except PyMongoError:
        return False


def _password(data_dir: Path) -> str:
    return str(json.loads((data_dir / MONGO_CREDENTIALS_FILE).read_text())["password"])


async def _started(settings) -> Runtime:
    rt = Runtime(settings)
    await rt.start()
    await asyncio.wait_for(rt.fleet.loaded.wait(), 30)
    return rt


async def test_other_processes_can_neither_read_nor_write(tmp_path, permissive_umask):
    data = tmp_path / "data"
    rt = await _started(_settings(data))
    try:
        assert rt.servers.mongo is not None and rt.servers.redis is not None
        port = rt.servers.mongo.port
        sock = rt.servers.redis.url.split("@", 1)[1].split("?")[0]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _INTRUDER, f"mongodb://127.0.0.1:{port}/?directConnection=true", sock,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        result = json.loads(out)
        assert all(v.startswith("refused") for v in result.values()), result
        # the app itself works with its own credentials
        assert len(await rt._registry.load()) == 3
    finally:
        await rt.stop()


async def test_files_are_private_whatever_the_umask_and_repaired_on_start(tmp_path, permissive_umask, caplog):
    data = tmp_path / "data"
    rt = await _started(_settings(data))
    try:
        assert _not_private(data) == []
    finally:
        await rt.stop()
    assert _not_private(data) == []
    # as an earlier version left it: readable by everyone
    for p in [data, *data.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (data / "notes-from-old-version.txt").write_text("x")
    assert _not_private(data)
    caplog.set_level(logging.WARNING)
    rt = await _started(_settings(data))
    try:
        assert _not_private(data) == []
        assert any("were readable by other users" in r.getMessage() for r in caplog.records)
    finally:
        await rt.stop()


async def test_restart_reopens_the_data_and_no_password_leaks(tmp_path, permissive_umask, caplog):
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    rt = await _started(_settings(data, "--log-level", "DEBUG"))
    password = _password(data)
    try:
        assert password and password not in rt.mongo_uri.replace(password, "") and password in rt.mongo_uri
        procs = [psutil.Process(p) for p in (rt.servers.mongo.pid, rt.servers.redis.pid)]  # type: ignore[union-attr]
        for p in procs:
            assert password not in " ".join(p.cmdline())
            assert not any(password in v for v in p.environ().values())
        await rt._registry.add("PC-900", "Kept-1")
    finally:
        await rt.stop()
    rt = await _started(_settings(data))
    try:
        assert _password(data) == password          # the same user, not provisioned again
        assert "PC-900" in {c.car_id for c in await rt._registry.load()}
        assert stats_line(rt).startswith("redis=ok mongo=ok")
    finally:
        await rt.stop()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    servers = "\n".join(f.read_text(errors="replace") for f in (data / "run").glob("*.log"))
    assert password not in logged and password not in servers
    assert "provisioning the embedded database's user" in logged


def _write_as_an_earlier_version(data: Path) -> None:
    """What an earlier build left: a SecantusDB storage without authentication, with one unit."""
    (data / "mongo").mkdir(parents=True)
    port = free_port()
    old = subprocess.Popen([find_secantusd(), "--host", "127.0.0.1", "--port", str(port), "--storage-path",
                            str(data / "mongo"), "--standalone", "--log-level", "WARNING"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client: MongoClient = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true",
                                          serverSelectionTimeoutMS=500)
        wait_until(lambda: _answers(client), 30, "old-style server")
        client.cartrack.cars.insert_one({"_id": "PC-777", "car_id": "PC-777", "call_sign": "Old-7",
                                         "status": "available", "simulated": True})
        client.close()
    finally:
        old.terminate()
        old.wait(30)


async def test_old_unauthenticated_data_directory_is_migrated(tmp_path, permissive_umask):
    """A data directory an earlier version wrote (no authentication, 0644 files) keeps its data."""
    data = tmp_path / "data"
    _write_as_an_earlier_version(data)
    assert not (data / MONGO_CREDENTIALS_FILE).exists()
    rt = await _started(_settings(data))
    try:
        assert "PC-777" in rt.fleet
        anon = MongoClient(f"mongodb://127.0.0.1:{rt.servers.mongo.port}/?directConnection=true",  # type: ignore[union-attr]
                           serverSelectionTimeoutMS=2000)
        with pytest.raises(Exception, match=r"(?i)auth"):
            anon.cartrack.cars.count_documents({})
        anon.close()
        assert _not_private(data) == []
    finally:
        await rt.stop()


async def test_storage_that_does_not_know_the_user_is_provisioned_again(tmp_path):
    """Credentials file kept, storage replaced (restored from elsewhere): the app provisions and starts."""
    data = tmp_path / "data"
    rt = await _started(_settings(data))
    await rt.stop()
    password = _password(data)
    for p in sorted((data / "mongo").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    rt = await _started(_settings(data))
    try:
        assert _password(data) == password
        assert len(rt.fleet) == 3
    finally:
        await rt.stop()
