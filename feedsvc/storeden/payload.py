"""Reading Storeden order payloads: both `cart.items` shapes, order dates, money values.

Storeden's `order.json` keys cart items by `"<product uid>#|#<options>"`;
`legacy_order.json` sends a list with `product_uid`. Both become CartLine.
Every reader raises PayloadError naming the field, never anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

ITEM_KEY_SEPARATOR = "#|#"


class PayloadError(ValueError):
    """A Storeden field is missing or has a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class CartLine:
    uid: str
    options: str
    title: str
    sku: str
    count: Decimal
    price: Decimal


def money(value: object, field: str, *, required: bool = True) -> Decimal:
    """A finite Decimal from an int, Decimal or numeric string; None → 0 unless required."""
    if value is None or value == "":
        if required:
            raise PayloadError(f"{field} is missing")
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise PayloadError(f"{field} is not a number: {_show(value)}")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise PayloadError(f"{field} is not a number: {_show(value)}") from None
    if not number.is_finite():
        raise PayloadError(f"{field} is not a finite number: {_show(value)}")
    if abs(number) >= Decimal("1e12"):
        raise PayloadError(f"{field} is out of range: {_show(value)}")
    return number


def text(value: object) -> str:
    """A text field; numbers become text, containers and None become empty."""
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value)


def _show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def cart_items(cart: object) -> list[CartLine]:
    """The cart's product lines, from either the object or the list form."""
    if not isinstance(cart, dict):
        raise PayloadError("cart is missing or not an object")
    items = cart.get("items")
    if isinstance(items, dict):
        entries = [(str(key), value) for key, value in items.items()]
    elif isinstance(items, list):
        entries = [(None, value) for value in items]
    else:
        raise PayloadError("cart.items is missing or neither an object nor a list")
    lines = []
    for index, (key, item) in enumerate(entries):
        where = f"cart.items[{key!r}]" if key is not None else f"cart.items[{index}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{where} is not an object")
        if key is not None:
            uid, _, options_from_key = key.partition(ITEM_KEY_SEPARATOR)
        else:
            uid, options_from_key = text(item.get("product_uid")), ""
        options = text(item.get("options")) or options_from_key
        lines.append(CartLine(
            uid=uid.strip(),
            options=options.strip(),
            title=text(item.get("title")),
            sku=text(item.get("sku")).strip(),
            count=money(item.get("count"), f"{where}.count"),
            price=money(item.get("price"), f"{where}.price"),
        ))
    return lines


def parse_iso(value: str) -> int:
    """Epoch seconds from `2015-12-17T18:19:54+0100` or `...+01:00`."""
    return int(datetime.fromisoformat(value.strip()).timestamp())


def order_timestamp(raw: dict) -> int:
    """The order's creation time: `orderDate.sec`, else an ISO `orderDate` / `iso.orderDate`."""
    date = raw.get("orderDate")
    if isinstance(date, dict):
        sec = date.get("sec")
        if isinstance(sec, int) and not isinstance(sec, bool) and 0 < sec < 10**11:
            return sec
    candidates = [date, (raw.get("iso") or {}).get("orderDate") if isinstance(raw.get("iso"), dict) else None]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            try:
                return parse_iso(candidate)
            except ValueError:
                continue
    raise PayloadError("orderDate is missing or not a date")
