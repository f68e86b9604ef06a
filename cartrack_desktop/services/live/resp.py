"""The write path's commands as RESP bytes, sent on one pooled connection in one round trip.

Why not redis-py's pipeline for the tick write: a pipeline with scripts asks SCRIPT EXISTS before
every execute (one more round trip per write), and packs every argument in Python (a type check, a
repr, a join that copies the growing buffer): with four arguments per unit that was ~15 µs per
position here, more than the rest of the device ingest's request path together. The arguments of a
tick are known (ids validated, floats finite), so they are framed directly, one bytes format per
unit. Scripts are loaded (SCRIPT LOAD) once and again after a NOSCRIPT (a Redis that restarted);
everything else - connections, timeouts, health checks, TLS, AUTH - is the client's own pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError


def bulk(arg: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(arg), arg)


def command(*args: bytes) -> bytes:
    """A whole RESP command from its arguments (the small ones: ids, numbers, one payload)."""
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)


def evalsha_head(sha: str, n_args: int) -> bytes:
    """EVALSHA sha 0 ...: the head of a script call with n_args ARGV entries framed after it."""
    return b"*%d\r\n" % (n_args + 3) + bulk(b"EVALSHA") + bulk(sha.encode("ascii")) + bulk(b"0")


class PackedSender:
    """Sends pre-packed commands and returns their replies in order (errors as exceptions)."""

    def __init__(self, client: aioredis.Redis, scripts: Sequence[Any]) -> None:
        self._client = client
        self._scripts = list(scripts)   # redis-py Script objects: .script, .sha
        self._loaded = False

    async def _load(self) -> None:
        for s in self._scripts:
            await self._client.script_load(s.script)
        self._loaded = True

    async def send(self, payload: Sequence[bytes], n_replies: int) -> list[Any]:
        """payload: the commands' bytes (written with one writelines); NOSCRIPT: load, send once more."""
        if not self._loaded:
            await self._load()
        try:
            replies, errors = await self._round_trip(payload, n_replies)
        except RedisConnectionError:   # a pooled connection the server dropped: one retry, as the client's own
            replies, errors = await self._round_trip(payload, n_replies)
        if any(isinstance(e, NoScriptError) for e in errors):
            await self._load()
            replies, errors = await self._round_trip(payload, n_replies)
        if errors:
            raise errors[0]
        return replies

    async def _round_trip(self, payload: Sequence[bytes], n: int) -> tuple[list[Any], list[ResponseError]]:
        pool = self._client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(list(payload))
            replies: list[Any] = []
            errors: list[ResponseError] = []
            for _ in range(n):
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:   # read in full: the connection stays in step
                    errors.append(exc)
                    replies.append(None)
            return replies, errors
        except BaseException:
            await conn.disconnect()   # replies may be left unread: never reuse this connection
            raise
        finally:
            await pool.release(conn)
