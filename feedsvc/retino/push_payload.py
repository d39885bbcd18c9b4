"""One Retino `Order` as the Orders API's JSON (specs/retino-orders-api.md §4-§5): one mapping, two outputs.

`order_json` reads the same `model.Order` that render.py writes as <ORDER>, and
formats money, amounts and rates with the same functions (money.py), so an
order's feed XML and its pushed JSON cannot disagree. Also here, each in one
place: the Storeden → Retino status table, the status history built from what
sync observed, pickup-in-store detection, and the hash that says whether an
order changed since Retino last confirmed it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from feedsvc.retino import money
from feedsvc.retino.model import Address, Item, Order, Price
from feedsvc.storeden.vocabulary import status_or_none

# -- statuses (§5) ---------------------------------------------------------------------

PROCESSING_STATUSES = ("NEW", "PICKING", "PACKED", "DISPATCHED", "ON_HOLD", "READY_FOR_PICKUP", "PICKED_UP")
PAYMENT_STATUSES = ("AWAITING_PAYMENT", "PAID", "PARTIALLY_REFUNDED", "REFUNDED", "PAYMENT_FAILED")
RETINO_STATUSES = PROCESSING_STATUSES + PAYMENT_STATUSES

_DELIVERED = ("PAID", "DISPATCHED")
_PICKED_UP = ("PAID", "READY_FOR_PICKUP", "PICKED_UP")
# Storeden status → the Retino statuses an order first seen at it carries, oldest first:
# (shipped to an address, picked up in store). None: not pushed (excluded from the feed too).
STATUS_TABLE: dict[int, tuple[tuple[str, ...], tuple[str, ...]] | None] = {
    0: (("NEW", "AWAITING_PAYMENT"), ("NEW", "AWAITING_PAYMENT")),  # Pending Payment
    1: (("PAID",), ("PAID",)),                                      # Order Paid
    2: (("PAID", "PICKING"), ("PAID", "PICKING")),                  # Preparation
    3: (_DELIVERED, ("PAID", "READY_FOR_PICKUP")),                  # Sent
    4: (_DELIVERED, _PICKED_UP),                                    # Delivered: Retino tracks delivery itself
    5: (_DELIVERED, _PICKED_UP),                                    # Closed
    8: (_DELIVERED, _PICKED_UP),                                    # AfterSale
    6: None,                                                        # Archived/Deleted
    7: None,                                                        # Aborted
}
NOT_PUSHED = frozenset(status for status, paths in STATUS_TABLE.items() if paths is None)


def is_pushed(storeden_status: Any) -> bool:
    """False for the statuses never sent to Retino (6 Archived/Deleted, 7 Aborted)."""
    return status_or_none(storeden_status) not in NOT_PUSHED


def retino_statuses(storeden_status: Any, *, pickup: bool) -> tuple[str, ...]:
    """The Retino statuses an order at this Storeden status carries, its implied path included.

    Empty for 6/7 (not pushed) and for a status the table does not know.
    """
    status = status_or_none(storeden_status)
    paths = STATUS_TABLE.get(status) if status is not None else None
    if paths is None:
        return ()
    return paths[1] if pickup else paths[0]


class RetinoStatus(NamedTuple):
    name: str
    at: datetime  # aware, UTC


def _utc(value: datetime | float | int) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone")
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), tz=UTC)


def status_history(observed: Iterable[tuple[Any, float]], *, pickup: bool,
                   order_ts: float | datetime | None = None) -> tuple[RetinoStatus, ...]:
    """Retino's `statuses` from what sync observed: (Storeden status, first seen, UTC epoch), oldest first.

    Each observed status adds the statuses of its path (STATUS_TABLE) not yet
    in the history, dated when it was first seen; one that moves an order
    back (3 → 2) re-adds the status it moves back to, so the last status of
    each kind is always the current one. The first status is dated at the
    order's date when that is earlier. Dates never go backwards. 6/7 add
    nothing.
    """
    history: list[RetinoStatus] = []
    names: set[str] = set()
    for storeden_status, seen in observed:
        path = retino_statuses(storeden_status, pickup=pickup)
        if not path:
            continue
        at = _utc(seen)
        if not history and order_ts is not None:
            at = min(at, _utc(order_ts))
        if history and at < history[-1].at:
            at = history[-1].at
        for name in path:
            if name not in names:
                history.append(RetinoStatus(name, at))
                names.add(name)
        for kind in (PROCESSING_STATUSES, PAYMENT_STATUSES):
            wanted = [name for name in path if name in kind]
            current = [entry.name for entry in history if entry.name in kind]
            if wanted and current[-1] != wanted[-1]:
                history.append(RetinoStatus(wanted[-1], at))
    return tuple(history)


# -- pickup in store ----------------------------------------------------------------------

# Collecting in the shop itself; a parcel-shop or locker ("Ritiro presso punto BRT") is a delivery, not this.
DEFAULT_PICKUP_PHRASES = ("ritiro in negozio", "ritiro in sede", "ritiro in store", "pickup in store",
                          "pick up in store", "in-store pickup", "store pickup", "click and collect",
                          "click & collect", "retrait en magasin", "abholung im laden", "abholung im geschäft",
                          "selbstabholung", "recogida en tienda", "osobní odběr", "osobný odber")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _fold(value: str) -> str:
    """Lower case, accents dropped, anything but letters and digits as one space."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", plain).strip()


def is_pickup(order: Order, phrases: Iterable[str] = DEFAULT_PICKUP_PHRASES) -> bool:
    """True when a shipping item's name contains one of `phrases` as whole words (case and accents ignored)."""
    folded = [f" {_fold(p)} " for p in phrases if _fold(p)]
    for item in order.items:
        if item.type == "shipping":
            name = f" {_fold(item.name)} "
            if any(phrase in name for phrase in folded):
                return True
    return False


# -- dates ----------------------------------------------------------------------------------

def _zone(timezone: tzinfo | str) -> tzinfo:
    return ZoneInfo(timezone) if isinstance(timezone, str) else timezone


def order_utc(order: Order, timezone: tzinfo | str) -> datetime:
    """The order's DATE (shop-local wall time) as an aware UTC datetime.

    A wall time that happens twice (the autumn DST fold) is taken as the first
    of the two; one that never happens (the spring gap) is read with the
    offset in force before the jump, i.e. as if the clock had not moved yet.
    Mapping writes DATE from a UTC instant, so neither case arises from
    Storeden's data except the fold, which DATE itself cannot tell apart.
    """
    try:
        local = datetime.strptime(order.date, "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        raise ValueError(f"order {order.code}: DATE {order.date!r} is not YYYY-MM-DD HH:MM:SS") from None
    return local.replace(tzinfo=_zone(timezone), fold=0).astimezone(UTC)


def utc_text(value: datetime | float | int) -> str:
    """ISO 8601 in UTC with Z, whole seconds: 2026-11-25T12:35:03Z."""
    return _utc(value).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


# -- the JSON ---------------------------------------------------------------------------------

def price_json(price: Price | Any, *, with_rate: bool = True) -> dict[str, str]:
    """A price block: all three values (and the rate) when they add up exactly, else `with_vat` alone."""
    with_vat, without_vat, vat = (money.format_money(v) for v in (price.with_vat, price.without_vat, price.vat))
    if Decimal(with_vat) != Decimal(without_vat) + Decimal(vat):
        return {"with_vat": with_vat}
    block = {"with_vat": with_vat, "without_vat": without_vat, "vat": vat}
    rate = getattr(price, "vat_rate", None)
    if with_rate and rate is not None:
        block["vat_rate"] = money.format_rate(rate)
    return block


def _texts(**fields: str | None) -> dict[str, str]:
    """The fields whose text is not empty."""
    return {key: value for key, value in fields.items() if value}


def _address_json(address: Address) -> dict[str, str]:
    return _texts(name=address.name, company=address.company, street=address.street,
                  house_number=address.housenumber, city=address.city, postal_code=address.zip,
                  country=address.country)


def _item_json(item: Item) -> dict[str, Any]:
    return {**_texts(name=item.name, code=item.code), "amount": money.format_amount(item.amount),
            "item_type": item.type.upper(), "unit_price": price_json(item.unit_price),
            "total_price": price_json(item.total_price)}


def order_json(order: Order, *, store_id: str, timezone: tzinfo | str,
               statuses: Sequence[RetinoStatus | tuple[str, datetime | float]] = ()) -> dict[str, Any]:
    """The Orders API JSON of one order (§4): what POST /orders and /orders/bulk send.

    `timezone` is the shop's zone DATE is written in; `statuses` the history
    from `status_history`. Money is exact 2-decimal strings; empty optional
    texts are left out.
    """
    if not store_id or not str(store_id).strip():
        raise ValueError("store_id is empty")
    payload: dict[str, Any] = {
        "code": order.code,
        "store_id": str(store_id).strip(),
        "order_date": utc_text(order_utc(order, timezone)),
        "currency": order.currency,
    }
    if order.language:
        payload["language"] = order.language.lower()
    payload["price"] = price_json(order.total, with_rate=False)
    customer = _texts(email=order.email, phone=order.phone)
    if customer:
        payload["customer"] = customer
    for key, address in (("billing_address", order.billing), ("shipping_address", order.shipping)):
        block = _address_json(address)
        if block:
            payload[key] = block
    payload["items"] = [_item_json(item) for item in order.items]
    if statuses:
        payload["statuses"] = [{"name": name, "date": utc_text(at)} for name, at in statuses]
    return payload


def canonical_json(payload: Any) -> bytes:
    """The payload as canonical JSON: sorted keys, no spaces, UTF-8; Decimals as their digits."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_canonical_default).encode("utf-8")


def _canonical_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} has no JSON form")


def payload_hash(payload: Any) -> str:
    """SHA-256 of the canonical JSON: equal for equal payloads, whatever their key order."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()

