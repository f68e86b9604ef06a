"""Every ingest setting with its default (pure; the wiring step maps command line/env onto it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .filters import FilterOptions
from .units import SpeedUnit

DEFAULT_HOST = "127.0.0.1"          # loopback unless the user chooses otherwise
DEFAULT_PORT = 5055                 # Traccar's OsmAnd port: the apps' examples use it
BATCH_INTERVAL_S = 0.005            # micro-batch: fixes wait at most this long before the Redis write
BATCH_MAX = 2000                    # ... or until this many are waiting
WRITE_TIMEOUT_S = 2.0               # a batch not acknowledged by then is answered 503
RETRY_AFTER_S = 5                   # Retry-After while Redis is unreachable
REDIS_DOWN_HOLD_S = 1.0             # after a failed write, answer 503 at once for this long (then probe)
MAX_REQUEST_LINE_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024        # all header lines together
MAX_HEADERS = 64
MAX_BODY_BYTES = 64 * 1024          # the largest real report is ~2 KB (Traccar Client JSON with extras)
MAX_CONNECTIONS = 20_000            # 10,000 devices on keep-alive plus headroom; more are closed at once
MAX_PIPELINED = 16                  # requests in flight per connection before reading pauses
REQUEST_TIMEOUT_S = 10.0            # a request started must be complete within this (slow clients)
IDLE_TIMEOUT_S = 120.0              # keep-alive connection without a request this long is closed
UNKNOWN_FLUSH_S = 1.0               # unknown devices are written to Redis at most this often
MAX_UNKNOWN_DEVICES = 10_000        # the Unknown devices list never grows beyond this
MAX_REGISTRATIONS_PER_MIN = 60     # --ingest-register: new units per minute at most (a flood of ids)
# The device -> unit map is re-read on every fleet event and whenever the events subscription
# (re)connects; the periodic re-read is only a safety net (a change made without an event), so it is
# rare, and each worker's is shifted by up to REGISTRY_REFRESH_JITTER so that they do not coincide.
REGISTRY_REFRESH_S = 300.0
REGISTRY_REFRESH_JITTER = 0.2
ALARM_KINDS = ("sos",)              # alarm values that raise an emergency (Traccar's ALARM_SOS)
ALARM_REPEAT_S = 60.0               # the same alarm from the same unit is raised once per this window


@dataclass(frozen=True, slots=True)
class IngestOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    cert_file: Path | None = None       # TLS: both files, or neither
    key_file: Path | None = None
    register_unknown: bool = False      # --ingest-register: unknown devices become units
    speed_unit: SpeedUnit = SpeedUnit.KNOTS   # OsmAnd `speed` (the protocol says knots)
    filters: FilterOptions = field(default_factory=FilterOptions)
    alarm_kinds: tuple[str, ...] = ALARM_KINDS
    workers: int = 1                    # processes sharing the port (SO_REUSEPORT) when > 1
    batch_interval_s: float = BATCH_INTERVAL_S
    max_connections: int = MAX_CONNECTIONS
    request_timeout_s: float = REQUEST_TIMEOUT_S
    idle_timeout_s: float = IDLE_TIMEOUT_S

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TLS needs both a certificate and a key file")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    @property
    def exposed(self) -> bool:
        """Listening beyond loopback: the README asks for TLS then."""
        return self.host not in ("127.0.0.1", "::1", "localhost")


def options_to_json(opts: IngestOptions) -> dict[str, object]:
    """For the worker processes (plain JSON types)."""
    f = opts.filters
    return {
        "host": opts.host, "port": opts.port,
        "cert_file": str(opts.cert_file) if opts.cert_file else None,
        "key_file": str(opts.key_file) if opts.key_file else None,
        "register_unknown": opts.register_unknown, "speed_unit": opts.speed_unit.value,
        "filters": {"invalid": f.invalid, "zero": f.zero, "duplicate": f.duplicate, "future_s": f.future_s,
                    "accuracy_max_m": f.accuracy_max_m, "min_period_s": f.min_period_s,
                    "max_implied_speed_mph": f.max_implied_speed_mph, "keep_late": f.keep_late},
        "alarm_kinds": list(opts.alarm_kinds), "workers": opts.workers, "batch_interval_s": opts.batch_interval_s,
        "max_connections": opts.max_connections, "request_timeout_s": opts.request_timeout_s,
        "idle_timeout_s": opts.idle_timeout_s,
    }


def options_from_json(d: dict[str, object]) -> IngestOptions:
    fd = d.get("filters")
    filters = FilterOptions(**fd) if isinstance(fd, dict) else FilterOptions()
    cert, key = d.get("cert_file"), d.get("key_file")
    kinds = d.get("alarm_kinds")
    return IngestOptions(
        host=str(d.get("host", DEFAULT_HOST)), port=int(str(d.get("port", DEFAULT_PORT))),
        cert_file=Path(str(cert)) if cert else None, key_file=Path(str(key)) if key else None,
        register_unknown=bool(d.get("register_unknown", False)),
        speed_unit=SpeedUnit(str(d.get("speed_unit", SpeedUnit.KNOTS.value))), filters=filters,
        alarm_kinds=tuple(str(k) for k in kinds) if isinstance(kinds, list) else ALARM_KINDS,
        workers=int(str(d.get("workers", 1))), batch_interval_s=float(str(d.get("batch_interval_s", BATCH_INTERVAL_S))),
        max_connections=int(str(d.get("max_connections", MAX_CONNECTIONS))),
        request_timeout_s=float(str(d.get("request_timeout_s", REQUEST_TIMEOUT_S))),
        idle_timeout_s=float(str(d.get("idle_timeout_s", IDLE_TIMEOUT_S))),
    )
