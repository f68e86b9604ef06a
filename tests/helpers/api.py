"""A runtime with its API on a free loopback port, against the tests' real servers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from cartrack_desktop.api.host import ApiConfig, ApiHost
from cartrack_desktop.config import ApiBind, load_settings
from cartrack_desktop.services.runtime import Runtime
from tests.helpers.waiting import async_wait_until


@dataclass
class ApiStack:
    runtime: Runtime
    host: ApiHost

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1)


def stack_settings(tmp_path: Path, redis_url: str, mongo_uri: str, db: str, *extra: str, name: str = "api"):
    uri = mongo_uri.replace("/?", f"/{db}?")
    return load_settings(["--redis-url", redis_url, "--mongo-uri", uri, "--data-dir", str(tmp_path / name),
                          "--dispatcher", f"disp-{name}", *extra], environ={})


async def start_stack(settings, config: ApiConfig | None = None) -> ApiStack:
    """Runtime started and loaded, API listening (port 0 unless the config says), token list read."""
    rt = Runtime(settings)
    await rt.start()
    await asyncio.wait_for(rt.fleet.loaded.wait(), 15)
    await async_wait_until(lambda: rt.events.connected, 10, "events subscribed")
    host = ApiHost(rt, config or ApiConfig(ApiBind("127.0.0.1", 0)))
    await host.prepare()
    rt.supervisor.start("api", host.run)
    await async_wait_until(lambda: host.ctx is not None and host.ctx.auth.mode.value != "unknown", 15,
                           "API serving with its token list")
    await async_wait_until(lambda: host.ctx.tracks.connected, 10, "API tracking subscribed")
    return ApiStack(rt, host)
