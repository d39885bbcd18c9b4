"""The Retino order as plain frozen dataclasses: what mapping produces and render writes.

Money is Decimal, already rounded to the cent; text is already cleaned. The
field order follows the element order of specs/retino-feed.md §3.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ITEM_TYPES = ("product", "shipping", "billing", "discount")
COD_ITEM_NAME = "Cash on Delivery"


@dataclass(frozen=True)
class Price:
    """A price block: WITH_VAT = WITHOUT_VAT + VAT, exactly."""

    with_vat: Decimal
    without_vat: Decimal
    vat: Decimal
    vat_rate: Decimal


@dataclass(frozen=True)
class Item:
    type: str
    name: str
    amount: Decimal
    code: str
    unit_price: Price
    total_price: Price
    variant_name: str | None = None


@dataclass(frozen=True)
class Address:
    name: str
    company: str
    street: str
    housenumber: str
    city: str
    zip: str
    country: str
    company_id: str = ""
    vat_id: str = ""


@dataclass(frozen=True)
class OrderTotal:
    with_vat: Decimal
    without_vat: Decimal
    vat: Decimal
    rounding: Decimal | None = None


@dataclass(frozen=True)
class Order:
    order_id: str
    code: str
    date: str  # "YYYY-MM-DD HH:MM:SS", shop-local
    currency: str
    package_numbers: tuple[str, ...]
    language: str | None
    email: str
    phone: str | None
    billing: Address
    shipping: Address
    total: OrderTotal
    items: tuple[Item, ...]
    order_url: str | None = None

    @property
    def is_cod(self) -> bool:
        return any(i.type == "billing" and i.name == COD_ITEM_NAME for i in self.items)
