"""Settings: every variable feedsvc reads, in one table (SETTINGS), read and checked once into a frozen Settings.

Each `Setting` row names the environment variable, the Settings field, the
default (written once, as it would be written in the environment), the
parser that turns the text into the value and refuses what it cannot use,
and one line for people. `load_settings` walks the table, then applies the
rules that concern several settings at once. Values come from the process
environment, then from a `.env` file in the working directory (the
environment wins). A wrong value stops start-up with a `ConfigError` that
names the variable, before anything runs. Secrets are kept out of `repr()` so
a logged Settings object never leaks them.

Adding a setting is one row here, its field in `Settings`, and its row in the
README's configuration table (tests/unit/test_config.py compares them).

The data dir holds customers' names, addresses and e-mails: it is created
0700 (its files 0600, see store.py, publish.py, pipeline.py), and one an older
version left open to others is tightened at start-up, with a log line.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from feedsvc import setting_parsers as parse
from feedsvc.storeden.vocabulary import COD_METHOD_CODES, DEFAULT_EXCLUDED_STATUSES, STOREDEN_RATE, Rate

log = logging.getLogger("feedsvc.config")

PRIVATE_DIR_MODE = 0o700
LOOPBACK_PROXIES = ("127.0.0.0/8", "::1/128")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


# -- the table ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    variable: str
    field: str  # the Settings attribute
    default: str  # as it would be written in the environment; "" for unset
    parse: parse.Parser
    doc: str  # one line for people
    secret: bool = False  # kept out of repr() and of logs
    strip: bool = True  # surrounding white space is not part of the value
    blank_is_default: bool = True  # False: an empty value is a value (an empty list)


SETTINGS: tuple[Setting, ...] = (
    Setting("FEEDSVC_STOREDEN_URL", "storeden_url", "https://connect.storeden.com/v1.1", parse.http_url,
            "Storeden API base"),
    Setting("FEEDSVC_STOREDEN_KEY", "storeden_key", "", parse.text, "your API key (a READ key is enough)",
            secret=True),
    Setting("FEEDSVC_STOREDEN_EXCHANGE", "storeden_exchange", "", parse.text, "your API exchange, the key's pair",
            secret=True),
    Setting("FEEDSVC_STOREDEN_RATE", "storeden_rate", str(STOREDEN_RATE), parse.storeden_rate,
            "requests per seconds the client never exceeds"),
    Setting("FEEDSVC_DATA_DIR", "data_dir", "./var", parse.directory,
            "SQLite store, snapshots, lock file (private)"),
    Setting("FEEDSVC_DAYS", "days", "7", parse.whole_number(1), "feed window in days (by order date)"),
    Setting("FEEDSVC_SYNC_INTERVAL", "sync_interval", "3600", parse.whole_number(1),
            "seconds between syncs of `sync --forever`"),
    Setting("FEEDSVC_FEED_TOKEN", "feed_token", "", parse.feed_token, "the secret of GET /feed/<token>.xml",
            secret=True),
    Setting("FEEDSVC_FEED_USER", "feed_user", "", parse.text,
            "Basic-auth user of GET /feed.xml and the dashboard"),
    Setting("FEEDSVC_FEED_PASSWORD", "feed_password", "", parse.feed_password,
            f"Basic-auth password, at least {parse.MIN_PASSWORD_LENGTH} characters", secret=True, strip=False),
    Setting("FEEDSVC_CURRENCY", "currency", "EUR", parse.currency, "currency when an order carries none"),
    Setting("FEEDSVC_VAT_RATE", "vat_rate", "22", parse.percentage, "percent; Storeden prices are VAT-inclusive"),
    Setting("FEEDSVC_COD_METHODS", "cod_methods", ",".join(sorted(COD_METHOD_CODES)), parse.words,
            "payment method codes that mean cash on delivery", blank_is_default=False),
    Setting("FEEDSVC_DEFAULT_COUNTRY", "default_country", "IT", parse.country,
            "country when one cannot be mapped (with a warning)"),
    Setting("FEEDSVC_COUNTRY_MAP", "country_map_file", "", parse.country_map,
            'JSON file {"<Storeden country UID>": "IT", …} overriding the built-in table'),
    Setting("FEEDSVC_TIMEZONE", "timezone", "Europe/Rome", parse.time_zone, "the shop's zone for DATE"),
    Setting("FEEDSVC_EXCLUDE_STATUSES", "exclude_statuses", ",".join(map(str, sorted(DEFAULT_EXCLUDED_STATUSES))),
            parse.statuses, "Storeden statuses (0-8) left out of the feed", blank_is_default=False),
    Setting("FEEDSVC_ORDER_URL", "order_url", "", parse.order_url_pattern, "pattern for ORDER_URL"),
    Setting("FEEDSVC_TLS_CERT", "tls_cert", "", parse.readable_file,
            "PEM certificate; HTTPS with FEEDSVC_TLS_KEY"),
    Setting("FEEDSVC_TLS_KEY", "tls_key", "", parse.readable_file, "PEM private key of FEEDSVC_TLS_CERT"),
    Setting("FEEDSVC_TRUSTED_PROXIES", "trusted_proxies", "", parse.networks,
            "reverse proxies (IPs or networks) whose X-Forwarded-For/-Proto are believed"),
    Setting("FEEDSVC_TRUST_PROXY", "trust_proxy", "0", parse.boolean, "1 alone: trust a proxy on loopback"),
    Setting("FEEDSVC_HEADER_TIMEOUT", "header_timeout", "10", parse.seconds(0.1, 300),
            "seconds a connection has for its TLS handshake and request headers"),
    Setting("FEEDSVC_SEND_TIMEOUT", "send_timeout", "60", parse.seconds(0.1, 3600),
            "seconds a client may take to receive one piece of a response, or to send its body"),
    Setting("FEEDSVC_WORKER_CONNECTIONS", "worker_connections", "1000", parse.whole_number(64, 100_000),
            "connections each gunicorn worker holds at most"),
    Setting("FEEDSVC_MAX_SNAPSHOT_AGE", "max_snapshot_age", "25200", parse.whole_number(60),
            "seconds after which /healthz reports the feed stale"),
    Setting("FEEDSVC_MAX_FETCH_AGE", "max_fetch_age", "46800", parse.whole_number(60),
            "seconds without a successful feed download before the dashboard warns (two missed 6-hour pulls)"),
    Setting("FEEDSVC_METRICS_TOKEN", "metrics_token", "", parse.metrics_token,
            "bearer token for GET /metrics (the dashboard's Basic credentials work too)", secret=True),
    Setting("FEEDSVC_BIND", "bind", "127.0.0.1:8000", parse.bind_address, "gunicorn's address"),
    Setting("PORT", "port", "", parse.optional(parse.whole_number(1, 65535)),
            "alone: gunicorn binds 0.0.0.0:$PORT"),
    Setting("FEEDSVC_WORKERS", "workers", "", parse.workers,
            "gunicorn workers (unset: two per CPU plus one, 8 at most)"),
    Setting("FEEDSVC_ACCESS_LOG", "access_log", "-", parse.text, "gunicorn's access log file (- for stdout)"),
    Setting("FEEDSVC_ERROR_LOG", "error_log", "-", parse.text, "gunicorn's error log file (- for stderr)"),
    Setting("FEEDSVC_LOG_LEVEL", "log_level", "info", parse.one_of(*parse.LOG_LEVELS), "gunicorn's log level"),
    # push mode (specs/retino-orders-api.md): on when the token and the store id are both set
    Setting("FEEDSVC_RETINO_URL", "retino_url", "https://app.retino.com/api/v2", parse.retino_url,
            "Retino's Orders API base"),
    Setting("FEEDSVC_RETINO_TOKEN", "retino_token", "", parse.retino_token,
            "Retino API v2 token; with the store id, push mode is on", secret=True),
    Setting("FEEDSVC_RETINO_STORE_ID", "retino_store_id", "", parse.retino_store_id,
            "the store id created in Retino; required with the token"),
    Setting("FEEDSVC_RETINO_SHIPMENTS", "retino_shipments", "1", parse.boolean,
            "send package numbers as shipments (POST /tracking-shipping)"),
    Setting("FEEDSVC_RETINO_PICKUP", "pickup_phrases", "", parse.phrases,
            "shipping-method phrases meaning pickup in the shop (unset: the built-in ones)"),
)
PUSH_SYNC_INTERVAL = 60  # with push on, a change reaches Retino within about a minute
_BY_FIELD = {setting.field: setting for setting in SETTINGS}


def variable_of(field_name: str) -> str:
    """The environment variable behind a Settings field."""
    return _BY_FIELD[field_name].variable


@dataclass(frozen=True)
class Settings:
    storeden_url: str
    storeden_key: str = field(repr=False)
    storeden_exchange: str = field(repr=False)
    storeden_rate: Rate
    data_dir: Path
    days: int
    sync_interval: int
    feed_token: str = field(repr=False)
    feed_user: str
    feed_password: str = field(repr=False)
    currency: str
    vat_rate: Decimal
    cod_methods: frozenset[str]
    default_country: str
    country_map_file: Path | None
    timezone: str
    exclude_statuses: frozenset[int]
    order_url: str
    tls_cert: Path | None
    tls_key: Path | None
    trusted_proxies: tuple[str, ...]  # networks whose X-Forwarded-* headers are believed
    trust_proxy: bool
    header_timeout: float
    send_timeout: float
    worker_connections: int
    max_snapshot_age: int
    max_fetch_age: int
    metrics_token: str = field(repr=False)
    bind: str
    port: int | None
    workers: int
    access_log: str
    error_log: str
    log_level: str
    retino_url: str
    retino_token: str = field(repr=False)
    retino_store_id: str
    retino_shipments: bool
    pickup_phrases: tuple[str, ...]  # empty: push_payload.DEFAULT_PICKUP_PHRASES

    # -- derived values -------------------------------------------------
    @property
    def rate_requests(self) -> int:
        return self.storeden_rate.requests

    @property
    def rate_seconds(self) -> float:
        return self.storeden_rate.seconds

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
    def push_enabled(self) -> bool:
        return bool(self.retino_token and self.retino_store_id)

    def require_push(self) -> None:
        """Refuse to push when push mode is off."""
        if not self.push_enabled:
            raise ConfigError("FEEDSVC_RETINO_TOKEN", "push mode is off: set FEEDSVC_RETINO_TOKEN and "
                                                      "FEEDSVC_RETINO_STORE_ID (Retino: Settings → API v2)")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value set, for redaction in logs and tests."""
        values = (getattr(self, setting.field) for setting in SETTINGS if setting.secret)
        return tuple(value for value in values if value)

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)

    def require_feed_auth(self) -> None:
        """Refuse to serve without a way to protect the feed."""
        if not (self.token_enabled or self.basic_auth_enabled):
            raise ConfigError(
                "FEEDSVC_FEED_TOKEN",
                "no way to protect the feed: set FEEDSVC_FEED_TOKEN (run `feedsvc init`) "
                "or FEEDSVC_FEED_USER and FEEDSVC_FEED_PASSWORD",
            )


assert {f.name for f in fields(Settings)} == set(_BY_FIELD), "every Settings field has exactly one row"


def default_value(field_name: str) -> Any:
    """The default of one setting, as its parser reads it."""
    setting = _BY_FIELD[field_name]
    return setting.parse(setting.default)


def defaults(**changes: Any) -> Settings:
    """The settings of an empty environment (no side effects: the data dir is not created), with `changes`."""
    return Settings(**{**{s.field: s.parse(s.default) for s in SETTINGS}, **changes})


# -- reading them ---------------------------------------------------------------------------------

def _environment(env: Mapping[str, str] | None, dotenv_path: Path | None) -> dict[str, str]:
    if env is not None:
        return dict(env)
    merged: dict[str, str] = {}
    path = dotenv_path if dotenv_path is not None else Path(".env")
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ)
    return merged


def _read(setting: Setting, env: Mapping[str, str]) -> tuple[Any, bool]:
    """(the value, whether the environment gave one)."""
    raw = env.get(setting.variable)
    given = raw is not None and (raw.strip() != "" or not setting.blank_is_default)
    value = raw if given and raw is not None else setting.default
    try:
        return setting.parse(value.strip() if setting.strip else value), given
    except ValueError as exc:
        raise ConfigError(setting.variable, str(exc)) from None


def _together(values: dict[str, Any], first: str, second: str) -> None:
    if bool(values[first]) != bool(values[second]):
        missing = second if values[first] else first
        raise ConfigError(variable_of(missing),
                          f"{variable_of(first)} and {variable_of(second)} must be set together")


def _check_tls_pair(cert: Path, key: Path) -> None:
    import ssl  # only when TLS is set: every command loads the settings

    def no_passphrase() -> bytes:
        raise ValueError("the key is encrypted; gunicorn needs it without a passphrase")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=no_passphrase)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError("FEEDSVC_TLS_KEY", f"{cert} and {key} are not a PEM certificate and its private key "
                                             f"({getattr(exc, 'reason', None) or exc})") from None


def _cross_checks(values: dict[str, Any], given: set[str]) -> None:
    """The rules that concern several settings at once."""
    _together(values, "feed_user", "feed_password")
    _together(values, "tls_cert", "tls_key")
    if values["tls_cert"] is not None:
        _check_tls_pair(values["tls_cert"], values["tls_key"])
    if values["trusted_proxies"] and "trust_proxy" in given and not values["trust_proxy"]:
        raise ConfigError("FEEDSVC_TRUST_PROXY", "is off but FEEDSVC_TRUSTED_PROXIES lists proxies; "
                                                 "remove one of the two")
    values["trust_proxy"] = values["trust_proxy"] or bool(values["trusted_proxies"])
    if "port" in given and "bind" not in given:
        values["bind"] = f"0.0.0.0:{values['port']}"
    _push_pair(values, given)


def _push_pair(values: dict[str, Any], given: set[str]) -> None:
    """Push mode needs the token and the store id together; with it on, the worker syncs every minute."""
    token, store = variable_of("retino_token"), variable_of("retino_store_id")
    if bool(values["retino_token"]) != bool(values["retino_store_id"]):
        missing, present = (store, token) if values["retino_token"] else (token, store)
        raise ConfigError(missing, f"is missing: {present} is set, and push mode needs both {token} and {store}")
    if values["retino_token"] and "sync_interval" not in given:
        values["sync_interval"] = PUSH_SYNC_INTERVAL


def _prepare_data_dir(path: Path) -> None:
    name = "FEEDSVC_DATA_DIR"
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(name, f"cannot create {path}: {exc.strerror}") from None
    if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
        raise ConfigError(name, f"{path} is not a readable directory")
    _make_private(path)


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


def read_setting(field_name: str, env: Mapping[str, str] | None = None, *, dotenv_path: Path | None = None) -> Any:
    """One setting alone, read and checked as load_settings reads it (the others are not looked at)."""
    return _read(_BY_FIELD[field_name], _environment(env, dotenv_path))[0]


def load_settings(env: Mapping[str, str] | None = None, *, dotenv_path: Path | None = None) -> Settings:
    """Read and check every setting (SETTINGS, then the cross-setting rules); ConfigError names the variable."""
    environment = _environment(env, dotenv_path)
    values: dict[str, Any] = {}
    given: set[str] = set()
    for setting in SETTINGS:
        values[setting.field], was_given = _read(setting, environment)
        if was_given:
            given.add(setting.field)
    _cross_checks(values, given)
    _prepare_data_dir(values["data_dir"])
    return Settings(**values)
