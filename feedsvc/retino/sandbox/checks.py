"""What the Retino simulator refuses: the rules the Orders API v2 document states, with Retino-like wording.

Money is a decimal string, and when `with_vat`, `without_vat` and `vat` are
all sent they must add up ("Price mismatch: 1000 + 210 ≠ 1200"); `code` and
`store_id` are required on a full order; dates are ISO 8601; item types and
status names come from the document's lists.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from feedsvc import jsonutil
from feedsvc.retino.push_payload import RETINO_STATUSES

ITEM_TYPES = ("PRODUCT", "SHIPPING", "BILLING", "DISCOUNT")


class Invalid(ValueError):
    """An order the simulator refuses; the message is what Retino would say."""


def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise Invalid(f"{where} must be a decimal string such as \"199.99\", got {jsonutil.dumps(value)}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Invalid(f"{where} is not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise Invalid(f"{where} is not a decimal number: {value!r}")
    return number


def _check_price(block: Any, where: str) -> None:
    if not isinstance(block, dict):
        raise Invalid(f"{where} must be an object")
    values = {key: _decimal(block[key], f"{where}.{key}") for key in ("with_vat", "without_vat", "vat", "vat_rate")
              if key in block}
    if {"with_vat", "without_vat", "vat"} <= values.keys() and \
            values["without_vat"] + values["vat"] != values["with_vat"]:
        raise Invalid(f"Price mismatch: {block['without_vat']} + {block['vat']} ≠ {block['with_vat']}")


def check_text(value: Any, where: str, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(f"{where} must be a non-empty string" if required else f"{where} must be a string")


def _check_date(value: Any, where: str) -> None:
    check_text(value, where, required=True)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{where} is not an ISO 8601 date and time: {value!r}") from None


def _check_statuses(value: Any) -> None:
    if not isinstance(value, list):
        raise Invalid("statuses must be a list")
    for index, entry in enumerate(value):
        where = f"statuses[{index}]"
        if not isinstance(entry, dict):
            raise Invalid(f"{where} must be an object")
        if entry.get("name") not in RETINO_STATUSES:
            raise Invalid(f"{where}.name: unknown status value {entry.get('name')!r}")
        if "date" in entry:
            _check_date(entry["date"], f"{where}.date")


def check_order(order: Any, *, partial: bool = False) -> None:
    """Raise Invalid with Retino-like wording when `order` breaks a rule the document states."""
    if not isinstance(order, dict):
        raise Invalid("an order must be a JSON object")
    if not partial:
        check_text(order.get("code"), "code", required=True)
        check_text(order.get("store_id"), "store_id", required=True)
    if "order_date" in order:
        _check_date(order["order_date"], "order_date")
    for key in ("currency", "language"):
        check_text(order.get(key), key)
    if "price" in order:
        _check_price(order["price"], "price")
    for key in ("customer", "billing_address", "shipping_address"):
        if key in order:
            block = order[key]
            if not isinstance(block, dict):
                raise Invalid(f"{key} must be an object")
            for inner, value in block.items():
                check_text(value, f"{key}.{inner}")
    if "items" in order:
        if not isinstance(order["items"], list):
            raise Invalid("items must be a list")
        for index, item in enumerate(order["items"]):
            where = f"items[{index}]"
            if not isinstance(item, dict):
                raise Invalid(f"{where} must be an object")
            check_text(item.get("name"), f"{where}.name", required=True)
            if item.get("item_type") not in ITEM_TYPES:
                raise Invalid(f"{where}.item_type must be one of {', '.join(ITEM_TYPES)}, "
                              f"got {item.get('item_type')!r}")
            check_text(item.get("code"), f"{where}.code")
            if "amount" in item:
                _decimal(item["amount"], f"{where}.amount")
            for block in ("unit_price", "total_price"):
                if block in item:
                    _check_price(item[block], f"{where}.{block}")
    if "statuses" in order:
        _check_statuses(order["statuses"])


def check_item_sums(order: dict) -> None:
    """A stricter rule the document does not state (`items_must_add_up`): the items' totals (with VAT) add up
    to the order's price, else "Price mismatch: items 79.34 ≠ price 79.37"."""
    price = order.get("price")
    items = order.get("items")
    if not isinstance(price, dict) or "with_vat" not in price or not isinstance(items, list) or not items:
        return
    lines = [item["total_price"]["with_vat"] for item in items
             if isinstance(item, dict) and isinstance(item.get("total_price"), dict)
             and "with_vat" in item["total_price"]]
    total = sum((_decimal(value, "items[].total_price.with_vat") for value in lines), Decimal(0))
    if total != _decimal(price["with_vat"], "price.with_vat"):
        raise Invalid(f"Price mismatch: items {total} ≠ price {price['with_vat']}")


def merge(stored: dict, changes: dict) -> dict:
    """A partial update: objects merged key by key, anything else replaced."""
    merged = dict(stored)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
