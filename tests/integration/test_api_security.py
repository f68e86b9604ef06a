"""The API fails closed: hostile HTTP input, exposure without TLS or tokens, origins, the api-token CLI."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys

import httpx
import pytest
import trustme
from pymongo import AsyncMongoClient

from cartrack_desktop.api import limits
from cartrack_desktop.api.host import ApiConfig, ApiHost, ApiRefused
from cartrack_desktop.api.tokens import Role, TokenStore
from cartrack_desktop.config import ApiBind, ConfigError, load_settings
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.api import stack_settings, start_stack
from tests.helpers.waiting import async_wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
async def stacks(tmp_path, redis_url, mongo_uri, mongo_db_name):
    started = []

    async def start(*extra, config=None):
        stack = await start_stack(stack_settings(tmp_path, redis_url, mongo_uri, mongo_db_name, *extra), config)
        started.append(stack.runtime)
        return stack

    yield start
    for rt in started:
        await rt.stop()


def _raw(address, data: bytes, *, read_timeout=15.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(address, timeout=read_timeout) as s:
        if data:
            s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return out


async def raw(address, data: bytes, **kw) -> bytes:
    return await asyncio.to_thread(_raw, address, data, **kw)


async def test_hostile_http_input_gets_clear_4xx_and_the_server_keeps_serving(stacks, monkeypatch):
    monkeypatch.setattr(limits, "REQUEST_TIMEOUT_S", 1.0)
    stack = await stacks("--no-simulator")
    addr = stack.host.address
    big_header = b"GET /stats HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40_000 + b"\r\n\r\n"
    assert (await raw(addr, big_header)).startswith(b"HTTP/1.1 431")
    many_headers = b"GET /stats HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(3000)) + b"\r\n"
    assert (await raw(addr, many_headers)).startswith(b"HTTP/1.1 431")
    body = b"{" + b" " * 200_000 + b"}"
    answer = await raw(addr, b"POST /police/nearby HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 413")
    chunked = b"".join(b"%x\r\n%s\r\n" % (4096, b" " * 4096) for _ in range(40)) + b"0\r\n\r\n"
    answer = await raw(addr, b"POST /police/nearby HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert answer.startswith(b"HTTP/1.1 413")
    assert (await raw(addr, b"GET /stats HTTP/1.1\r\nHo")).startswith(b"HTTP/1.1 408")        # slow head
    assert (await raw(addr, b"")).startswith(b"HTTP/1.1 408")                                 # idle connection
    slow_body = (b"POST /police/nearby HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 50\r\n\r\n{")
    assert (await raw(addr, slow_body)).startswith(b"HTTP/1.1 408")
    assert (await raw(addr, b"\x16\x03\x01 garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
    assert (await raw(addr, b"GET /police/realtime/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(b"HTTP/1.1 4")
    async with httpx.AsyncClient(base_url=stack.url, trust_env=False) as c:
        assert (await c.get("/police/realtime/" + "<script>" * 600)).status_code == 404
        r = await c.post("/police/nearby", json={"lat": 1e300, "lng": 1, "radius_km": 3})
        assert r.status_code == 422
        r = await c.post("/police/incidents", json={"lat": 1.0, "lng": 1.0, "type": "x" * 100_000})
        assert r.status_code == 413
        r = await c.post("/police/incidents", json={"lat": 1.0, "lng": 1.0, "type": "A", "notes": "\u202e" * 10})
        assert r.status_code in (201, 422)   # format characters are text, shown literally; never executed
        assert (await c.get("/stats")).status_code == 200          # still serving
    assert stack.runtime.redis_rejections.total == 0


async def test_origins_loopback_pages_allowed_others_refused_cors_off_unless_listed(stacks):
    stack = await stacks("--no-simulator", config=ApiConfig(ApiBind("127.0.0.1", 0), cors=("https://wall.example",)))
    async with httpx.AsyncClient(base_url=stack.url, trust_env=False) as c:
        r = await c.get("/stats", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        r = await c.post("/police/incidents", json={"lat": 1.0, "lng": 1.0, "type": "A"},
                         headers={"Origin": "null"})
        assert r.status_code == 403
        r = await c.get("/stats", headers={"Origin": "http://localhost:3000"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        r = await c.get("/stats", headers={"Origin": "https://wall.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://wall.example"
        pre = await c.options("/police/dispatch", headers={"Origin": "https://wall.example",
                                                           "Access-Control-Request-Method": "POST",
                                                           "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200 and "POST" in pre.headers["access-control-allow-methods"]


def test_exposed_without_tls_is_refused_by_the_settings():
    for argv in (["--api", "0.0.0.0:8443"], ["--api", "[::]:8000"], ["--api", "192.0.2.1:80"]):
        with pytest.raises(ConfigError) as info:
            load_settings(argv, environ={})
        assert "TLS" in str(info.value) and info.value.setting == "--api"
    for bad in ("8000x", "host.example:80", "127.0.0.1:70000", "[::1"):
        with pytest.raises(ConfigError):
            load_settings(["--api", bad], environ={})
    assert load_settings(["--api", "8000"], environ={}).api == ApiBind("127.0.0.1", 8000)
    assert load_settings([], environ={"CARTRACK_API": "localhost:9000"}).api == ApiBind("127.0.0.1", 9000)
    with pytest.raises(ConfigError):
        load_settings(["--api", "8000", "--api-cors", "*"], environ={})


@pytest.fixture
def tls_files(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    key_path, cert_path, ca_path = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    ca.cert_pem.write_to_path(str(ca_path))
    return cert_path, key_path, ca_path


async def test_exposed_with_tls_needs_a_token_then_serves_https_only(tmp_path, redis_url, mongo_uri, mongo_db_name,
                                                                     tls_files):
    cert, key, ca = tls_files
    s = stack_settings(tmp_path, redis_url, mongo_uri, mongo_db_name, "--no-simulator")
    rt = Runtime(s)
    await rt.start()
    try:
        await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
        exposed = ApiConfig(ApiBind("0.0.0.0", 0), cert=str(cert), key=str(key))
        with pytest.raises(ApiRefused, match="at least one token"):
            await ApiHost(rt, exposed).prepare()
        token, _ = await TokenStore(rt.records.db).create("cad-link", Role.READ, created_by="t")
        host = ApiHost(rt, exposed)
        await host.prepare()
        rt.supervisor.start("api", host.run)
        await async_wait_until(lambda: host.ctx is not None and host.ctx.auth.mode.value == "tokens", 15, "serving")
        port = host.address[1]
        verify = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=verify, trust_env=False) as c:
            assert (await c.get("/stats")).status_code == 401
            assert (await c.get("/stats", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        answer = await raw(("127.0.0.1", port), b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=5)
        assert b'"simulator"' not in answer      # plain HTTP never reaches the app
    finally:
        await rt.stop()


async def _cli(*args, env=None):
    proc = await asyncio.create_subprocess_exec(sys.executable, "main.py", *args, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_headless_refuses_to_expose_the_api_without_a_token(tmp_path, redis_url, mongo_uri, mongo_db_name,
                                                                  tls_files):
    cert, key, _ = tls_files
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    code, _out, err = await _cli("--headless", "--no-simulator", "--redis-url", redis_url, "--mongo-uri", uri,
                                 "--data-dir", str(tmp_path / "d"), "--api", "0.0.0.0:0", "--duration", "20")
    assert code == 2 and "TLS" in err
    code, _out, err = await _cli("--headless", "--no-simulator", "--redis-url", redis_url, "--mongo-uri", uri,
                                 "--data-dir", str(tmp_path / "d"), "--api", "0.0.0.0:0", "--api-cert", str(cert),
                                 "--api-key", str(key), "--duration", "20")
    assert code == 1 and "needs at least one token" in err


async def test_api_token_cli_create_list_revoke(redis_url, mongo_uri, mongo_db_name):
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    code, out, err = await _cli("api-token", "create", "dispatch-desk-3", "--role", "dispatch", "--mongo-uri", uri)
    assert code == 0, err
    token = out.strip()
    assert token.startswith("ctk_") and "shown only now" in err
    db = TokenStore(AsyncMongoClient(uri)[mongo_db_name])
    valid = await db.valid()
    [record] = valid.values()
    assert record.name == "dispatch-desk-3" and record.role is Role.DISPATCH and token not in str(record)
    code, out, _ = await _cli("api-token", "list", "--mongo-uri", uri)
    assert code == 0 and "dispatch-desk-3" in out and "valid" in out and token not in out
    code, _, err = await _cli("api-token", "create", "dispatch-desk-3", "--role", "read", "--mongo-uri", uri)
    assert code == 1 and "exists already" in err
    code, _, err = await _cli("api-token", "create", "<b>x</b>", "--role", "read", "--mongo-uri", uri)
    assert code == 1 and "token name" in err
    code, _, err = await _cli("api-token", "create", "y", "--role", "root", "--mongo-uri", uri)
    assert code == 2
    code, _, err = await _cli("api-token", "revoke", "dispatch-desk-3", "--mongo-uri", uri)
    assert code == 0 and "revoked" in err
    assert await db.valid() == {}
    code, _, err = await _cli("api-token", "revoke", "dispatch-desk-3", "--mongo-uri", uri)
    assert code == 1


async def test_api_token_cli_reaches_the_embedded_database_of_a_running_instance(tmp_path, redis_url):
    data = tmp_path / "embedded"
    s = load_settings(["--redis-url", redis_url, "--data-dir", str(data), "--no-simulator"], environ={})
    rt = Runtime(s)                      # embedded MongoDB, holding the data directory's lock
    await rt.start()
    try:
        code, _out, err = await _cli("api-token", "create", "night-shift", "--role", "read", "--data-dir", str(data))
        assert code == 0, err
        valid = await TokenStore(rt.records.db).valid()
        assert [r.name for r in valid.values()] == ["night-shift"]
    finally:
        await rt.stop()


async def test_headless_serves_the_api_and_stops_cleanly_on_sigterm(tmp_path, redis_url, mongo_uri, mongo_db_name):
    import signal

    from tests.helpers.servers import free_port

    port = free_port()
    uri = mongo_uri.replace("/?", f"/{mongo_db_name}?")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "--headless", "--cars", "2", "--redis-url", redis_url, "--mongo-uri", uri,
        "--data-dir", str(tmp_path / "d"), "--api", str(port), cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://localhost:{port}", trust_env=False) as c:

            async def live() -> bool:
                try:
                    r = await c.get("/police/realtime/PC-002")
                except httpx.TransportError:
                    return False
                return r.status_code == 200

            await async_wait_until(live, 30, "the headless service's API answers")
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, err.decode()[-2000:]
        text = err.decode()
        assert f"API listening on http://127.0.0.1:{port}" in text and "API stopped" in text
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
