"""Real redis-server and secantusd-py processes on free loopback ports, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
from pymongo import MongoClient

from cartrack_desktop.services.infra.embedded import find_redis_server, find_secantusd

_PAUSE = threading.Event()  # never set: .wait(t) is an interruptible poll interval


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(Exception):
            if predicate():
                return
        _PAUSE.wait(0.05)  # poll interval of a condition wait, not a fixed delay
    raise RuntimeError(f"{what} not ready after {timeout} s")


class RedisServer:
    """A private redis-server; can be stopped, paused and restarted on the same port."""

    def __init__(self, workdir: Path, *, password: str | None = None, extra: list[str] | None = None,
                 port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.password = password
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **kw)

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen([*args, *self.extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: self.client(socket_timeout=0.5).ping(), 10, "redis-server", self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


class MongoServer:
    """A private secantusd-py with on-disk storage; restartable on the same port and data."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra: list[str] | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def client(self) -> MongoClient:
        return MongoClient(self.uri, serverSelectionTimeoutMS=3000, tz_aware=True)

    def start(self) -> MongoServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "secantusd.toml"
        conf.write_text("")
        log = open(self.workdir / "secantusd.log", "ab")
        self.proc = subprocess.Popen(
            [find_secantusd(), "--config", str(conf), "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", str(self.workdir / "data"), "--log-level", "WARNING", *self.extra],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

        def ping() -> bool:
            c = MongoClient(self.uri, serverSelectionTimeoutMS=300)
            try:
                c.admin.command("ping")
                return True
            finally:
                c.close()

        _wait(ping, 30, "secantusd-py", self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def have_redis() -> bool:
    try:
        find_redis_server()
        return True
    except Exception:
        return False


def python_exe() -> str:
    return sys.executable


def which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
