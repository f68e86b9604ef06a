"""Who is calling: bearer tokens (HTTP header, WebSocket subprotocol or first message), roles, rate limits.

Fail closed. Until the token list has been read from MongoDB every request is refused (503):
tokens may exist. Bound to loopback with no valid token, the API answers without authentication,
as the seed's examples expect; as soon as one token exists (created while running, too) every
request needs one. Bound to any other address it never runs open.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .tokens import Role, TokenRecord, matches, split_token

log = logging.getLogger(__name__)

OPEN_ACTOR_NAME = "api (no token)"    # the dispatcher name of writes made without a token (loopback only)
WS_SUBPROTOCOL = "cartrack.bearer"     # new WebSocket(url, ["cartrack.bearer", token])
BURST_FACTOR = 2.0


class Mode(enum.Enum):
    UNKNOWN = "unknown"   # token list not read yet
    OPEN = "open"         # loopback, no valid token
    TOKENS = "tokens"


@dataclass(frozen=True, slots=True)
class Actor:
    name: str             # recorded as the dispatcher of every write
    role: Role
    token_id: str | None  # None: no token (open mode)


class AuthError(Exception):
    """A refused request: HTTP status, WebSocket close code, a message for the client."""

    def __init__(self, status: int, ws_code: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.ws_code = ws_code
        self.message = message
        self.retry_after_s = retry_after_s


class _Bucket:
    __slots__ = ("last", "level")

    def __init__(self, level: float, last: float) -> None:
        self.level = level
        self.last = last


class Auth:
    """Token verification and per-token rate limits. Lives on the API's loop (not thread-safe)."""

    def __init__(self, *, loopback: bool, rate_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.loopback = loopback
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._tokens: dict[str, TokenRecord] | None = None
        self._buckets: dict[str, _Bucket] = {}
        self.refused = 0
        self.rate_limited = 0

    # ---- the token list ---------------------------------------------------------------------
    def set_tokens(self, tokens: dict[str, TokenRecord]) -> None:
        if self._tokens is None or set(tokens) != set(self._tokens):
            log.info("API: %d valid token(s)%s", len(tokens),
                     "; loopback without tokens: no authentication" if self.loopback and not tokens else "")
        self._tokens = tokens
        for gone in set(self._buckets) - set(tokens):
            del self._buckets[gone]

    @property
    def mode(self) -> Mode:
        if self._tokens is None:
            return Mode.UNKNOWN
        return Mode.OPEN if self.loopback and not self._tokens else Mode.TOKENS

    @property
    def token_count(self) -> int:
        return len(self._tokens or {})

    # ---- checks ---------------------------------------------------------------------------------
    def actor(self, token: str | None, needed: Role) -> Actor:
        """The caller for a presented token (None: none presented); raises AuthError."""
        mode = self.mode
        if mode is Mode.UNKNOWN:
            raise AuthError(503, 1013, "the API's token list is not loaded yet (MongoDB unreachable?); try again",
                            retry_after_s=2.0)
        if mode is Mode.OPEN:
            return Actor(OPEN_ACTOR_NAME, Role.ADMIN, None)
        record = self._lookup(token)
        if record is None:
            self.refused += 1
            raise AuthError(401, 4401, "a valid bearer token is required" if token is None
                            else "invalid or revoked token")
        if not record.role.allows(needed):
            self.refused += 1
            raise AuthError(403, 4403, f"token {record.name!r} has role {record.role.value}; "
                                       f"this needs {needed.value}")
        self._take(record.token_id)
        return Actor(record.name, record.role, record.token_id)

    def _lookup(self, token: str | None) -> TokenRecord | None:
        if not token or self._tokens is None:
            return None
        token_id = split_token(token)
        record = self._tokens.get(token_id) if token_id else None
        return record if record is not None and matches(record, token) else None

    def _take(self, token_id: str) -> None:
        """Token bucket: rate_per_s sustained, bursts of BURST_FACTOR x that."""
        now = self._clock()
        cap = self.rate_per_s * BURST_FACTOR
        b = self._buckets.get(token_id)
        if b is None:
            b = self._buckets[token_id] = _Bucket(cap, now)
        b.level = min(cap, b.level + (now - b.last) * self.rate_per_s)
        b.last = now
        if b.level < 1.0:
            self.rate_limited += 1
            raise AuthError(429, 4429, f"rate limit: {self.rate_per_s:g} requests per second per token",
                            retry_after_s=(1.0 - b.level) / self.rate_per_s)
        b.level -= 1.0


def token_from_subprotocols(offered: list[str]) -> str | None:
    """["cartrack.bearer", TOKEN] as a browser sends it (Sec-WebSocket-Protocol)."""
    if WS_SUBPROTOCOL not in offered:
        return None
    i = offered.index(WS_SUBPROTOCOL)
    return offered[i + 1] if i + 1 < len(offered) else None
