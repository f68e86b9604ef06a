"""API bearer tokens: their format, their hashes, and the `api_tokens` collection in MongoDB.

    api_tokens  {_id: token id (12 hex), name (unique), role, hash (SHA-256 hex of the whole token),
                 created_at, created_by, revoked_at (null while valid)}

A token is `ctk_<id>_<secret>`: the id finds its record without a scan, the secret is 256 random
bits. Only the hash is stored, so a copy of the database gives no usable token. A fast hash is
right here (not a password KDF): the secret is random and as long as a key, so there is nothing
to guess. Presented tokens are compared with `hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

import pymongo
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..services.infra.mongo import Doc

log = logging.getLogger(__name__)

COLLECTION = "api_tokens"
PREFIX = "ctk"
TOKEN_RE = re.compile(r"ctk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})\Z")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}\Z")
HASH_RE = re.compile(r"[0-9a-f]{64}\Z")
MAX_TOKENS_LOADED = 10_000


class Role(enum.StrEnum):
    """What a token may do; each role includes the ones before it."""

    READ = "read"            # positions, nearby, units, incidents, statistics, WebSockets
    DISPATCH = "dispatch"    # + incidents, dispatch, unit status
    ADMIN = "admin"          # + the fleet registry and the simulator

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_id: str
    name: str
    role: Role
    hash: str
    created_at: float
    created_by: str
    revoked_at: float | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def split_token(token: str) -> str | None:
    """The token's id when it has the right shape, else None."""
    m = TOKEN_RE.match(token)
    return m.group(1) if m else None


def matches(record: TokenRecord, token: str) -> bool:
    return hmac.compare_digest(record.hash, hash_token(token))


def new_token() -> tuple[str, str]:
    """(token id, the whole token)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)   # 43 characters
    return token_id, f"{PREFIX}_{token_id}_{secret}"


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME_RE.match(name):
        raise ValueError("a token name is 1-64 letters, digits, spaces or . _ @ - (starting with a letter or digit); "
                         "it is the dispatcher name in the audit log")
    return name


def _epoch(value: object) -> float | None:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return None


def record_from_doc(doc: Doc) -> TokenRecord | None:
    """A stored token, checked field by field (the database is not trusted either); None if malformed."""
    token_id, name, role, digest = doc.get("_id"), doc.get("name"), doc.get("role"), doc.get("hash")
    created_at = _epoch(doc.get("created_at"))
    if not (isinstance(token_id, str) and re.fullmatch(r"[0-9a-f]{12}", token_id)
            and isinstance(name, str) and NAME_RE.match(name) and role in tuple(Role)
            and isinstance(digest, str) and HASH_RE.match(digest) and created_at is not None):
        return None
    by = doc.get("created_by")
    return TokenRecord(token_id, name, Role(role), digest, created_at, by if isinstance(by, str) else "",
                       _epoch(doc.get("revoked_at")))


class TokenStore:
    """The api_tokens collection: create (returns the token once), list, revoke, load the valid ones."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._c = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("name", pymongo.ASCENDING)], unique=True)

    async def create(self, name: str, role: Role, *, created_by: str) -> tuple[str, TokenRecord]:
        """Raises ValueError for a bad or taken name. The token itself is never stored."""
        name = check_name(name)
        await self.ensure_indexes()
        token_id, token = new_token()
        now = dt.datetime.now(dt.UTC)
        doc = {"_id": token_id, "name": name, "role": role.value, "hash": hash_token(token),
               "created_at": now, "created_by": created_by[:64], "revoked_at": None}
        try:
            await self._c.insert_one(doc)
        except DuplicateKeyError:
            raise ValueError(f"a token named {name!r} exists already (names stay taken after a revoke, "
                             "so the audit log stays unambiguous)") from None
        record = record_from_doc(doc)
        assert record is not None
        return token, record

    async def all(self) -> list[TokenRecord]:
        out = []
        async for doc in self._c.find({}).sort("created_at", pymongo.ASCENDING).limit(MAX_TOKENS_LOADED):
            record = record_from_doc(doc)
            if record is None:
                log.warning("api_tokens: a malformed token record (id %r) is ignored", str(doc.get("_id"))[:40])
                continue
            out.append(record)
        return out

    async def valid(self) -> dict[str, TokenRecord]:
        """Every token not revoked, by id."""
        return {r.token_id: r for r in await self.all() if r.revoked_at is None}

    async def revoke(self, name: str) -> bool:
        res = await self._c.update_one({"name": name.strip(), "revoked_at": None},
                                       {"$set": {"revoked_at": dt.datetime.now(dt.UTC)}})
        return res.modified_count == 1
