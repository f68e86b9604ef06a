"""Which running app this is, in records other instances read (audit log, timeline, sync_stats)."""

from __future__ import annotations

import os
import socket

INSTANCE_MAX_CHARS = 64      # the validators' limit for names (domain/messages.NAME_MAX)
_PART_MAX_CHARS = 24


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() and not c.isspace() else "_" for c in text)


def instance_name(dispatcher: str, *, host: str | None = None, pid: int | None = None) -> str:
    """`dispatcher@host:pid`: readable in the window, and unique for two apps of one user on one host."""
    host = (host if host is not None else socket.gethostname()).split(".")[0] or "localhost"
    pid = os.getpid() if pid is None else pid
    name = f"{_printable(dispatcher)[:_PART_MAX_CHARS]}@{_printable(host)[:_PART_MAX_CHARS]}:{pid}"
    return name[:INSTANCE_MAX_CHARS]
