"""How a setting's text becomes its value: one parser per kind of value, each refusing what it cannot use.

A parser takes the variable's text (stripped, the default when unset) and
returns the value, or raises ValueError with a message that says what is
wrong and shows an example; config.py adds the variable's name. Parsers for
ISO codes load pycountry only when they run.
"""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feedsvc.retino import order_url
from feedsvc.storeden.vocabulary import NotAStatus, Rate, parse_rate, parse_status

MIN_TOKEN_HEX = 32
MIN_PASSWORD_LENGTH = 16
MIN_METRICS_TOKEN = 32
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# gunicorn's forms: HOST:PORT, [IPv6]:PORT, HOST alone (port 8000), unix:PATH, fd://N
_BIND = re.compile(r"^(?:unix:.+|fd://\d+|[^\s:\[\]]+|(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]*):(\d{1,5}))$")

Parser = Callable[[str], Any]


def text(value: str) -> str:
    return value


def whole_number(minimum: int, maximum: int | None = None) -> Parser:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}, got {number}")
        return number
    return parse


def seconds(minimum: float, maximum: float) -> Parser:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum:g} and {maximum:g}, got {value}")
        return number
    return parse


def optional(parse: Parser) -> Parser:
    """`parse`, with "" (unset) meaning None."""
    return lambda value: parse(value) if value else None


def boolean(value: str) -> bool:
    folded = value.lower()
    if folded in ("", "0", "false", "no", "off"):
        return False
    if folded in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"expected 1/0, true/false, yes/no; got {value!r}")


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError(f"expected an http(s) URL such as https://connect.storeden.com/v1.1, got {value!r}")
    return value.rstrip("/")


def storeden_rate(value: str) -> Rate:
    return parse_rate(value)


def directory(value: str) -> Path:
    return Path(value).expanduser()


def readable_file(value: str) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if not os.access(path, os.R_OK) or not path.is_file():
        raise ValueError(f"cannot read {path}")
    return path


def country_map(value: str) -> Path | None:
    """The operator's country table: a readable JSON object {"<uid>": "<ISO alpha-2>"}."""
    from feedsvc.retino.countries import load_override_file  # pycountry loads when a setting needs it

    path = readable_file(value)
    if path is not None:
        load_override_file(path)
    return path


def feed_token(value: str) -> str:
    if value and (len(value) < MIN_TOKEN_HEX or not _HEX.match(value)):
        raise ValueError(f"must be at least {MIN_TOKEN_HEX} hexadecimal characters from a random source "
                         "(run `feedsvc init` for one)")
    return value


def feed_password(value: str) -> str:
    if value and len(value) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"must be at least {MIN_PASSWORD_LENGTH} characters, got {len(value)} "
                         "(run `feedsvc init` for a random one)")
    return value


def metrics_token(value: str) -> str:
    if value and (len(value) < MIN_METRICS_TOKEN or any(c.isspace() or not c.isprintable() for c in value)):
        raise ValueError(f"must be at least {MIN_METRICS_TOKEN} printable characters without spaces, from a "
                         "random source (e.g. `python -c 'import secrets; print(secrets.token_hex(24))'`)")
    return value


def networks(value: str) -> tuple[str, ...]:
    found = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        try:
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"expected IP addresses or networks such as 10.0.0.5 or 10.0.0.0/24, "
                             f"got {part!r}") from None
    return tuple(found)


def currency(value: str) -> str:
    from feedsvc.retino.codes import is_currency

    code = value.upper()
    if not is_currency(code):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code such as EUR or CZK")
    return code


def country(value: str) -> str:
    from feedsvc.retino.countries import iso_country

    code = iso_country(value)
    if code is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code such as IT or DE")
    return code


def percentage(value: str) -> Decimal:
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"expected a percentage such as 22, got {value!r}") from None
    if not rate.is_finite() or rate < 0 or rate > 100:
        raise ValueError(f"must be between 0 and 100, got {value!r}")
    return rate


def words(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def statuses(value: str) -> frozenset[int]:
    try:
        return frozenset(status for part in value.split(",") if part.strip()
                         if (status := parse_status(part)) is not None)
    except NotAStatus as exc:
        raise ValueError(f"expected comma-separated Storeden statuses (0-8) such as 6,7; {exc}") from None


def time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def order_url_pattern(value: str) -> str:
    return order_url.check_pattern(value)


def bind_address(value: str) -> str:
    match = _BIND.match(value)
    if not match or (match.group(1) and not 1 <= int(match.group(1)) <= 65535):
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8000 (or unix:PATH), got {value!r}")
    return value


def workers(value: str) -> int:
    """The gunicorn workers; unset: two per CPU plus one, at most 8."""
    if not value:
        return min(2 * (os.cpu_count() or 1) + 1, 8)
    return whole_number(1)(value)


def one_of(*choices: str) -> Parser:
    def parse(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value.lower()
    return parse


def retino_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value) \
            or parts.query or parts.fragment:
        raise ValueError(f"expected an http(s) URL such as https://app.retino.com/api/v2, got {value!r}")
    return value.rstrip("/")


def retino_token(value: str) -> str:
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("contains white space or control characters; paste the token exactly as Retino shows "
                         "it (Settings → API v2), without a scheme word")
    return value


def retino_store_id(value: str) -> str:
    if any(not c.isprintable() for c in value) or len(value) > 200:
        raise ValueError("must be the store id as created in Retino (Settings → API v2), such as main-shop")
    return value


def phrases(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())
