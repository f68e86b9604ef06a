"""Leader leases in Redis: one simulator and one sync for all instances sharing the servers.

SET key token NX PX ttl to take the lease; a compare-and-PEXPIRE script renews it; losing
it (or Redis) stops the role, which starts again wherever the lease is taken next. A role
may therefore pause for up to one TTL after its leader dies, never run twice for longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .timeouts import within

log = logging.getLogger(__name__)

LEASE_TTL_S = 6.0
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    def __init__(self, client: aioredis.Redis, name: str, *, ttl_s: float = LEASE_TTL_S,
                 instance: str | None = None) -> None:
        self._r = client
        self.key = f"cartrack:lease:{name}"
        self.name = name
        self.ttl_ms = int(ttl_s * 1000)
        self.token = instance or uuid.uuid4().hex
        self.held = False
        self._renew = client.register_script(_RENEW_LUA)
        self._release = client.register_script(_RELEASE_LUA)

    async def _try_acquire(self) -> bool:
        if self.held:
            ok = int(await within(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]), 2.0)) == 1
        else:
            ok = bool(await within(self._r.set(self.key, self.token, nx=True, px=self.ttl_ms), 2.0))
        return ok

    async def run(self, role: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `role` while holding the lease; forever."""
        task: asyncio.Task[None] | None = None
        period = self.ttl_ms / 1000 / 3
        try:
            while True:
                try:
                    ok = await self._try_acquire()
                except (RedisError, OSError, TimeoutError):
                    ok = False
                if ok and not self.held:
                    log.info("%s: this instance leads", self.name)
                    task = asyncio.ensure_future(role())
                elif not ok and self.held:
                    log.warning("%s: lease lost; stopping here", self.name)
                    if task is not None:
                        await _cancel_and_wait(task)   # our own cancellation goes on (finally ends the role)
                        task = None
                self.held = ok
                if task is not None and task.done():
                    exc = None if task.cancelled() else task.exception()
                    task = None
                    if exc is not None:
                        raise exc
                await asyncio.sleep(period)
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.held:
                with contextlib.suppress(Exception):
                    await within(self._release(keys=[self.key], args=[self.token]), 1.0)
                self.held = False


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel the role and wait for its end; if this task is being cancelled itself meanwhile, say so
    (a plain suppress(CancelledError) would swallow the stop and keep the lease loop running)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if me is not None and me.cancelling():
            raise
    except Exception:  # noqa: BLE001, S110 - the role's own failure ends with it; the lease is lost anyway
        pass
