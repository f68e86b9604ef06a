"""`cartrack-desktop api-token create NAME --role read|dispatch|admin | list | revoke NAME`.

The database is the app's: `--mongo-uri` (or CARTRACK_MONGO_URI, .env) like the app, else the
embedded one of `--data-dir`: started for the command when no instance runs there, reached on
its port when one does (a revoke must not wait for the app to stop). A running API picks up a new
or revoked token within 2 s. The token is printed once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import logging
import sys
from collections.abc import AsyncIterator, Sequence

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ..config import ConfigError, Settings, load_settings
from ..logging_setup import configure_logging
from ..services.infra.embedded import DataDirInUse, EmbeddedError, EmbeddedServers, running_mongo_uri
from ..services.infra.mongo import Doc
from .tokens import Role, TokenRecord, TokenStore

log = logging.getLogger(__name__)

MONGO_TIMEOUT_MS = 10_000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cartrack-desktop api-token",
                                description="Bearer tokens of the HTTP/WebSocket API (--api). Other options "
                                            "(--mongo-uri, --data-dir) are the app's.")
    sub = p.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a token (printed once)")
    create.add_argument("name", help="who uses it; recorded as the dispatcher of its writes")
    create.add_argument("--role", required=True, choices=[r.value for r in Role],
                        help="read: positions, units, incidents, stats; dispatch: + incidents, dispatch, unit "
                             "status; admin: + fleet registry and simulator")
    sub.add_parser("list", help="every token (never the token itself)")
    revoke = sub.add_parser("revoke", help="revoke a token by name (a running API refuses it within 2 s)")
    revoke.add_argument("name")
    return p


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[AsyncDatabase[Doc]]:
    servers: EmbeddedServers | None = None
    uri = settings.mongo_uri
    if uri is None:
        servers = EmbeddedServers(settings.data_dir, redis=False, mongo=True, mongo_db=settings.mongo_db)
        try:
            await servers.start(lambda msg: log.info("%s", msg))
            assert servers.mongo is not None
            uri = servers.mongo.uri
        except DataDirInUse:
            servers = None
            uri = running_mongo_uri(settings.data_dir)
            if uri is None:
                raise EmbeddedError(f"the CarTrack instance using {settings.data_dir} does not say where its "
                                    "database listens; stop it, or give --mongo-uri") from None
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, serverSelectionTimeoutMS=MONGO_TIMEOUT_MS, tz_aware=True)
    try:
        yield client[settings.mongo_db]
    finally:
        await client.close()
        if servers is not None:
            await servers.stop()


def _when(t: float | None) -> str:
    return "-" if t is None else dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _row(r: TokenRecord) -> str:
    state = "valid" if r.revoked_at is None else f"revoked {_when(r.revoked_at)}"
    return f"{r.name:<24} {r.role.value:<9} created {_when(r.created_at)} by {r.created_by or '?':<12} {state}"


async def _act(args: argparse.Namespace, settings: Settings) -> int:
    async with _database(settings) as db:
        store = TokenStore(db)
        if args.action == "create":
            try:
                token, record = await store.create(args.name, Role(args.role), created_by=_os_user())
            except ValueError as exc:
                print(f"cartrack-desktop api-token: {exc}", file=sys.stderr)
                return 1
            print(f"token {record.name!r} (role {record.role.value}); shown only now, store it safely:",
                  file=sys.stderr)
            print(token)
            return 0
        if args.action == "list":
            records = await store.all()
            for r in records:
                print(_row(r))
            if not records:
                print("no tokens (a loopback API answers without authentication)", file=sys.stderr)
            return 0
        if await store.revoke(args.name):
            print(f"token {args.name.strip()!r} revoked", file=sys.stderr)
            return 0
        print(f"cartrack-desktop api-token: no valid token named {args.name.strip()!r}", file=sys.stderr)
        return 1


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def api_token_main(argv: Sequence[str]) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(list(argv))
    try:
        settings = load_settings(rest)
    except ConfigError as exc:
        print(f"cartrack-desktop api-token: error: {exc}", file=sys.stderr)
        return 2
    configure_logging("WARNING")
    try:
        return asyncio.run(_act(args, settings))
    except (PyMongoError, EmbeddedError, OSError) as exc:
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        print(f"cartrack-desktop api-token: {first}", file=sys.stderr)
        return 1
