"""Keep credentials out of logs and the UI.

Every password the app knows (from the Redis URL, the MongoDB URI, the embedded Redis) is
registered here; log records and notices pass through `redact()`, which also masks any
`scheme://user:password@` it finds, whatever produced the text.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote, urlsplit

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]+)@", re.I)
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    if secret and len(secret) >= 3:
        with _lock:
            _secrets.add(secret)


def register_url(url: str | None) -> None:
    """Register the password (raw and percent-decoded) of a URL."""
    if not url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secret(parts.password)
        register_secret(unquote(parts.password))


def redact(text: str) -> str:
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


class RedactingFilter(logging.Filter):
    """Applied to the log handlers: formats the record once, then scrubs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: leave it to logging to report
            return True
        clean = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True
