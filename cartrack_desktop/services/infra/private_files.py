"""Everything CarTrack keeps on disk is private to the user who runs it.

The data directory holds police data (the fleet, incidents with callers' notes, history, the
audit log, the outbox journal) and the embedded servers' storage and logs. Whatever the
user's umask, directories are 0700 and files 0600:
- the process (and so every child server it starts) runs with umask 077 (`restrict_umask`);
- files the app writes itself are created with explicit modes (`write_private`);
- on start, an existing data directory (from an earlier version, or copied in with other
  modes) is checked and repaired (`make_private`), with one log line saying what was fixed.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_umask() -> int:
    """Files and directories created from now on by this process and its children are private.

    Returns the previous umask (tests restore it).
    """
    return os.umask(PRIVATE_UMASK)


def write_private(path: Path, data: bytes | str) -> None:
    """Write a file readable by its owner only, whatever the umask (atomically replaced)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, raw)
        os.fchmod(fd, FILE_MODE)   # O_CREAT's mode does not apply to a file that already existed
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_private(root: Path) -> int:
    """Give `root` and everything under it owner-only modes; returns how many entries were fixed.

    Symbolic links are not followed (their targets may be outside the data directory); entries
    owned by another user are reported, not touched.
    """
    if not root.is_dir():
        return 0
    fixed = 0
    foreign: list[str] = []
    for entry in [root, *root.rglob("*")]:
        try:
            st = entry.lstat()
        except OSError:   # removed meanwhile (a server rotating its log)
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        want = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
        if stat.S_IMODE(st.st_mode) & 0o077 == 0:
            continue
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            foreign.append(str(entry))
            continue
        try:
            os.chmod(entry, (stat.S_IMODE(st.st_mode) & 0o700) | want)
            fixed += 1
        except OSError as exc:
            log.warning("could not make %s private: %s", entry, exc)
    if fixed:
        log.warning("data directory %s: %d file(s)/folder(s) were readable by other users; now private "
                    "(directories 0700, files 0600)", root, fixed)
    if foreign:
        log.warning("data directory %s: %d entries belong to another user and were left as they are, e.g. %s",
                    root, len(foreign), foreign[0])
    return fixed
