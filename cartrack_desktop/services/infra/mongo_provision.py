"""Provision the embedded database's user while the server is down (run as a child process).

`python -m cartrack_desktop.services.mongo_provision STORAGE_DIR USER DB`, the password on
standard input (never on the command line, where `ps` would show it).

Why offline: SecantusDB's `--auth` has no localhost exception, and the documented way
(start without auth, createUser, restart with auth) would leave an unauthenticated server on
a loopback port that every local user can reach for a moment. Writing the user record into
the (unlocked, not yet served) storage ourselves leaves no such window. It uses SecantusDB's
own storage and SCRAM credential functions (secantus.storage.Storage.add_user,
secantus.auth.derive_credentials), the ones its createUser command calls; the record has the
same shape. tests/integration/test_db_security.py checks it against the pinned version.

The user gets `readWrite` on the app's database only (enough for everything the app does:
CRUD and index builds; `ping` needs no privilege).
"""

from __future__ import annotations

import sys

EXIT_BAD_USAGE = 2


def provision(storage_dir: str, user: str, db: str, password: str) -> None:
    from secantus.auth import SCRAM_SHA_256, derive_credentials
    from secantus.storage import Storage

    storage = Storage(storage_dir, enable_oplog=False)
    try:
        creds = derive_credentials(password, mechanism=SCRAM_SHA_256, username=user).to_doc()
        record = {"_id": f"admin.{user}", "user": user, "db": "admin", "credentials": creds,
                  "roles": [{"role": "readWrite", "db": db}], "mechanisms": [SCRAM_SHA_256]}
        storage.add_user("admin", user, record, replace=True)
    finally:
        storage.close()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: mongo_provision STORAGE_DIR USER DB  (password on stdin)\n")
        return EXIT_BAD_USAGE
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        sys.stderr.write("mongo_provision: no password on stdin\n")
        return EXIT_BAD_USAGE
    provision(argv[0], argv[1], argv[2], password)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
