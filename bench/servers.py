"""Private servers for one benchmark group: a fresh redis-server and/or secantusd-py on free ports.

Reuses the test suite's RedisServer/MongoServer (tests/helpers/servers.py) so benchmarks and
tests run against exactly the same server setup. Never touches the machine's own redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cartrack_desktop.services.infra.embedded import MONGO_NICE
from tests.helpers.servers import MongoServer, RedisServer


@dataclass
class Servers:
    redis: RedisServer | None
    mongos: list[MongoServer]

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return self.redis.url

    def mongo_uri(self, db: str, index: int = 0) -> str:
        """A URI naming the database (the app takes its database name from the URI)."""
        return f"mongodb://127.0.0.1:{self.mongos[index].port}/{db}?directConnection=true"

    def mongo_pid(self, index: int = 0) -> int | None:
        proc = self.mongos[index].proc
        return proc.pid if proc is not None else None


def _stop(server: RedisServer | MongoServer, grace_s: float = 5.0) -> None:
    """Terminate, then kill: a server still busy with an abandoned request must not outlive its group."""
    proc = server.proc
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    server.proc = None


@contextlib.contextmanager
def private_servers(workdir: Path, *, redis: bool = True, mongo: int = 0) -> Iterator[Servers]:
    """Start what a group needs (fresh, empty); always stop it again, even when the group failed."""
    r: RedisServer | None = None
    ms: list[MongoServer] = []
    try:
        if redis:
            r = RedisServer(workdir / "redis").start()
        for i in range(mongo):
            m = MongoServer(workdir / f"mongo{i}", extra=["--standalone"]).start()  # as embedded
            # as the app runs its embedded database: at a lower CPU priority than the window
            if m.proc is not None:
                os.setpriority(os.PRIO_PROCESS, m.proc.pid, MONGO_NICE)
            ms.append(m)
        yield Servers(r, ms)
    finally:
        servers: list[RedisServer | MongoServer] = [*ms, *([r] if r is not None else [])]
        for srv in servers:
            with contextlib.suppress(Exception):
                _stop(srv)


class VirtualDisplay:
    """An Xvfb of our own when the bench was not started under xvfb-run (24-bit: 16 crashes QtWebEngine)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.display: str | None = os.environ.get("DISPLAY") or None

    def ensure(self) -> str | None:
        """DISPLAY to use, starting Xvfb if needed; None when there is neither a display nor Xvfb."""
        if self.display:
            return self.display
        xvfb = shutil.which("Xvfb")
        if xvfb is None:
            return None
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [xvfb, "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"],
            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(w)
        with os.fdopen(r) as f:
            num = f.readline().strip()
        if not num:
            self.stop()
            return None
        self.display = f":{num}"
        return self.display

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def scratch_dir(prefix: str = "cartrack-bench-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
