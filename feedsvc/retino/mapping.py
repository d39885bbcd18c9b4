"""Storeden order → Retino order (specs/retino-feed.md §3–§6, specs/storeden-api.md §8).

`map_order` returns a MappingResult (an Order whose money adds up to the cent,
plus warnings worth showing the operator) or raises MappingError with a
one-line reason naming the field; the build pipeline quarantines such orders
and publishes the rest. Nothing but MappingError escapes, whatever the payload.

Choices the documents leave open (specs/retino-feed.md §9):
- CODE is `short_id` (from the list/filter summary or the order), else `orderID`.
- Prices are VAT-inclusive at one configured rate; the unit net is rounded once
  (money.split_gross), lines are unit × AMOUNT, totals are sums of lines.
- A product AMOUNT may have up to 3 decimals, but its line must land on whole
  cents in all three amounts; otherwise the order is refused (MappingError),
  since Retino's C2 (TOTAL = UNIT × AMOUNT) could not hold exactly.
- Item order: products, the discount, shipping, billing (as in §7's example).
- A missing or empty billing address is taken from the delivery address and
  vice versa; the e-mail comes from billing, else delivery.
- A discount larger than the goods (`cart.saleAmount` above the products' sum)
  is capped so the order's total equals Storeden's, never below zero, with a
  warning naming the coupon: the order still reaches Retino for returns.
- A tracking string gives one PACKAGE_NUMBER per number: it is split at
  whitespace and at `, ; | / + &` and long dashes. A piece without a digit is
  no number: a lone `-` or `/`, a word (`and`, `n/a`, `BRT:`); a URL is no
  number either. The same number twice, in any case, is one parcel.

Every warning has a kind (WARNING_KINDS), so the operator sees them grouped.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

import pycountry

from feedsvc.retino import money as m
from feedsvc.retino import order_url
from feedsvc.retino.codes import is_currency
from feedsvc.retino.context import MappingContext
from feedsvc.retino.model import COD_ITEM_NAME, Address, Item, Order, OrderTotal
from feedsvc.retino.text import MAX_TEXT, clean
from feedsvc.storeden.payload import PayloadError, cart_items, money, order_timestamp, show, text

ROUNDING_TOLERANCE = Decimal("0.05")
MAX_AMOUNT = Decimal(1_000_000)
AMOUNT_STEP = Decimal("0.001")
ONE = Decimal(1)

_PACKAGE_SPLIT = re.compile(r"[\s,;|/+&\u2013\u2014\u2015\u2212]+")
_URL = re.compile(r"https?://\S+")
_PHONE_CHARS = re.compile(r"[0-9+/().\s-]+")
_NON_DIGITS = re.compile(r"[^0-9]")
_LOCALE_SPLIT = re.compile(r"[_\-.@]")

# The kinds of mapping warning, as stored with each order's findings (rule `MAP:<kind>`), with what they mean.
WARNING_KINDS = {
    "country": "country not recognised; the default country used",
    "address": "billing address missing; the delivery address used",
    "decimals": "money with more than 2 decimals; rounded",
    "title": "product title blank or over 255 characters",
    "total": "Storeden's total differs from the lines or is unreadable",
    "currency": "currency not an ISO 4217 code; the default used",
    "order-url": "ORDER_URL left out",
    "discount": "discount larger than the goods; capped",
}
WARNING_RULE_PREFIX = "MAP:"


class MappingError(ValueError):
    """The order cannot become a valid <ORDER>; the message says why, naming the field."""


class MappingWarning(NamedTuple):
    kind: str  # a key of WARNING_KINDS
    message: str

    @property
    def rule(self) -> str:
        return WARNING_RULE_PREFIX + self.kind


class _Warnings(list):
    """The warnings of one order being mapped."""

    def add(self, kind: str, message: str) -> None:
        assert kind in WARNING_KINDS, kind
        self.append(MappingWarning(kind, message))


@dataclass(frozen=True)
class MappingResult:
    order: Order
    notes: tuple[MappingWarning, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warnings' messages."""
        return tuple(note.message for note in self.notes)


# -- pieces -------------------------------------------------------------------

def _section(raw: dict, name: str) -> dict:
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


_ADDRESS_TEXT = ("fullname", "addr1", "addr2", "city", "zip")


def _has_address(source: dict) -> bool:
    return any(clean(text(source.get(key))) for key in _ADDRESS_TEXT)


def _required(value: object, where: str) -> str:
    cleaned = clean(text(value))
    if not cleaned:
        raise MappingError(f"{where} is missing or blank")
    return cleaned


def phone_number(value: object) -> str | None:
    """`+<cc><number>` from Storeden's `+39/3471234567` (or `0039 347 …`); digits only without a prefix.

    None when nothing usable is left: letters (`+1/xxxxxxxxxxx`), fewer than 6 or more than 15 digits.
    """
    raw = clean(text(value))
    if not raw or not _PHONE_CHARS.fullmatch(raw):
        return None
    digits = _NON_DIGITS.sub("", raw)
    international = raw.startswith("+")
    if not international and raw.startswith("00"):
        international, digits = True, digits[2:]
    if not 6 <= len(digits) <= 15:
        return None
    return "+" + digits if international else digits


def _address(source: dict, where: str, context: MappingContext, warnings: _Warnings, *,
             billing: bool) -> Address:
    name = _required(source.get("fullname"), f"{where}.fullname")
    lines = (clean(text(source.get("addr1"))), clean(text(source.get("addr2"))))
    street = clean(" ".join(part for part in lines if part), references=False)
    if not street:
        raise MappingError(f"{where}.addr1 is missing or blank")
    city = _required(source.get("city"), f"{where}.city")
    postcode = _required(source.get("zip"), f"{where}.zip")
    country, warning = context.countries.resolve(source.get("country"))
    if warning:
        warnings.add("country", f"{where}: {warning}")
    return Address(name=name, company="", street=street, housenumber="", city=city, zip=postcode,
                   country=country, company_id="", vat_id=clean(text(source.get("vat"))) if billing else "")


def _item(type_: str, name: str, code: str, gross: Decimal, rate: Decimal, *, amount: Decimal = ONE,
          variant: str | None = None, negative: bool = False) -> Item:
    unit = m.split_gross(gross, rate)
    if negative:
        unit = m.negate(unit)
    return Item(type=type_, name=name, amount=amount, code=code, unit_price=unit,
                total_price=m.line_total(unit, amount), variant_name=variant)


def _cents_warning(value: Decimal, where: str, warnings: _Warnings) -> None:
    if not m.lands_on_cent(value):
        warnings.add("decimals", f"{where} {format(value, 'f')} has more than 2 decimals; "
                        f"rounded to {m.format_money(value)}")


def _products(cart: dict, context: MappingContext, warnings: _Warnings) -> list[Item]:
    lines = cart_items(cart)
    if not lines:
        raise MappingError("cart.items is empty: an order needs at least one product")
    items = []
    for index, line in enumerate(lines):
        where = f"cart.items[{index}]"
        count = line.count
        if count <= 0:
            raise MappingError(f"{where}.count must be above 0, got {format(count, 'f')}")
        if count > MAX_AMOUNT:
            raise MappingError(f"{where}.count is implausibly large: {format(count, 'f')}")
        if count != count.quantize(AMOUNT_STEP):
            raise MappingError(f"{where}.count has more than 3 decimals: {format(count, 'f')}")
        if line.price < 0:
            raise MappingError(f"{where}.price is negative: {format(line.price, 'f')}")
        _cents_warning(line.price, f"{where}.price", warnings)
        code = clean(line.sku)
        if not code and clean(line.uid):
            code = clean(f"{line.uid}-{line.options}" if line.options else line.uid)
        if not code:
            raise MappingError(f"{where} has neither a sku nor a product uid")
        name = clean(line.title)
        if not name:
            name = code if clean(line.sku) else clean(f"Product {code}", references=False)
            warnings.add("title", f"{where}.title is blank; the line is named {name!r}")
        elif len(name) == MAX_TEXT and len(clean(line.title, max_len=0)) > MAX_TEXT:
            warnings.add("title", f"{where}.title is longer than {MAX_TEXT} characters; cut")
        item = _item("product", name, code, line.price, context.vat_rate, amount=count,
                     variant=clean(line.options) or None)
        line_block = item.total_price
        if not all(m.lands_on_cent(v) for v in (line_block.with_vat, line_block.without_vat, line_block.vat)):
            raise MappingError(
                f"{where}: {format(count, 'f')} × {m.format_money(item.unit_price.with_vat)} "
                f"(net {m.format_money(item.unit_price.without_vat)}) does not come to whole cents")
        items.append(item)
    return items


def _fee(cart: dict, key: str, warnings: _Warnings) -> Decimal:
    fee = money(cart.get(key), f"cart.{key}", required=False)
    if fee < 0:
        raise MappingError(f"cart.{key} is negative: {format(fee, 'f')}")
    _cents_warning(fee, f"cart.{key}", warnings)
    return fee


def _shipping_item(raw: dict, cart: dict, context: MappingContext, warnings: _Warnings) -> Item:
    name = clean(text(cart.get("shippingProfile"))) or clean(text(raw.get("method"))) or "Shipping"
    return _item("shipping", name, "shipping", _fee(cart, "shippingAmount", warnings), context.vat_rate)


def _billing_item(raw: dict, cart: dict, context: MappingContext, warnings: _Warnings) -> Item:
    code = clean(text(raw.get("payment"))) or clean(text(cart.get("paymentProfile")))
    fee = _fee(cart, "paymentAmount", warnings)
    if context.is_cod(code):
        name = COD_ITEM_NAME
    else:
        name = context.checkout_labels.get(code) or code or "Payment"
    item_code = clean(f"payment-{code}", references=False) if code else "payment"
    return _item("billing", name, item_code, fee, context.vat_rate)


def _coupon(cart: dict) -> str:
    """The coupon code(s) of the cart, cleaned; several (a list) joined with ", "."""
    given = cart.get("couponCode")
    parts = given if isinstance(given, list) else [given]
    return ", ".join(code for code in (clean(text(part)) for part in parts) if code)


def _sale_amount(cart: dict, warnings: _Warnings) -> Decimal:
    """cart.saleAmount as a positive amount to take off, to the cent (its sign is undocumented)."""
    amount = abs(money(cart.get("saleAmount"), "cart.saleAmount", required=False))
    _cents_warning(amount, "cart.saleAmount", warnings)
    return m.to_cents(amount)


def _shop_total(raw: dict, cart: dict) -> Decimal | None:
    """Storeden's order total to the cent, or None when it is missing or unreadable."""
    value = _first_given(raw.get("total"), cart.get("total"))
    if value is None:
        return None
    try:
        return m.to_cents(money(value, "total"))
    except PayloadError:
        return None


def _capped_discount(discount: Decimal, items: list[Item], shop_total: Decimal | None, coupon: str,
                     warnings: _Warnings) -> Decimal:
    """The discount to publish: all of it, unless it is larger than the goods.

    Then it takes off just enough for the order's total to equal Storeden's
    (or, without a usable shop total, everything: total 0.00), never more than
    it says and never below zero, and the order gets a warning naming the coupon.
    """
    goods = sum((i.total_price.with_vat for i in items if i.type == "product"), Decimal(0))
    if discount <= goods:
        return discount
    lines = sum((i.total_price.with_vat for i in items), Decimal(0))  # goods, shipping and fees
    if shop_total is not None and 0 <= shop_total <= lines and lines - shop_total <= discount:
        capped, target = lines - shop_total, f"Storeden's total {m.format_money(shop_total)}"
    else:
        capped, target = min(discount, lines), "a total of " + m.format_money(lines - min(discount, lines))
    what = f"coupon {coupon}" if coupon else "the discount (cart.saleAmount)"
    if capped != discount:
        warnings.add("discount", f"{what} of {m.format_money(discount)} is more than the goods "
                                 f"({m.format_money(goods)}); capped to {m.format_money(capped)} "
                                 f"to match {target}")
    return capped


def _discount_item(cart: dict, raw: dict, items: list[Item], context: MappingContext,
                   warnings: _Warnings) -> Item | None:
    amount = _sale_amount(cart, warnings)
    if amount == 0:
        return None
    coupon = _coupon(cart)[:MAX_TEXT - len("discount-")].rstrip()
    amount = _capped_discount(amount, items, _shop_total(raw, cart), coupon, warnings)
    if amount == 0:
        return None
    name = f"Coupon {coupon}" if coupon else "Discount"
    code = f"discount-{coupon}" if coupon else "discount"
    return _item("discount", name, code, amount, context.vat_rate, negative=True)


def package_numbers(tracking: object) -> tuple[str, ...]:
    """One number per parcel from tracking.json's `tracking` (see the module docstring for the splitting).

    Also takes a list of tracking objects, should Storeden answer with one per
    shipment, and a list of numbers in `tracking`. The first spelling of a
    number is kept; the same number in another case is the same parcel.
    """
    sources = tracking if isinstance(tracking, list) else [tracking]
    numbers: dict[str, str] = {}  # folded number -> first spelling, in order
    for source in sources:
        if not isinstance(source, dict):
            continue
        value = source.get("tracking")
        for one in value if isinstance(value, list) else [value]:
            for part in _PACKAGE_SPLIT.split(_URL.sub(" ", clean(text(one), max_len=0))):
                number = clean(part, references=False)
                if any(char.isdigit() for char in number):
                    numbers.setdefault(number.casefold(), number)
    return tuple(numbers.values())


def _currency(raw: dict, context: MappingContext, warnings: _Warnings) -> str:
    given = clean(text(raw.get("currency")))
    if not given:
        return context.currency
    code = given.upper()
    if is_currency(code):
        return code
    warnings.add("currency", f"currency {show(given)} is not an ISO 4217 code; used {context.currency}")
    return context.currency


def language(locale: object) -> str | None:
    """`IT` from `it_IT` / `it-IT` / `it`, when it is an ISO 639-1 code; else None."""
    value = clean(text(locale))
    if not value:
        return None
    code = _LOCALE_SPLIT.split(value, maxsplit=1)[0].lower()
    if len(code) == 2 and code.isascii() and code.isalpha() and pycountry.languages.get(alpha_2=code):
        return code.upper()
    return None


def _first_given(*values: object) -> object:
    for value in values:
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _totals(items: list[Item], raw: dict, cart: dict, warnings: _Warnings) -> OrderTotal:
    with_vat = sum((i.total_price.with_vat for i in items), Decimal(0))
    without_vat = sum((i.total_price.without_vat for i in items), Decimal(0))
    vat = sum((i.total_price.vat for i in items), Decimal(0))
    rounding = None
    shop_value = _first_given(raw.get("total"), cart.get("total"))
    if shop_value is not None:
        try:
            shop_total = m.to_cents(money(shop_value, "total"))
        except PayloadError as exc:
            warnings.add("total", f"{exc}; the order total was not compared with the lines")
        else:
            gap = shop_total - with_vat
            if gap and abs(gap) <= ROUNDING_TOLERANCE and with_vat + gap >= 0:
                rounding = gap
            elif gap:
                warnings.add("total", f"Storeden total {m.format_money(shop_total)} differs from the sum of lines "
                                f"{m.format_money(with_vat)}")
    return OrderTotal(with_vat=with_vat + (rounding or 0), without_vat=without_vat, vat=vat, rounding=rounding)


def _order_url(context: MappingContext, order_id: str, code: str, warnings: _Warnings) -> str | None:
    if not context.order_url:
        return None
    url = order_url.fill(context.order_url, order_id=order_id, code=code)
    if url is None:
        warnings.add("order-url", "ORDER_URL left out: the pattern does not give a usable URL for this order")
    return url


# -- the mapping -------------------------------------------------------------

def map_order(raw: object, *, tracking: object = None, summary: object = None,
              context: MappingContext) -> MappingResult:
    """Map one Storeden order (order.json or legacy_order.json) to a Retino order.

    `tracking` is the tracking.json answer (or None); `summary` the order's
    list.json / orders_filter.json entry (`short_id`, `locale`). Raises
    MappingError, and only MappingError, when the order cannot be published.
    """
    try:
        with decimal.localcontext() as arithmetic:
            # Exact sums and products whatever the caller's context; division rounds at 60 digits.
            arithmetic.prec = 60
            arithmetic.rounding = decimal.ROUND_HALF_EVEN
            arithmetic.traps[decimal.InvalidOperation] = True
            return _map(raw, tracking, summary, context)
    except MappingError:
        raise
    except PayloadError as exc:
        raise MappingError(str(exc)) from None
    except Exception as exc:  # the contract: one bad order never stops the feed
        detail = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise MappingError(f"unexpected {type(exc).__name__} while mapping: {detail}") from None


def _identity(raw: dict, summary: dict) -> tuple[str, str]:
    order_id = clean(text(raw.get("orderID")), max_len=0)
    if not order_id:
        raise MappingError("orderID is missing or blank")
    if len(order_id) > MAX_TEXT:
        raise MappingError(f"orderID is longer than {MAX_TEXT} characters ({len(order_id)})")
    short_id = _first_given(summary.get("short_id"), raw.get("short_id"))
    code = clean(text(short_id), max_len=0) if short_id is not None else ""
    if len(code) > MAX_TEXT:
        raise MappingError(f"short_id is longer than {MAX_TEXT} characters ({len(code)})")
    return order_id, code or order_id


def _map(raw: object, tracking: object, summary: object, context: MappingContext) -> MappingResult:
    if not isinstance(raw, dict):
        raise MappingError("the order payload is not a JSON object")
    summary = summary if isinstance(summary, dict) else {}
    warnings = _Warnings()
    order_id, code = _identity(raw, summary)
    created = datetime.fromtimestamp(order_timestamp(raw), tz=UTC).astimezone(context.timezone)

    billing_src, delivery_src = _section(raw, "billing"), _section(raw, "delivery")
    has_billing, has_delivery = _has_address(billing_src), _has_address(delivery_src)
    if not has_billing and not has_delivery:
        raise MappingError("billing address is missing")
    email = clean(text(billing_src.get("email"))) or clean(text(delivery_src.get("email")))
    if not email:
        raise MappingError("billing.email is missing or blank")
    if has_billing:
        billing = _address(billing_src, "billing", context, warnings, billing=True)
    else:
        billing = _address(delivery_src, "delivery", context, warnings, billing=True)
        warnings.add("address", "billing address is missing; the delivery address is used for it")
    if has_billing and has_delivery:
        shipping = _address(delivery_src, "delivery", context, warnings, billing=False)
    else:
        shipping = Address(name=billing.name, company=billing.company, street=billing.street,
                           housenumber=billing.housenumber, city=billing.city, zip=billing.zip,
                           country=billing.country)

    cart = raw.get("cart")
    if not isinstance(cart, dict):
        raise MappingError("cart is missing or not an object")
    products = _products(cart, context, warnings)
    charges = [_shipping_item(raw, cart, context, warnings), _billing_item(raw, cart, context, warnings)]
    discount = _discount_item(cart, raw, products + charges, context, warnings)
    items = products + ([discount] if discount is not None else []) + charges

    total = _totals(items, raw, cart, warnings)

    order = Order(
        order_id=order_id,
        code=code,
        date=created.strftime("%Y-%m-%d %H:%M:%S"),
        currency=_currency(raw, context, warnings),
        package_numbers=package_numbers(tracking),
        language=language(_first_given(summary.get("locale"), raw.get("locale"))),
        email=email,
        phone=phone_number(billing_src.get("phone")) or phone_number(delivery_src.get("phone")),
        billing=billing,
        shipping=shipping,
        total=total,
        items=tuple(items),
        order_url=_order_url(context, order_id, code, warnings),
    )
    return MappingResult(order=order, notes=tuple(warnings))
