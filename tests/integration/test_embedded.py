import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import redis.asyncio as aioredis
from pymongo import AsyncMongoClient, MongoClient

from cartrack_desktop.services.infra.embedded import DataDirInUse, DataDirLock, EmbeddedMongo, EmbeddedRedis
from tests.helpers.waiting import wait_until


def _mongo(data: Path) -> EmbeddedMongo:
    return EmbeddedMongo(data / "run", data / "mongo", credentials_file=data / "mongo-credentials.json",
                         db_name="cartrack")


async def test_embedded_servers_start_answer_and_stop(tmp_path):
    r = EmbeddedRedis(tmp_path / "run")
    m = _mongo(tmp_path)
    url, uri = await r.start(), await m.start()
    pids = (r.pid, m.pid)
    try:
        assert url.startswith("unix://") and r.password in url
        client = aioredis.Redis.from_url(url)
        assert await client.ping()
        await client.aclose()
        # the password is required
        anon = aioredis.Redis(unix_socket_path=url.split("@", 1)[1].split("?")[0])
        with pytest.raises(Exception, match=r"(?i)auth"):
            await anon.ping()
        await anon.aclose()
        mc = AsyncMongoClient(uri)
        assert (await mc.admin.command("ping"))["ok"] == 1.0
        await mc.close()
        # loopback only
        for pid in pids:
            conns = psutil.Process(pid).net_connections(kind="inet")
            for c in conns:
                if c.status == psutil.CONN_LISTEN:
                    assert c.laddr.ip in ("127.0.0.1", "::1"), c
        assert oct((Path(url.split("@", 1)[1].split("?")[0]).parent).stat().st_mode & 0o777) == "0o700"
    finally:
        await r.stop()
        await m.stop()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_data_dir_lock_is_exclusive(tmp_path):
    a, b = DataDirLock(tmp_path), DataDirLock(tmp_path)
    a.acquire()
    with pytest.raises(DataDirInUse):
        b.acquire()
    a.release()
    b.acquire()
    b.release()


async def test_stale_server_from_a_dead_run_is_reaped(tmp_path):
    m = _mongo(tmp_path)
    await m.start()
    orphan = m.pid
    m._child = None  # forget it, as a SIGKILLed parent would
    m2 = _mongo(tmp_path)
    await m2.start()
    try:
        assert not psutil.pid_exists(orphan) or psutil.Process(orphan).status() == psutil.STATUS_ZOMBIE
    finally:
        await m2.stop()


def _app(args: list[str], **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cartrack_desktop.app", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def _children_pids(data_dir: Path) -> list[int]:
    pids = []
    for name in ("redis.pid", "mongo.pid"):
        f = data_dir / "run" / name
        words = f.read_text().split() if f.exists() else []
        if words:   # empty while the app is writing it
            pids.append(int(words[0]))
    return pids


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_sigkill_then_restart_recovers(tmp_path):
    data = tmp_path / "data"
    app = _app(["--headless", "--cars", "3", "--data-dir", str(data), "--log-level", "WARNING"])
    try:
        pids = wait_until(lambda: len(_children_pids(data)) == 2 and _children_pids(data), 30, "embedded servers")
        wait_until(lambda: all(psutil.pid_exists(p) for p in pids), 10, "children running")
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        # PR_SET_PDEATHSIG: the children follow their parent
        wait_until(lambda: all(_gone(p) for p in pids), 15, "children to exit after the parent's SIGKILL")
    finally:
        if app.poll() is None:
            app.kill()
    again = _app(["--headless", "--cars", "3", "--data-dir", str(data), "--duration", "3"])
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out
    assert "Traceback" not in out


def test_sigterm_and_sigint_stop_cleanly(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        data = tmp_path / f"data-{sig}"
        app = _app(["--headless", "--cars", "3", "--data-dir", str(data)])
        try:
            pids = wait_until(lambda: len(_children_pids(data)) == 2 and _children_pids(data), 30, "servers")
            out_lines: list[str] = []
            for line in app.stdout:  # type: ignore[union-attr]
                out_lines.append(line)
                if "headless service running" in line:
                    break
            app.send_signal(sig)
            rest, _ = app.communicate(timeout=15)
        finally:
            if app.poll() is None:
                app.kill()
        assert app.returncode == 0, "".join(out_lines) + rest
        assert all(_gone(p) for p in pids)
        assert not (data / "run" / "redis.pid").exists()


def test_data_persists_across_restarts(tmp_path):
    data = tmp_path / "data"
    for _ in range(2):
        app = _app(["--headless", "--cars", "4", "--data-dir", str(data), "--duration", "3"])
        out, _ = app.communicate(timeout=60)
        assert app.returncode == 0, out
    m = _mongo(data)  # the app's own credentials file: the same user
    import asyncio

    async def count():
        uri = await m.start()
        try:
            c = MongoClient(uri)
            n = c.cartrack.cars.count_documents({})
            c.close()
            return n
        finally:
            await m.stop()

    assert asyncio.run(count()) == 4  # seeded once, found again on the second start


def test_second_instance_on_same_data_dir_fails_clearly(tmp_path):
    data = tmp_path / "data"
    first = _app(["--headless", "--cars", "1", "--data-dir", str(data)])
    try:
        wait_until(lambda: len(_children_pids(data)) == 2, 30, "first instance up")
        second = _app(["--headless", "--cars", "1", "--data-dir", str(data)], env={**os.environ})
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "in use by another CarTrack instance" in out
        assert "Traceback" not in out
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=15)


def test_window_that_loses_its_display_leaves_no_server_behind(tmp_path):
    """The X display goes away under a running window: the app ends and takes its servers along."""
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        display = f.readline().strip()
    data = tmp_path / "data"
    env = {**os.environ, "DISPLAY": f":{display}", "QT_QPA_PLATFORM": "xcb"}
    app = _app(["--cars", "20", "--tiles", "none", "--data-dir", str(data)], env=env)
    try:
        for line in app.stdout:  # type: ignore[union-attr]
            if "start-up finished" in line:
                break
        pids = wait_until(lambda: len(_children_pids(data)) == 2 and _children_pids(data), 30, "embedded servers")
        xvfb.kill()
        xvfb.wait(10)
        app.communicate(timeout=30)
        assert app.returncode != 0
        wait_until(lambda: all(_gone(p) for p in pids), 15, "servers to exit with the app")
    finally:
        for p in (app, xvfb):
            if p.poll() is None:
                p.kill()
                p.wait()
