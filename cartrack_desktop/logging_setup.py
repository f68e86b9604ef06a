"""One logging format for the window and the service."""

from __future__ import annotations

import logging
import sys

from .services.infra.redaction import RedactingFilter


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    # Libraries chatter at INFO about every connection; keep their warnings.
    for noisy in ("pymongo", "asyncio", "urllib3", "uvicorn"):   # uvicorn: a line per WebSocket accepted
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
