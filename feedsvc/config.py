"""Settings: every FEEDSVC_* variable, read once into one frozen object.

Values come from the process environment, then from a `.env` file in the
working directory (the environment wins). A wrong value stops start-up with a
`ConfigError` that names the variable. Secrets are kept out of `repr()` so a
logged Settings object never leaks them.

The data dir holds customers' names, addresses and e-mails: it is created
0700 (its files 0600, see store.py, publish.py, pipeline.py), and one an older
version left open to others is tightened at start-up, with a log line.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
import zoneinfo
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values

from feedsvc.storeden.vocabulary import DEFAULT_EXCLUDED_STATUSES, NotAStatus, parse_status

log = logging.getLogger("feedsvc.config")

MIN_TOKEN_HEX = 32
PRIVATE_DIR_MODE = 0o700
MIN_PASSWORD_LENGTH = 16
MIN_METRICS_TOKEN = 32
LOOPBACK_PROXIES = ("127.0.0.0/8", "::1/128")
_TOKEN_RE = re.compile(r"^[0-9a-fA-F]+$")
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class Settings:
    storeden_url: str = "https://connect.storeden.com/v1.1"
    storeden_key: str = field(default="", repr=False)
    storeden_exchange: str = field(default="", repr=False)
    rate_requests: int = 5
    rate_seconds: float = 60.0
    data_dir: Path = Path("./var")
    days: int = 7
    sync_interval: int = 3600
    feed_token: str = field(default="", repr=False)
    feed_user: str = ""
    feed_password: str = field(default="", repr=False)
    currency: str = "EUR"
    vat_rate: Decimal = Decimal("22")
    cod_methods: frozenset[str] = frozenset({"mark"})
    default_country: str = "IT"
    country_map_file: Path | None = None
    timezone: str = "Europe/Rome"
    exclude_statuses: frozenset[int] = DEFAULT_EXCLUDED_STATUSES
    order_url: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trust_proxy: bool = False
    trusted_proxies: tuple[str, ...] = ()  # networks whose X-Forwarded-* headers are believed
    max_snapshot_age: int = 7 * 3600
    max_fetch_age: int = 13 * 3600  # two missed 6-hourly pulls by Retino
    metrics_token: str = field(default="", repr=False)
    bind: str = "127.0.0.1:8000"

    # -- derived values -------------------------------------------------
    @property
    def database_path(self) -> Path:
        return self.data_dir / "feedsvc.sqlite3"

    @property
    def snapshots_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def sync_lock_path(self) -> Path:
        return self.data_dir / "sync.lock"

    @property
    def delivery_log_path(self) -> Path:
        return self.data_dir / "delivery.sqlite3"

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def token_enabled(self) -> bool:
        return bool(self.feed_token)

    @property
    def basic_auth_enabled(self) -> bool:
        return bool(self.feed_user and self.feed_password)

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The peers whose X-Forwarded-For/-Proto are believed; none unless proxies are trusted."""
        if not self.trust_proxy:
            return ()
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies or LOOPBACK_PROXIES)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value set, for redaction in logs and tests."""
        values = (self.storeden_key, self.storeden_exchange, self.feed_token, self.feed_password,
                  self.metrics_token)
        return tuple(v for v in values if v)

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)

    def require_feed_auth(self) -> None:
        """Refuse to serve without a way to protect the feed."""
        if not (self.token_enabled or self.basic_auth_enabled):
            raise ConfigError(
                "FEEDSVC_FEED_TOKEN",
                "no way to protect the feed: set FEEDSVC_FEED_TOKEN (run `feedsvc init`) "
                "or FEEDSVC_FEED_USER and FEEDSVC_FEED_PASSWORD",
            )


def _environment(env: Mapping[str, str] | None, dotenv_path: Path | None) -> dict[str, str]:
    if env is not None:
        return dict(env)
    merged: dict[str, str] = {}
    path = dotenv_path if dotenv_path is not None else Path(".env")
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ)
    return merged


def _int(env, name, default, minimum):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def _bool(env, name):
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(name, f"expected 1/0, true/false, yes/no; got {raw!r}")


def _rate(env):
    name = "FEEDSVC_STOREDEN_RATE"
    raw = env.get(name, "").strip() or "5/60"
    match = _RATE_RE.match(raw)
    if not match:
        raise ConfigError(name, f"expected REQUESTS/SECONDS such as 5/60, got {raw!r}")
    count, seconds = int(match.group(1)), float(match.group(2))
    if count < 1 or seconds <= 0:
        raise ConfigError(name, f"both numbers must be positive, got {raw!r}")
    return count, seconds


def _path(env, name):
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _readable_file(env, name):
    path = _path(env, name)
    if path is not None and not os.access(path, os.R_OK):
        raise ConfigError(name, f"cannot read {path}")
    return path


def _data_dir(env):
    name = "FEEDSVC_DATA_DIR"
    path = Path(env.get(name, "").strip() or "./var").expanduser()
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(name, f"cannot create {path}: {exc.strerror}") from None
    if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
        raise ConfigError(name, f"{path} is not a readable directory")
    _make_private(path)
    return path


def _make_private(path: Path) -> None:
    """Take group and others' access away from the data dir (an older version made it 0755)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    try:
        path.chmod(PRIVATE_DIR_MODE)
    except OSError as exc:
        log.warning("FEEDSVC_DATA_DIR %s is readable by others (%04o) and could not be made 0700: %s; "
                    "it holds customers' personal data", path, mode, exc.strerror or exc)
        return
    log.warning("FEEDSVC_DATA_DIR %s was readable by others (%04o); made it 0700: it holds customers' "
                "names, addresses and e-mails", path, mode)


def _token(env):
    name = "FEEDSVC_FEED_TOKEN"
    token = env.get(name, "").strip()
    if token and (len(token) < MIN_TOKEN_HEX or not _TOKEN_RE.match(token)):
        raise ConfigError(
            name,
            f"must be at least {MIN_TOKEN_HEX} hexadecimal characters from a random source "
            "(run `feedsvc init` for one)",
        )
    return token


def _metrics_token(env):
    name = "FEEDSVC_METRICS_TOKEN"
    token = env.get(name, "").strip()
    if token and (len(token) < MIN_METRICS_TOKEN or any(c.isspace() or not c.isprintable() for c in token)):
        raise ConfigError(name, f"must be at least {MIN_METRICS_TOKEN} printable characters without spaces, "
                                "from a random source (e.g. `python -c 'import secrets; print(secrets.token_hex(24))'`)")
    return token


def _vat_rate(env):
    name = "FEEDSVC_VAT_RATE"
    raw = env.get(name, "").strip() or "22"
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(name, f"expected a percentage such as 22, got {raw!r}") from None
    if not rate.is_finite() or rate < 0 or rate > 100:
        raise ConfigError(name, f"must be between 0 and 100, got {raw!r}")
    return rate


def _code(env, name, default, length):
    raw = (env.get(name, "").strip() or default).upper()
    if len(raw) != length or not raw.isalpha() or not raw.isascii():
        raise ConfigError(name, f"expected a {length}-letter code, got {raw!r}")
    return raw


def _timezone(env):
    name = "FEEDSVC_TIMEZONE"
    raw = env.get(name, "").strip() or "Europe/Rome"
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(name, f"unknown time zone {raw!r}") from None
    return raw


def _statuses(env):
    name = "FEEDSVC_EXCLUDE_STATUSES"
    raw = env.get(name)
    if raw is None:
        return DEFAULT_EXCLUDED_STATUSES
    try:
        return frozenset(parse_status(part) for part in raw.split(",") if part.strip())
    except NotAStatus as exc:
        raise ConfigError(name, f"expected comma-separated Storeden statuses (0-8) such as 6,7; {exc}") from None


def _words(env, name, default):
    raw = env.get(name)
    if raw is None:
        return frozenset(default)
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _tls(env):
    cert = _readable_file(env, "FEEDSVC_TLS_CERT")
    key = _readable_file(env, "FEEDSVC_TLS_KEY")
    if (cert is None) != (key is None):
        missing = "FEEDSVC_TLS_KEY" if key is None else "FEEDSVC_TLS_CERT"
        raise ConfigError(missing, "FEEDSVC_TLS_CERT and FEEDSVC_TLS_KEY must be set together")
    return cert, key


def _feed_password(env, user):
    name = "FEEDSVC_FEED_PASSWORD"
    password = env.get(name, "")
    if bool(user) != bool(password):
        missing = name if user else "FEEDSVC_FEED_USER"
        raise ConfigError(missing, "FEEDSVC_FEED_USER and FEEDSVC_FEED_PASSWORD must be set together")
    if password and len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(name, f"must be at least {MIN_PASSWORD_LENGTH} characters, got {len(password)} "
                                "(run `feedsvc init` for a random one)")
    return password


def _trusted_proxies(env):
    """(trust_proxy, networks): FEEDSVC_TRUSTED_PROXIES lists them; FEEDSVC_TRUST_PROXY=1 alone means loopback."""
    name = "FEEDSVC_TRUSTED_PROXIES"
    trust = _bool(env, "FEEDSVC_TRUST_PROXY")
    networks = []
    for part in env.get(name, "").replace(" ", "").split(","):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(name, f"expected IP addresses or networks such as 10.0.0.5 or 10.0.0.0/24, "
                                    f"got {part!r}") from None
    if networks and env.get("FEEDSVC_TRUST_PROXY", "").strip() and not trust:
        raise ConfigError("FEEDSVC_TRUST_PROXY", f"is off but {name} lists proxies; remove one of the two")
    return trust or bool(networks), tuple(networks)


def load_settings(env: Mapping[str, str] | None = None, *, dotenv_path: Path | None = None) -> Settings:
    """Read and check every setting; raises ConfigError naming the variable."""
    e = _environment(env, dotenv_path)
    rate_requests, rate_seconds = _rate(e)
    tls_cert, tls_key = _tls(e)
    feed_user = e.get("FEEDSVC_FEED_USER", "").strip()
    feed_password = _feed_password(e, feed_user)
    trust_proxy, trusted_proxies = _trusted_proxies(e)
    bind = e.get("FEEDSVC_BIND", "").strip()
    if not bind and e.get("PORT", "").strip():
        bind = f"0.0.0.0:{_int(e, 'PORT', 8000, 1)}"
    return Settings(
        storeden_url=(e.get("FEEDSVC_STOREDEN_URL", "").strip() or Settings.storeden_url).rstrip("/"),
        storeden_key=e.get("FEEDSVC_STOREDEN_KEY", "").strip(),
        storeden_exchange=e.get("FEEDSVC_STOREDEN_EXCHANGE", "").strip(),
        rate_requests=rate_requests,
        rate_seconds=rate_seconds,
        data_dir=_data_dir(e),
        days=_int(e, "FEEDSVC_DAYS", 7, 1),
        sync_interval=_int(e, "FEEDSVC_SYNC_INTERVAL", 3600, 1),
        feed_token=_token(e),
        feed_user=feed_user,
        feed_password=feed_password,
        currency=_code(e, "FEEDSVC_CURRENCY", "EUR", 3),
        vat_rate=_vat_rate(e),
        cod_methods=_words(e, "FEEDSVC_COD_METHODS", {"mark"}),
        default_country=_code(e, "FEEDSVC_DEFAULT_COUNTRY", "IT", 2),
        country_map_file=_readable_file(e, "FEEDSVC_COUNTRY_MAP"),
        timezone=_timezone(e),
        exclude_statuses=_statuses(e),
        order_url=e.get("FEEDSVC_ORDER_URL", "").strip(),
        tls_cert=tls_cert,
        tls_key=tls_key,
        trust_proxy=trust_proxy,
        trusted_proxies=trusted_proxies,
        max_snapshot_age=_int(e, "FEEDSVC_MAX_SNAPSHOT_AGE", 7 * 3600, 60),
        max_fetch_age=_int(e, "FEEDSVC_MAX_FETCH_AGE", 13 * 3600, 1),
        metrics_token=_metrics_token(e),
        bind=bind or "127.0.0.1:8000",
    )
