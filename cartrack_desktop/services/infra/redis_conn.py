"""Redis client construction: timeouts, health checks and short retries, the same everywhere."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

CONNECT_TIMEOUT_S = 3.0
COMMAND_TIMEOUT_S = 5.0
HEALTH_CHECK_S = 5          # a PING before reuse of a connection idle this long; catches half-open links


def make_redis(url: str, *, name: str = "cartrack", pubsub: bool = False) -> aioredis.Redis:
    """A client for `url`. pubsub=True: no read timeout (the subscriber waits by design)."""
    scheme = urlsplit(url).scheme
    kwargs: dict[str, object] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": None if pubsub else COMMAND_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_S,
        "client_name": name,
        # one quick retry for a dropped pooled connection; longer outages are handled by callers
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 1),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    if scheme != "unix":
        kwargs["socket_keepalive"] = True
    return aioredis.Redis.from_url(url, **kwargs)  # type: ignore[arg-type]
