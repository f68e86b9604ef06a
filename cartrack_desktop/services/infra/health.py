"""Are Redis and MongoDB reachable? Checked every 2 s; changes go to the error bus (status bar, log)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import pymongo
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from .errors import ErrorBus, Level, first_line
from .timeouts import within

log = logging.getLogger(__name__)

HEALTH_EVERY_S = 2.0
PING_TIMEOUT_S = 2.0

Ping = Callable[[], Awaitable[object]]


@dataclass
class Health:
    redis_ok: bool = False
    mongo_ok: bool = False
    redis_detail: str = "connecting"
    mongo_detail: str = "connecting"
    checked: bool = False


class HealthMonitor:
    """Keeps `health` (read by the status bar and the stats line) up to date."""

    def __init__(self, errors: ErrorBus, health: Health, *, redis_ping: Ping, mongo_ping: Ping) -> None:
        self._errors = errors
        self._redis_ping = redis_ping
        self._mongo_ping = mongo_ping
        self.health = health

    async def check(self) -> None:
        redis_ok, redis_detail = True, "connected"
        try:
            await within(self._redis_ping(), PING_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            redis_ok, redis_detail = False, first_line(exc) or "unreachable"
        mongo_ok, mongo_detail = True, "connected"
        try:
            with pymongo.timeout(PING_TIMEOUT_S):
                await self._mongo_ping()
        except (PyMongoError, OSError) as exc:
            mongo_ok, mongo_detail = False, first_line(exc) or "unreachable"
        h = self.health
        first = not h.checked
        if first or (redis_ok, mongo_ok) != (h.redis_ok, h.mongo_ok):
            for name, ok, was, detail in (("Redis", redis_ok, h.redis_ok, redis_detail),
                                          ("MongoDB", mongo_ok, h.mongo_ok, mongo_detail)):
                if first and not ok:
                    self._errors.report(name, f"not reachable: {detail}", Level.WARNING)
                elif ok != was:
                    self._errors.report(name, "connected" if ok else f"connection lost: {detail}",
                                        Level.INFO if ok else Level.WARNING)
        h.checked = True
        h.redis_ok, h.redis_detail, h.mongo_ok, h.mongo_detail = redis_ok, redis_detail, mongo_ok, mongo_detail

    async def run(self) -> NoReturn:
        while True:
            await self.check()
            await asyncio.sleep(HEALTH_EVERY_S)
