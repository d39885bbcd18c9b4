"""Reading Storeden order payloads: both `cart.items` shapes, order and event dates, money values.

Storeden's `order.json` keys cart items by `"<product uid>#|#<options>"` (or by
the bare uid); `legacy_order.json` sends a list whose items carry
`product_uid`. Both become a list of CartLine. Money arrives as JSON integers
or decimals (read as Decimal by feedsvc.jsonutil) and sometimes as numeric
strings; anything else is refused. Every reader here raises PayloadError,
whose message names the field, and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ITEM_KEY_SEPARATOR = "#|#"
# No real price or quantity comes near this; beyond it Decimal's 28 digits could round silently.
MONEY_LIMIT = Decimal("1e12")
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
# Epoch seconds between 1970 and 5138: anything else in orderDate.sec is damage.
_MAX_EPOCH = 10**11


class PayloadError(ValueError):
    """A Storeden field is missing or holds a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class CartLine:
    """One product line of a Storeden cart, whichever shape it came in."""

    uid: str
    options: str
    title: str
    sku: str
    count: Decimal
    price: Decimal


def show(value: object, limit: int = 40) -> str:
    """A short, safe rendering of a bad value for an error message."""
    if isinstance(value, (dict, list, tuple, set)):
        return f"a {type(value).__name__}"
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def money(value: object, field: str, *, required: bool = True) -> Decimal:
    """A finite Decimal from an int, a Decimal or a numeric string.

    None or "" is "missing": PayloadError when `required`, else 0. Booleans,
    floats (a sign that JSON was read without Decimal), containers, NaN,
    infinities and values beyond ±1e12 raise PayloadError naming `field`.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PayloadError(f"{field} is missing")
        return Decimal(0)
    if isinstance(value, bool):
        raise PayloadError(f"{field} is not a number: {show(value)}")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        candidate = value.strip()
        if not _NUMERIC.fullmatch(candidate):
            raise PayloadError(f"{field} is not a number: {show(value)}")
        try:
            number = Decimal(candidate)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
            raise PayloadError(f"{field} is not a number: {show(value)}") from None
    elif isinstance(value, float):
        raise PayloadError(f"{field} is a binary float ({show(value)}); money must be read as Decimal")
    else:
        raise PayloadError(f"{field} is not a number: {show(value)}")
    if not number.is_finite():
        raise PayloadError(f"{field} is not a finite number: {show(value)}")
    if abs(number) >= MONEY_LIMIT:
        raise PayloadError(f"{field} is out of range: {show(value)}")
    return number


def text(value: object) -> str:
    """A text field as str: numbers become their digits; None, booleans and containers become ""."""
    if value is None or isinstance(value, (dict, list, tuple, bool)):
        return ""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else ""
    return value if isinstance(value, str) else str(value)


def cart_items(cart: object) -> list[CartLine]:
    """The cart's product lines, from the object form (order.json) or the list form (legacy_order.json).

    Paths in errors are positional, `cart.items[2].price`, in both forms.
    """
    if not isinstance(cart, dict):
        raise PayloadError("cart is missing or not an object")
    items = cart.get("items")
    entries: list[tuple[str | None, Any]]
    if isinstance(items, dict):
        entries = [(str(key), value) for key, value in items.items()]
    elif isinstance(items, list):
        entries = [(None, value) for value in items]
    elif items is None:
        raise PayloadError("cart.items is missing")
    else:
        raise PayloadError(f"cart.items is neither an object nor a list: {show(items)}")
    lines = []
    for index, (key, item) in enumerate(entries):
        where = f"cart.items[{index}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{where} is not an object: {show(item)}")
        if key is not None:
            uid, _, options_from_key = key.partition(ITEM_KEY_SEPARATOR)
        else:
            uid, options_from_key = text(item.get("product_uid")), ""
        options = text(item.get("options")).strip() or options_from_key.strip()
        lines.append(CartLine(
            uid=uid.strip(),
            options=options,
            title=text(item.get("title")),
            sku=text(item.get("sku")).strip(),
            count=money(item.get("count"), f"{where}.count"),
            price=money(item.get("price"), f"{where}.price"),
        ))
    return lines


def parse_iso(value: str) -> int:
    """Epoch seconds from an ISO 8601 time with an offset: `2015-12-17T18:19:54+0100` or `...+01:00`.

    A time without an offset is refused: it would be read in this machine's zone.
    """
    if not isinstance(value, str):
        raise PayloadError(f"not an ISO date: {show(value)}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(f"not an ISO date: {show(value)}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PayloadError(f"ISO date without a UTC offset: {show(value)}")
    return int(moment.timestamp())


def latest_event_ts(entry: dict) -> int | None:
    """When the latest of an orders_filter.json entry's `events` happened (epoch seconds); None without one."""
    stamps = []
    for event in entry.get("events") or []:
        if isinstance(event, dict) and isinstance(event.get("iso_date"), str):
            try:
                stamps.append(parse_iso(event["iso_date"]))
            except ValueError:
                continue
    return max(stamps) if stamps else None


def _epoch(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value < _MAX_EPOCH:
        return value
    return None


def order_timestamp(raw: object) -> int:
    """When the order was created, in epoch seconds.

    `orderDate.sec` (order.json) first; else an ISO `orderDate` string
    (list.json, orders_filter.json) or `iso.orderDate`.
    """
    if not isinstance(raw, dict):
        raise PayloadError("the order is not an object")
    date = raw.get("orderDate")
    if isinstance(date, dict):
        sec = _epoch(date.get("sec"))
        if sec is not None:
            return sec
    iso = raw.get("iso")
    for candidate in (date, iso.get("orderDate") if isinstance(iso, dict) else None):
        if isinstance(candidate, str) and candidate.strip():
            try:
                stamp = parse_iso(candidate)
            except (PayloadError, OverflowError, OSError):
                continue
            if 0 < stamp < _MAX_EPOCH:
                return stamp
    raise PayloadError("orderDate is missing or not a date")
