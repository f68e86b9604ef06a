"""Settings: command line > environment > `.env` in the working directory > defaults.

Hand-written on argparse + python-dotenv rather than pydantic-settings: the rules are few,
the error for a bad value must be exactly one line naming the setting, and it keeps
pydantic out of the start-up path.
"""

from __future__ import annotations

import argparse
import getpass
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from dotenv import dotenv_values
from platformdirs import user_data_dir

APP_NAME = "cartrack-desktop"
DEFAULT_CARS = 25
MAX_CARS = 100_000
DEFAULT_MONGO_DB = "cartrack"
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "© OpenStreetMap contributors"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """A bad setting; str() is the one line shown to the user."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


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

    @property
    def tile_host(self) -> str | None:
        return urlsplit(self.tile_url).hostname if self.tile_url else None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError("command line", message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=APP_NAME, description="Dispatcher console for live police fleets.")
    p.add_argument("--redis-url", help="Redis URL (redis://, rediss://, unix://); default: embedded server")
    p.add_argument("--redis-ca-file", help="CA certificate(s) to verify a rediss:// server (PEM)")
    p.add_argument("--redis-cert-file", help="client certificate for rediss:// (PEM), if the server asks for one")
    p.add_argument("--redis-key-file", help="private key of --redis-cert-file (PEM)")
    p.add_argument("--mongo-uri", help="MongoDB URI; default: embedded SecantusDB server")
    p.add_argument("--cars", help=f"number of simulated units (default {DEFAULT_CARS})")
    sim = p.add_mutually_exclusive_group()
    sim.add_argument("--simulator", dest="simulator", action="store_const", const="1", help="run the patrol simulator")
    sim.add_argument("--no-simulator", dest="simulator", action="store_const", const="0",
                     help="do not run the patrol simulator (live data comes from elsewhere)")
    p.add_argument("--headless", action="store_true", default=None,
                   help="no window: run simulator and sync as a service")
    p.add_argument("--duration", help="run this many seconds, then shut down cleanly and exit 0")
    p.add_argument("--data-dir", help="where the embedded database and state live")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    p.add_argument("--tiles", dest="tile_url", help="tile URL template with {z}/{x}/{y}; 'none' for no tiles")
    p.add_argument("--tile-attribution", help="attribution text shown for the tiles")
    p.add_argument("--screenshot", help="save a PNG of the window once live units are drawn")
    p.add_argument("--seed", help="random seed for a reproducible simulation")
    p.add_argument("--dispatcher", help="dispatcher name for audit entries (default: OS user)")
    return p


def _int(setting: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(setting, f"must be a whole number (got {raw!r})") from None
    if not lo <= value <= hi:
        raise ConfigError(setting, f"must be between {lo} and {hi} (got {value})")
    return value


def _bool(setting: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ConfigError(setting, f"must be true or false (got {raw!r})")


def _check_redis_url(setting: str, url: str) -> str:
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


def _check_mongo_uri(setting: str, uri: str) -> tuple[str, str]:
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


def _check_tile_url(setting: str, url: str) -> str:
    if url.strip().lower() in ("", "none", "off"):
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(setting, "must be an http(s) URL template")
    if not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise ConfigError(setting, "must contain {z}, {x} and {y}")
    return url


_TLS_FILES = (("redis_ca_file", "CARTRACK_REDIS_CA_FILE", "ssl_ca_certs"),
              ("redis_cert_file", "CARTRACK_REDIS_CERT_FILE", "ssl_certfile"),
              ("redis_key_file", "CARTRACK_REDIS_KEY_FILE", "ssl_keyfile"))


def _with_tls_files(url: str | None, args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """Add the TLS file options to a rediss:// URL (redis-py reads them from its query)."""
    params: dict[str, str] = {}
    for attr, var, param in _TLS_FILES:
        value = getattr(args, attr)
        setting = "--" + attr.replace("_", "-")
        if value is None and env.get(var, ""):
            value, setting = env[var], var
        if value is None:
            continue
        path = Path(value).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ConfigError(setting, f"{path} is not a readable file")
        params[param] = str(path.resolve())
    if not params:
        return url
    if url is None or urlsplit(url).scheme != "rediss":
        raise ConfigError("--redis-ca-file", "TLS files need a rediss:// Redis URL")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in params] + sorted(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _seed_redis_url(env: Mapping[str, str]) -> str | None:
    """The seed's REDIS_HOST/PORT/PASSWORD/DB variables, as a URL."""
    host = env.get("REDIS_HOST", "").strip()
    if not host:
        return None
    port = _int("REDIS_PORT", env.get("REDIS_PORT", "6379") or "6379", 1, 65535)
    db = _int("REDIS_DB", env.get("REDIS_DB", "0") or "0", 0, 1_000_000)
    password = env.get("REDIS_PASSWORD", "")
    user = env.get("REDIS_USERNAME", "")
    auth = ""
    if password:
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    hostpart = f"[{host}]" if ":" in host else host
    return f"redis://{auth}{hostpart}:{port}/{db}"


def load_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> Settings:
    args = _build_parser().parse_args(argv)
    env_file = dotenv_path if dotenv_path is not None else Path.cwd() / ".env"
    env: dict[str, str] = {}
    if env_file.is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    def pick(cli_value: str | None, *names: str) -> tuple[str | None, str]:
        """(value, name of the setting it came from) following the precedence rules."""
        if cli_value is not None:
            return cli_value, "--" + names[0].lower().replace("cartrack_", "").replace("_", "-")
        for n in names:
            if env.get(n, "") != "":
                return env[n], n
        return None, names[0]

    raw, name = pick(args.redis_url, "CARTRACK_REDIS_URL")
    if raw is None:
        redis_url = _seed_redis_url(env)
    else:
        redis_url = _check_redis_url(name if args.redis_url is None else "--redis-url", raw)

    redis_url = _with_tls_files(redis_url, args, env)

    raw, name = pick(args.mongo_uri, "CARTRACK_MONGO_URI")
    mongo_uri: str | None = None
    mongo_db = DEFAULT_MONGO_DB
    if raw is not None:
        mongo_uri, mongo_db = _check_mongo_uri("--mongo-uri" if args.mongo_uri is not None else name, raw)

    raw, name = pick(args.cars, "CARTRACK_CARS")
    cars = DEFAULT_CARS if raw is None else _int("--cars" if args.cars is not None else name, raw, 0, MAX_CARS)

    raw, name = pick(args.simulator, "CARTRACK_SIMULATOR")
    simulator = True if raw is None else _bool(name if args.simulator is None else "--no-simulator", raw)

    headless = bool(args.headless) or (env.get("CARTRACK_HEADLESS", "") != "" and _bool(
        "CARTRACK_HEADLESS", env["CARTRACK_HEADLESS"]))

    raw, name = pick(args.duration, "CARTRACK_DURATION")
    duration: float | None = None
    if raw is not None:
        setting = "--duration" if args.duration is not None else name
        try:
            duration = float(raw)
        except ValueError:
            raise ConfigError(setting, f"must be a number of seconds (got {raw!r})") from None
        if not math.isfinite(duration) or duration <= 0:
            raise ConfigError(setting, f"must be a positive number of seconds (got {raw!r})")

    raw, name = pick(args.data_dir, "CARTRACK_DATA_DIR")
    data_dir = Path(raw).expanduser() if raw else Path(user_data_dir(APP_NAME, appauthor=False))
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError("--data-dir" if args.data_dir else name, f"{data_dir} is not a directory")

    raw, name = pick(args.log_level, "CARTRACK_LOG_LEVEL")
    log_level = (raw or "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError("--log-level" if args.log_level else name, f"must be one of {', '.join(LOG_LEVELS)}")

    raw, name = pick(args.tile_url, "CARTRACK_TILE_URL")
    tile_url = DEFAULT_TILE_URL if raw is None else _check_tile_url(
        "--tiles" if args.tile_url is not None else name, raw)
    raw, _ = pick(args.tile_attribution, "CARTRACK_TILE_ATTRIBUTION")
    tile_attribution = raw if raw is not None else (DEFAULT_TILE_ATTRIBUTION if tile_url == DEFAULT_TILE_URL else "")
    if len(tile_attribution) > 300:
        raise ConfigError("--tile-attribution", "longer than 300 characters")

    raw, name = pick(args.screenshot, "CARTRACK_SCREENSHOT")
    screenshot = Path(raw).expanduser() if raw else None

    raw, name = pick(args.seed, "CARTRACK_SEED")
    seed = None if raw is None else _int("--seed" if args.seed is not None else name, raw, 0, 2**63 - 1)

    raw, name = pick(args.dispatcher, "CARTRACK_DISPATCHER")
    dispatcher = (raw or _os_user()).strip()[:64] or "dispatcher"

    if headless and screenshot is not None:
        raise ConfigError("--screenshot", "needs a window; it cannot be combined with --headless")

    return Settings(
        redis_url=redis_url, mongo_uri=mongo_uri, mongo_db=mongo_db, cars=cars, simulator=simulator,
        headless=headless, duration=duration, data_dir=data_dir, log_level=log_level,
        tile_url=tile_url, tile_attribution=tile_attribution, screenshot=screenshot, seed=seed,
        dispatcher=dispatcher,
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "dispatcher"


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
