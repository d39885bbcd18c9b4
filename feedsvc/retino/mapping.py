"""Storeden order → Retino order (specs/retino-feed.md §3–§6, storeden-api.md §8).

`map_order` either returns an Order whose money adds up to the cent, with any
warnings, or raises MappingError with a one-line reason naming the field; the
build pipeline quarantines such orders. No other exception escapes, whatever
the payload holds.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pycountry

from feedsvc.retino import money as m
from feedsvc.retino.countries import CountryResolver, load_table, parse_country_list
from feedsvc.retino.model import COD_ITEM_NAME, Address, Item, Order, OrderTotal, Price
from feedsvc.retino.text import MAX_TEXT, clean
from feedsvc.storeden.payload import PayloadError, cart_items, money, order_timestamp, text

ROUNDING_TOLERANCE = Decimal("0.05")
_PACKAGE_SPLIT = re.compile(r"[,;\s]+")
_COD_WORDS = ("cash on delivery", "contrassegno", "nachnahme", "dobirka", "contre-remboursement",
              "contre remboursement", "contra reembolso", "pobranie", "utanvet", "rembours")


class MappingError(ValueError):
    """The order cannot become a valid <ORDER>; the message says why."""


@dataclass(frozen=True)
class MappingResult:
    order: Order
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class MappingContext:
    vat_rate: Decimal = Decimal("22")
    currency: str = "EUR"
    cod_methods: frozenset[str] = frozenset({"mark"})
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Rome"))
    order_url: str = ""
    checkout_labels: dict[str, str] = field(default_factory=dict)
    countries: CountryResolver = field(default_factory=CountryResolver)

    @classmethod
    def from_settings(cls, settings, *, checkout_methods=None, countries=None) -> "MappingContext":
        overrides = load_table(settings.country_map_file) if settings.country_map_file else None
        fetched = parse_country_list(countries) if countries else None
        return cls(
            vat_rate=settings.vat_rate,
            currency=settings.currency,
            cod_methods=settings.cod_methods,
            timezone=settings.zone,
            order_url=settings.order_url,
            checkout_labels=checkout_labels(checkout_methods),
            countries=CountryResolver(overrides, fetched, settings.default_country),
        )


def checkout_labels(payload: object) -> dict[str, str]:
    """{method code: label} from a checkoutMethods.json answer."""
    setup = payload.get("payment_setup") if isinstance(payload, dict) else None
    if not isinstance(setup, dict):
        return {}
    return {str(code): clean(entry.get("label")) for code, entry in setup.items()
            if isinstance(entry, dict) and clean(entry.get("label"))}


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def looks_like_cod(label: str) -> bool:
    folded = _fold(label)
    return folded.strip() == "cod" or any(word in folded for word in _COD_WORDS)


# -- pieces -------------------------------------------------------------------

def _section(raw: dict, name: str) -> dict:
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def _required(value: object, where: str, *, max_len: int = MAX_TEXT) -> str:
    cleaned = clean(text(value), max_len=max_len)
    if not cleaned:
        raise MappingError(f"{where} is missing or blank")
    return cleaned


def _phone(billing: dict, delivery: dict) -> str | None:
    """`+<cc><number>` from Storeden's `+39/3471234567`; digits only when no prefix is given."""
    for source in (billing, delivery):
        raw = text(source.get("phone")).strip()
        digits = re.sub(r"[^0-9]", "", raw)
        if len(digits) < 6:
            continue
        if raw.startswith("+"):
            return "+" + digits
        if raw.startswith("00"):
            return "+" + digits[2:]
        return digits
    return None


def _address(source: dict, where: str, context: MappingContext, warnings: list[str], *,
             billing: bool) -> Address:
    street = " ".join(part for part in (clean(text(source.get("addr1"))), clean(text(source.get("addr2"))))
                      if part)
    if not street:
        raise MappingError(f"{where}.addr1 is missing or blank")
    country, warning = context.countries.resolve(source.get("country"))
    if warning:
        warnings.append(f"{where}: {warning}")
    return Address(
        name=_required(source.get("fullname"), f"{where}.fullname"),
        company="",
        street=clean(street),
        housenumber="",
        city=_required(source.get("city"), f"{where}.city"),
        zip=_required(source.get("zip"), f"{where}.zip"),
        country=country,
        company_id="",
        vat_id=clean(text(source.get("vat"))) if billing else "",
    )


def _unit_item(type_: str, name: str, code: str, gross: Decimal, rate: Decimal, *,
               amount: Decimal = Decimal(1), variant: str | None = None, negative: bool = False) -> Item:
    unit = m.split_gross(abs(gross) if negative else gross, rate)
    if negative:
        unit = m.negate(unit)
    return Item(type=type_, name=name, amount=amount, code=code, unit_price=unit,
                total_price=m.line_total(unit, amount), variant_name=variant)


def _products(cart: dict, context: MappingContext) -> list[Item]:
    try:
        lines = cart_items(cart)
    except PayloadError as exc:
        raise MappingError(str(exc)) from None
    if not lines:
        raise MappingError("cart.items is empty: an order needs at least one product")
    items = []
    for index, line in enumerate(lines):
        where = f"cart.items[{index}]"
        if line.count <= 0:
            raise MappingError(f"{where}.count must be above 0, got {line.count}")
        if line.count != line.count.quantize(Decimal("0.001")):
            raise MappingError(f"{where}.count has more than 3 decimals: {line.count}")
        if line.price < 0:
            raise MappingError(f"{where}.price is negative: {line.price}")
        name = clean(line.title) or clean(line.sku) or f"Product {clean(line.uid)}".strip()
        code = clean(line.sku) or clean("-".join(p for p in (line.uid, line.options) if p))
        if not code:
            raise MappingError(f"{where} has neither a sku nor a product uid")
        item = _unit_item("product", name, code, line.price, context.vat_rate,
                          amount=line.count, variant=clean(line.options) or None)
        for block in (item.total_price,):
            if not all(m.lands_on_cent(v) for v in (block.with_vat, block.without_vat, block.vat)):
                raise MappingError(f"{where}: {line.count} × {line.price} does not come to a whole cent")
        items.append(item)
    return items


def _payment_item(raw: dict, cart: dict, context: MappingContext) -> Item:
    code = clean(text(raw.get("payment")) or text(cart.get("paymentProfile")), max_len=200)
    fee = money(cart.get("paymentAmount"), "cart.paymentAmount", required=False)
    if fee < 0:
        raise MappingError(f"cart.paymentAmount is negative: {fee}")
    label = context.checkout_labels.get(code, "")
    is_cod = code in context.cod_methods or looks_like_cod(label) or looks_like_cod(code)
    name = COD_ITEM_NAME if is_cod else (label or code or "Payment")
    return _unit_item("billing", name, f"payment-{code}" if code else "payment", fee, context.vat_rate)


def _shipping_item(raw: dict, cart: dict, context: MappingContext) -> Item:
    name = clean(text(cart.get("shippingProfile"))) or clean(text(raw.get("method"))) or "Shipping"
    fee = money(cart.get("shippingAmount"), "cart.shippingAmount", required=False)
    if fee < 0:
        raise MappingError(f"cart.shippingAmount is negative: {fee}")
    return _unit_item("shipping", name, "shipping", fee, context.vat_rate)


def _discount_item(cart: dict, context: MappingContext) -> Item | None:
    amount = money(cart.get("saleAmount"), "cart.saleAmount", required=False)
    if amount == 0:
        return None
    coupon = clean(text(cart.get("couponCode")), max_len=200)
    name = f"Coupon {coupon}" if coupon else "Discount"
    code = f"discount-{coupon}" if coupon else "discount"
    return _unit_item("discount", name, code, abs(amount), context.vat_rate, negative=True)


def package_numbers(tracking: dict | None) -> tuple[str, ...]:
    """One number per parcel from tracking.json's `tracking` string."""
    if not isinstance(tracking, dict):
        return ()
    numbers: list[str] = []
    for part in _PACKAGE_SPLIT.split(clean(text(tracking.get("tracking")), max_len=0)):
        part = clean(part)
        if part and part not in numbers:
            numbers.append(part)
    return tuple(numbers)


def _currency(raw: dict, context: MappingContext) -> str:
    code = text(raw.get("currency")).strip().upper()
    return code if len(code) == 3 and pycountry.currencies.get(alpha_3=code) else context.currency


def _language(locale: str) -> str | None:
    code = locale.strip()[:2].lower()
    if len(code) == 2 and code.isalpha() and pycountry.languages.get(alpha_2=code):
        return code.upper()
    return None


def _totals(items: list[Item], shop_total: Decimal | None, warnings: list[str]) -> OrderTotal:
    with_vat = sum((i.total_price.with_vat for i in items), Decimal(0))
    without_vat = sum((i.total_price.without_vat for i in items), Decimal(0))
    vat = sum((i.total_price.vat for i in items), Decimal(0))
    rounding = None
    if shop_total is not None:
        gap = m.to_cents(shop_total) - with_vat
        if gap != 0 and abs(gap) <= ROUNDING_TOLERANCE:
            rounding = gap
        elif gap != 0:
            warnings.append(f"Storeden total {m.format_money(shop_total)} differs from the sum of lines "
                            f"{m.format_money(with_vat)}; the lines are published")
    return OrderTotal(with_vat=with_vat + (rounding or 0), without_vat=without_vat, vat=vat,
                      rounding=rounding)


# -- the mapping -------------------------------------------------------------

def map_order(raw: object, *, tracking: dict | None = None, summary: dict | None = None,
              context: MappingContext) -> MappingResult:
    """Map one Storeden order; raises MappingError when it cannot be published."""
    try:
        return _map(raw, tracking, summary, context)
    except MappingError:
        raise
    except PayloadError as exc:
        raise MappingError(str(exc)) from None
    except (ValueError, TypeError, ArithmeticError, AttributeError, KeyError, OverflowError) as exc:
        raise MappingError(f"unreadable order payload ({type(exc).__name__}: {str(exc)[:120]})") from None


def _map(raw, tracking, summary, context: MappingContext) -> MappingResult:
    if not isinstance(raw, dict):
        raise MappingError("the order payload is not a JSON object")
    summary = summary if isinstance(summary, dict) else {}
    warnings: list[str] = []
    order_id = clean(text(raw.get("orderID")), max_len=0)
    if not order_id:
        raise MappingError("orderID is missing or blank")
    if len(order_id) > MAX_TEXT:
        raise MappingError(f"orderID is longer than {MAX_TEXT} characters")
    code = clean(text(summary.get("short_id") or raw.get("short_id")), max_len=0) or order_id
    if len(code) > MAX_TEXT:
        raise MappingError(f"short_id is longer than {MAX_TEXT} characters")
    created = datetime.fromtimestamp(order_timestamp(raw), tz=timezone.utc).astimezone(context.timezone)

    billing_src, delivery_src = _section(raw, "billing"), _section(raw, "delivery")
    if not billing_src and delivery_src:
        billing_src = delivery_src
    if not billing_src:
        raise MappingError("billing address is missing")
    email = clean(text(billing_src.get("email"))) or clean(text(delivery_src.get("email")))
    if not email:
        raise MappingError("billing.email is missing or blank")
    billing = _address(billing_src, "billing", context, warnings, billing=True)
    shipping = _address(delivery_src, "delivery", context, warnings, billing=False) if delivery_src \
        else Address(**{**billing.__dict__, "company_id": "", "vat_id": ""})

    cart = raw.get("cart")
    if not isinstance(cart, dict):
        raise MappingError("cart is missing or not an object")
    items = _products(cart, context)
    discount = _discount_item(cart, context)
    if discount:
        items.append(discount)
    items.append(_shipping_item(raw, cart, context))
    items.append(_payment_item(raw, cart, context))

    shop_total_value = raw.get("total", cart.get("total"))
    shop_total = money(shop_total_value, "total", required=False) if shop_total_value is not None else None
    total = _totals(items, shop_total, warnings)
    if total.with_vat < 0:
        raise MappingError(f"the order total is negative ({m.format_money(total.with_vat)})")

    locale = text(summary.get("locale") or raw.get("locale"))
    order = Order(
        order_id=order_id,
        code=code,
        date=created.strftime("%Y-%m-%d %H:%M:%S"),
        currency=_currency(raw, context),
        package_numbers=package_numbers(tracking),
        language=_language(locale) if locale else None,
        email=email,
        phone=_phone(billing_src, delivery_src),
        billing=billing,
        shipping=shipping,
        total=total,
        items=tuple(items),
        order_url=context.order_url.replace("{order_id}", order_id) if context.order_url else None,
    )
    return MappingResult(order=order, warnings=tuple(warnings))
