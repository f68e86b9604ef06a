"""Settings: command line > environment > `.env` in the working directory > defaults.

One table (`SETTINGS`), one row per setting: its options, its environment variable, the parser
that checks a raw value, and its default. Hand-written on argparse + python-dotenv rather than
pydantic-settings: the rules are few, the error for a bad value must be exactly one line naming
the setting as the user wrote it, and it keeps pydantic out of the start-up path.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from dotenv import dotenv_values
from platformdirs import user_data_dir

from .domain.dispatch import SYSTEM_ACTOR
from .ingest.filters import ACCURACY_MAX_M, FUTURE_S, MAX_IMPLIED_SPEED_MPH, MIN_PERIOD_S, FilterOptions
from .ingest.options import ALARM_KINDS, DEFAULT_HOST, IngestOptions
from .ingest.units import SpeedUnit

APP_NAME = "cartrack-desktop"
DEFAULT_CARS = 25
MAX_CARS = 100_000
DEFAULT_MONGO_DB = "cartrack"
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "© OpenStreetMap contributors"
MAX_ATTRIBUTION_CHARS = 300
MAX_DISPATCHER_CHARS = 64
MAX_CONTACT_CHARS = 120
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
RENDERINGS = ("auto", "software", "gpu")
DEFAULT_API_RATE_PER_S = 50      # requests per second per API token (bursts of twice that)
MAX_API_RATE_PER_S = 10_000
_ORIGIN_RE = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?\Z")


class ConfigError(Exception):
    """A bad setting; str() is the one line shown to the user."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


@dataclass(frozen=True, slots=True)
class ApiBind:
    """Where the HTTP/WebSocket API listens (`--api [HOST:]PORT`); port 0 picks a free port."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    redis_url: str | None          # None: start the embedded redis-server
    mongo_uri: str | None          # None: start the embedded secantusd-py
    mongo_db: str
    cars: int
    simulator: bool
    headless: bool
    duration: float | None
    data_dir: Path
    log_level: str
    tile_url: str                  # "" disables tiles (plain background)
    tile_attribution: str
    screenshot: Path | None
    seed: int | None
    dispatcher: str
    rendering: str                 # auto, software or gpu (how the window composites the map)
    api: ApiBind | None = None     # the HTTP/WebSocket API (off unless set)
    api_cert: str | None = None    # TLS certificate and key of the API (PEM)
    api_key: str | None = None
    api_cors: tuple[str, ...] = ()  # origins allowed to call the API from a browser (CORS); none by default
    api_rate: int = DEFAULT_API_RATE_PER_S
    ingest: IngestOptions | None = None   # the device ingest server; None: off (the default)
    fleet_area: tuple[float, float, float, float] | None = None   # S, W, N, E; None: the imported map's area
    tile_contact: str = ""         # sent to the online tile server in the User-Agent (its usage policy)


# ---- parsers: (setting as the user wrote it, raw text) -> value; None means "use the default" ----------
Parse = Callable[[str, str], Any]


def _int(lo: int, hi: int) -> Parse:
    def parse(setting: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(setting, f"must be a whole number (got {raw!r})") from None
        if not lo <= value <= hi:
            raise ConfigError(setting, f"must be between {lo} and {hi} (got {value})")
        return value
    return parse


def _bool(setting: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ConfigError(setting, f"must be true or false (got {raw!r})")


def _seconds(setting: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(setting, f"must be a number of seconds (got {raw!r})") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(setting, f"must be a positive number of seconds (got {raw!r})")
    return value


def _redis_url(setting: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(setting, f"not a valid URL ({exc})") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(setting, f"scheme must be redis://, rediss:// or unix:// (got {parts.scheme or 'none'!r})")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(setting, "has no host")
    if parts.scheme == "unix" and not parts.path:
        raise ConfigError(setting, "has no socket path")
    if port is not None and port <= 0:
        raise ConfigError(setting, "port must be positive")
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ConfigError(setting, f"database must be a number (got {db!r})")
    return url


def _mongo_uri(setting: str, uri: str) -> tuple[str, str]:
    """Validate without network access; returns (uri, database name)."""
    from pymongo.errors import ConfigurationError, InvalidURI
    from pymongo.uri_parser import parse_uri

    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError(setting, "must start with mongodb:// or mongodb+srv://")
    if uri.startswith("mongodb+srv://"):
        # Parsing an SRV URI resolves DNS; only check the shape here.
        path = urlsplit(uri).path.strip("/")
        return uri, path or DEFAULT_MONGO_DB
    try:
        parsed = parse_uri(uri)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        raise ConfigError(setting, str(exc).splitlines()[0]) from None
    return uri, parsed.get("database") or DEFAULT_MONGO_DB


def _readable_file(setting: str, raw: str) -> str:
    path = Path(raw).expanduser()
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(setting, f"{path} is not a readable file")
    return str(path.resolve())


def _directory(setting: str, raw: str) -> Path | None:
    if not raw:
        return None
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(setting, f"{path} is not a directory")
    return path


def _path(_setting: str, raw: str) -> Path | None:
    return Path(raw).expanduser() if raw else None


def _log_level(setting: str, raw: str) -> str | None:
    level = raw.strip().upper()
    if level and level not in LOG_LEVELS:
        raise ConfigError(setting, f"must be one of {', '.join(LOG_LEVELS)}")
    return level or None


def _tile_url(setting: str, url: str) -> str:
    if url.strip().lower() in ("", "none", "off"):
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(setting, "must be an http(s) URL template")
    if not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise ConfigError(setting, "must contain {z}, {x} and {y}")
    return url


def _attribution(setting: str, raw: str) -> str:
    if len(raw) > MAX_ATTRIBUTION_CHARS:
        raise ConfigError(setting, f"longer than {MAX_ATTRIBUTION_CHARS} characters")
    return raw


def _area(setting: str, raw: str) -> tuple[float, float, float, float] | None:
    """S,W,N,E in degrees (the order of import-map's --bbox)."""
    if not raw.strip():
        return None
    try:
        s, w, n, e = (float(p) for p in raw.split(","))
    except ValueError:
        raise ConfigError(setting, f"must be S,W,N,E: four numbers in degrees (got {raw!r})") from None
    if not all(math.isfinite(v) for v in (s, w, n, e)) or not (-90 <= s < n <= 90 and -180 <= w < e <= 180):
        raise ConfigError(setting, "needs -90 <= S < N <= 90 and -180 <= W < E <= 180")
    return (s, w, n, e)


def _contact(setting: str, raw: str) -> str:
    text = raw.strip()
    if len(text) > MAX_CONTACT_CHARS or not text.isprintable():
        raise ConfigError(setting, f"must be at most {MAX_CONTACT_CHARS} printable characters")
    return text




def _dispatcher(setting: str, raw: str) -> str | None:
    name = (raw.strip()[:MAX_DISPATCHER_CHARS] or "dispatcher") if raw else None
    if name is not None and name.casefold() == SYSTEM_ACTOR:
        raise ConfigError(setting, f"{name!r} is reserved for the changes the system makes by itself")
    return name


def _rendering(setting: str, raw: str) -> str | None:
    choice = raw.strip().lower()
    choice = "gpu" if choice == "hardware" else choice
    if choice and choice not in RENDERINGS:
        raise ConfigError(setting, f"must be one of {', '.join(RENDERINGS)} (got {raw!r})")
    return choice or None


def _api_bind(setting: str, raw: str) -> ApiBind | None:
    """`PORT` (loopback), `HOST:PORT` or `[V6]:PORT`; HOST an IP address or localhost; `off` disables."""
    text = raw.strip()
    if text.lower() in ("", "off", "none"):
        return None
    if text.isdigit():
        host, port_text = "127.0.0.1", text
    elif text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ConfigError(setting, f"must be [IPv6]:PORT (got {raw!r})")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ConfigError(setting, f"must be PORT or HOST:PORT (got {raw!r})")
    host = "127.0.0.1" if host.lower() == "localhost" else host
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        raise ConfigError(setting, f"HOST must be an IP address or localhost (got {host!r})") from None
    port = _int(0, 65535)(setting, port_text)
    return ApiBind(host, port)


def _origins(setting: str, raw: str) -> tuple[str, ...] | None:
    """A comma-separated allow-list of browser origins (scheme://host[:port], or `null` for pages
    opened from a file); `*` is refused: police data is never readable by any web page."""
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin == "*":
            raise ConfigError(setting, "'*' is not allowed: list the origins that may call the API")
        if origin != "null" and not _ORIGIN_RE.match(origin):
            raise ConfigError(setting, f"{origin!r} is not an origin (scheme://host[:port])")
    return origins or None


def _ingest_address(setting: str, raw: str) -> tuple[str, int] | None:
    """`[HOST:]PORT` (IPv6 as `[::1]:PORT`); a bare port listens on loopback. "off"/"" for none."""
    text = raw.strip()
    if text.lower() in ("", "off", "none", "0", "no", "false"):
        return None
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = DEFAULT_HOST, text
    host = host.strip("[]")
    if not host or any(c.isspace() or c in "/@?#" for c in host):
        raise ConfigError(setting, f"must be [HOST:]PORT, e.g. 5055 or 0.0.0.0:5055 (got {raw!r})")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(setting, f"must be [HOST:]PORT, e.g. 5055 or 0.0.0.0:5055 (got {raw!r})") from None
    if not 1 <= port <= 65535:
        raise ConfigError(setting, f"port must be between 1 and 65535 (got {port})")
    return host, port


def _number(lo: float, hi: float, unit: str) -> Parse:
    """A number in [lo, hi]; 0 (where lo is 0) switches the filter it sets off."""
    def parse(setting: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(setting, f"must be a number of {unit} (got {raw!r})") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ConfigError(setting, f"must be between {lo:g} and {hi:g} {unit} (got {raw!r})")
        return value
    return parse


def _speed_unit(setting: str, raw: str) -> SpeedUnit | None:
    text = raw.strip().lower()
    if not text:
        return None
    try:
        return SpeedUnit(text)
    except ValueError:
        raise ConfigError(setting, f"must be one of {', '.join(u.value for u in SpeedUnit)} (got {raw!r})") from None


def _word_list(allowed: tuple[str, ...] | None) -> Parse:
    """A comma list of words (lower case); with `allowed`, only those."""
    def parse(setting: str, raw: str) -> tuple[str, ...]:
        words = tuple(w.strip().lower() for w in raw.split(",") if w.strip())
        bad = [w for w in words if (allowed is not None and w not in allowed) or not w.isalpha() or len(w) > 32]
        if bad:
            choice = f"; choose from {', '.join(allowed)}" if allowed is not None else ""
            raise ConfigError(setting, f"unknown {', '.join(bad)}{choice}")
        return words
    return parse


INGEST_SWITCHABLE_FILTERS = ("invalid", "zero", "duplicate", "late")


def _os_user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        name = ""
    name = name.strip()[:MAX_DISPATCHER_CHARS]
    return name if name and name.casefold() != SYSTEM_ACTOR else "dispatcher"


def _default_data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


# ---- the table --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Switch:
    """A command-line flag without a value, standing for one raw value of its setting."""

    flag: str
    value: str
    help: str


@dataclass(frozen=True, slots=True)
class Setting:
    field: str                     # the Settings attribute (or an input of one, see load_settings)
    env: str | None                # environment / .env variable
    parse: Parse
    default: Callable[[], Any] = lambda: None
    flag: str | None = None        # an option taking a value
    help: str = ""
    switches: tuple[Switch, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("redis_url", "CARTRACK_REDIS_URL", _redis_url, flag="--redis-url",
            help="Redis URL (redis://, rediss://, unix://); default: embedded server"),
    Setting("redis_ca_file", "CARTRACK_REDIS_CA_FILE", _readable_file, flag="--redis-ca-file",
            help="CA certificate(s) to verify a rediss:// server (PEM)"),
    Setting("redis_cert_file", "CARTRACK_REDIS_CERT_FILE", _readable_file, flag="--redis-cert-file",
            help="client certificate for rediss:// (PEM), if the server asks for one"),
    Setting("redis_key_file", "CARTRACK_REDIS_KEY_FILE", _readable_file, flag="--redis-key-file",
            help="private key of --redis-cert-file (PEM)"),
    Setting("mongo_uri", "CARTRACK_MONGO_URI", _mongo_uri, flag="--mongo-uri",
            help="MongoDB URI; default: embedded SecantusDB server"),
    Setting("cars", "CARTRACK_CARS", _int(0, MAX_CARS), lambda: DEFAULT_CARS, flag="--cars",
            help=f"number of simulated units (default {DEFAULT_CARS})"),
    Setting("simulator", "CARTRACK_SIMULATOR", _bool, lambda: True, switches=(
        Switch("--simulator", "1", "run the patrol simulator"),
        Switch("--no-simulator", "0", "do not run the patrol simulator (live data comes from elsewhere)"))),
    Setting("headless", "CARTRACK_HEADLESS", _bool, lambda: False, switches=(
        Switch("--headless", "1", "no window: run simulator and sync as a service"),)),
    Setting("duration", "CARTRACK_DURATION", _seconds, flag="--duration",
            help="run this many seconds, then shut down cleanly and exit 0"),
    Setting("data_dir", "CARTRACK_DATA_DIR", _directory, _default_data_dir, flag="--data-dir",
            help="where the embedded database and state live"),
    Setting("log_level", "CARTRACK_LOG_LEVEL", _log_level, lambda: "INFO", flag="--log-level",
            help="DEBUG, INFO, WARNING or ERROR (default INFO)"),
    Setting("tile_url", "CARTRACK_TILE_URL", _tile_url, lambda: DEFAULT_TILE_URL, flag="--tiles",
            help="tile URL template with {z}/{x}/{y}; 'none' for no tiles"),
    Setting("tile_attribution", "CARTRACK_TILE_ATTRIBUTION", _attribution, flag="--tile-attribution",
            help="attribution text shown for the tiles"),
    Setting("screenshot", "CARTRACK_SCREENSHOT", _path, flag="--screenshot",
            help="save a PNG of the window once live units are drawn"),
    Setting("seed", "CARTRACK_SEED", _int(0, 2**63 - 1), flag="--seed",
            help="random seed for a reproducible simulation"),
    Setting("dispatcher", "CARTRACK_DISPATCHER", _dispatcher, _os_user, flag="--dispatcher",
            help="dispatcher name for audit entries (default: OS user)"),
    Setting("rendering", "CARTRACK_RENDERING", _rendering, lambda: "auto", flag="--rendering",
            help="auto, software or gpu: how the map is composited (auto: software without a GPU)"),
    Setting("api", "CARTRACK_API", _api_bind, flag="--api",
            help="serve the HTTP/WebSocket API on [HOST:]PORT (PORT alone: 127.0.0.1); off by default"),
    Setting("api_cert", "CARTRACK_API_CERT", _readable_file, flag="--api-cert",
            help="TLS certificate of the API (PEM); needed to listen on a non-loopback address"),
    Setting("api_key", "CARTRACK_API_KEY", _readable_file, flag="--api-key",
            help="private key of --api-cert (PEM)"),
    Setting("api_cors", "CARTRACK_API_CORS", _origins, lambda: (), flag="--api-cors",
            help="comma-separated browser origins allowed to call the API (CORS); none by default"),
    Setting("api_rate", "CARTRACK_API_RATE", _int(1, MAX_API_RATE_PER_S), lambda: DEFAULT_API_RATE_PER_S,
            flag="--api-rate", help=f"API requests per second per token (default {DEFAULT_API_RATE_PER_S})"),
    # the device ingest (README "Real devices"): off unless an address is given
    Setting("ingest_address", "CARTRACK_INGEST", _ingest_address, flag="--ingest",
            help="serve device reports on [HOST:]PORT (a bare port: 127.0.0.1); default off"),
    Setting("ingest_cert", "CARTRACK_INGEST_CERT", _readable_file, flag="--ingest-cert",
            help="TLS certificate (PEM) for the device ingest; with --ingest-key"),
    Setting("ingest_key", "CARTRACK_INGEST_KEY", _readable_file, flag="--ingest-key",
            help="TLS private key (PEM) of --ingest-cert"),
    Setting("ingest_register", "CARTRACK_INGEST_REGISTER", _bool, lambda: False, switches=(
        Switch("--ingest-register", "1", "a report from an unknown device creates its unit"),)),
    Setting("ingest_speed_unit", "CARTRACK_INGEST_SPEED_UNIT", _speed_unit, lambda: SpeedUnit.KNOTS,
            flag="--ingest-speed-unit", help="unit of an OsmAnd-style `speed` without speed_unit=: kn (default), "
            "kmh, mps, mph"),
    Setting("ingest_future_s", "CARTRACK_INGEST_FUTURE_S", _number(0, 86400, "seconds"),
            lambda: FUTURE_S, flag="--ingest-future-s",
            help="refuse fixes more than this ahead of the clock (default 120; 0: off)"),
    Setting("ingest_accuracy_m", "CARTRACK_INGEST_ACCURACY_M", _number(0, 1e6, "metres"),
            lambda: ACCURACY_MAX_M, flag="--ingest-accuracy-m",
            help="refuse fixes with a reported accuracy worse than this (default 1000; 0: off)"),
    Setting("ingest_min_period_s", "CARTRACK_INGEST_MIN_PERIOD_S", _number(0, 3600, "seconds"),
            lambda: MIN_PERIOD_S, flag="--ingest-min-period-s",
            help="refuse a unit's fixes closer together than this (default 0.5; 0: off)"),
    Setting("ingest_max_speed_mph", "CARTRACK_INGEST_MAX_SPEED_MPH", _number(0, 100_000, "mph"),
            lambda: MAX_IMPLIED_SPEED_MPH, flag="--ingest-max-speed-mph",
            help="refuse a jump implying more than this speed (teleport; default 200; 0: off)"),
    Setting("ingest_filters_off", "CARTRACK_INGEST_FILTERS_OFF", _word_list(INGEST_SWITCHABLE_FILTERS), tuple,
            flag="--ingest-filters-off", help="comma list of filters to switch off: invalid, zero, duplicate, "
            "late (late: refuse out-of-order fixes instead of keeping them for the history)"),
    Setting("ingest_alarms", "CARTRACK_INGEST_ALARMS", _word_list(None), lambda: ALARM_KINDS,
            flag="--ingest-alarms", help="comma list of device alarm values that raise an emergency (default sos)"),
    Setting("ingest_workers", "CARTRACK_INGEST_WORKERS", _int(1, 16), lambda: 1, flag="--ingest-workers",
            help="ingest processes sharing the port (default 1)"),
    Setting("fleet_area", "CARTRACK_FLEET_AREA", _area, flag="--fleet-area",
            help="S,W,N,E (degrees): where simulated units patrol and what File > Import map data clips to; "
                 "default: the imported map's area"),
    Setting("tile_contact", "CARTRACK_TILE_CONTACT", _contact, lambda: "", flag="--tile-contact",
            help="contact (e-mail or URL) sent in the User-Agent to the online tile server"),
)
_TLS_PARAMS = {"redis_ca_file": "ssl_ca_certs", "redis_cert_file": "ssl_certfile", "redis_key_file": "ssl_keyfile"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError("command line", message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=APP_NAME, description="Dispatcher console for live police fleets.")
    for row in SETTINGS:
        if row.flag is not None:
            p.add_argument(row.flag, dest=row.field, help=row.help)
        group = p.add_mutually_exclusive_group() if len(row.switches) > 1 else p
        for sw in row.switches:
            group.add_argument(sw.flag, dest=row.field, action="store_const", const=sw.value, help=sw.help)
    return p


def _read(row: Setting, cli: argparse.Namespace, env: Mapping[str, str]) -> Any:
    """The row's value: from the command line, else the environment, else its default. A bad raw
    value raises ConfigError naming the option or variable it came from."""
    raw: str | None = getattr(cli, row.field)
    name = next((sw.flag for sw in row.switches if sw.value == raw), row.flag)
    if raw is None and row.env is not None and env.get(row.env, "") != "":
        raw, name = env[row.env], row.env
    if raw is None:
        return row.default()
    value = row.parse(name or row.field, raw)
    return row.default() if value is None else value


def _seed_redis_url(env: Mapping[str, str]) -> str | None:
    """The seed's REDIS_HOST/PORT/PASSWORD/DB variables, as a URL."""
    host = env.get("REDIS_HOST", "").strip()
    if not host:
        return None
    port = _int(1, 65535)("REDIS_PORT", env.get("REDIS_PORT", "6379") or "6379")
    db = _int(0, 1_000_000)("REDIS_DB", env.get("REDIS_DB", "0") or "0")
    password = env.get("REDIS_PASSWORD", "")
    user = env.get("REDIS_USERNAME", "")
    auth = ""
    if password:
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    hostpart = f"[{host}]" if ":" in host else host
    return f"redis://{auth}{hostpart}:{port}/{db}"


def _with_tls_files(url: str | None, files: Mapping[str, str]) -> str | None:
    """Add the TLS file options to a rediss:// URL (redis-py reads them from its query)."""
    if not files:
        return url
    if url is None or urlsplit(url).scheme != "rediss":
        raise ConfigError("--redis-ca-file", "TLS files need a rediss:// Redis URL")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in files] + sorted(files.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def load_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> Settings:
    cli = _build_parser().parse_args(argv)
    env_file = dotenv_path if dotenv_path is not None else Path.cwd() / ".env"
    env: dict[str, str] = {}
    if env_file.is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    values = {row.field: _read(row, cli, env) for row in SETTINGS}
    # what the rows combine into: the Redis URL (seed variables, TLS files), the database name,
    # the attribution that goes with the default tiles
    tls = {param: path for f, param in _TLS_PARAMS.items() if (path := values.pop(f)) is not None}
    redis_url = values["redis_url"] if values["redis_url"] is not None else _seed_redis_url(env)
    values["redis_url"] = _with_tls_files(redis_url, tls)
    mongo_uri, values["mongo_db"] = values["mongo_uri"] or (None, DEFAULT_MONGO_DB)
    values["mongo_uri"] = mongo_uri
    if values["tile_attribution"] is None:
        values["tile_attribution"] = DEFAULT_TILE_ATTRIBUTION if values["tile_url"] == DEFAULT_TILE_URL else ""
    if values["headless"] and values["screenshot"] is not None:
        raise ConfigError("--screenshot", "needs a window; it cannot be combined with --headless")
    _check_api(values)
    values["ingest"] = _ingest_options(values)
    return Settings(**values)


def _check_api(values: Mapping[str, Any]) -> None:
    """Fail closed: the API leaves loopback only with TLS (tokens are checked when it starts)."""
    api, cert, key = values["api"], values["api_cert"], values["api_key"]
    if (cert is None) != (key is None):
        raise ConfigError("--api-cert" if cert is None else "--api-key",
                          "--api-cert and --api-key go together")
    if cert is not None and api is None:
        raise ConfigError("--api-cert", "needs --api")
    if api is not None and not api.loopback and cert is None:
        raise ConfigError("--api", f"listening on {api.host} (not loopback) needs TLS (--api-cert and --api-key) "
                                   "and at least one token (cartrack-desktop api-token create NAME --role read)")


def _ingest_options(values: dict[str, Any]) -> IngestOptions | None:
    """The ingest rows (popped from values) as IngestOptions, or None when no address is set."""
    rows = {k: values.pop(k) for k in [k for k in values if k.startswith("ingest_")]}
    cert, key = rows["ingest_cert"], rows["ingest_key"]
    if (cert is None) != (key is None):
        raise ConfigError("--ingest-cert" if cert is None else "--ingest-key",
                          "TLS needs both --ingest-cert and --ingest-key")
    address = rows["ingest_address"]
    if address is None:
        return None
    off = set(rows["ingest_filters_off"])
    filters = FilterOptions(
        invalid="invalid" not in off, zero="zero" not in off, duplicate="duplicate" not in off,
        keep_late="late" not in off, future_s=rows["ingest_future_s"], accuracy_max_m=rows["ingest_accuracy_m"],
        min_period_s=rows["ingest_min_period_s"], max_implied_speed_mph=rows["ingest_max_speed_mph"])
    return IngestOptions(
        host=address[0], port=address[1], cert_file=Path(cert) if cert else None,
        key_file=Path(key) if key else None, register_unknown=rows["ingest_register"],
        speed_unit=rows["ingest_speed_unit"], filters=filters, alarm_kinds=tuple(rows["ingest_alarms"]),
        workers=rows["ingest_workers"])


def redact_url(url: str) -> str:
    """A URL safe for logs and the UI: password replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}" if user else f":***@{netloc}").geturl()
