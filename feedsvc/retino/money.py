"""Money arithmetic for the feed: VAT split once per unit, line = unit × amount, fixed formats.

Storeden prices include VAT. The unit net is rounded once, half-up, and VAT is
always the difference, so WITH_VAT = WITHOUT_VAT + VAT holds in every block,
TOTAL = UNIT × AMOUNT holds per line, and order totals are plain sums.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from feedsvc.retino.model import Price

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def split_gross(gross: Decimal, rate: Decimal) -> Price:
    """One unit's VAT-inclusive price as a price block at `rate` percent."""
    gross = to_cents(gross)
    net = to_cents(gross / (1 + rate / HUNDRED))
    return Price(with_vat=gross, without_vat=net, vat=gross - net, vat_rate=rate)


def line_total(unit: Price, amount: Decimal) -> Price:
    """The block for `amount` units; exact because amounts with fractions are checked upstream."""
    return Price(with_vat=unit.with_vat * amount, without_vat=unit.without_vat * amount,
                 vat=unit.vat * amount, vat_rate=unit.vat_rate)


def negate(price: Price) -> Price:
    return Price(-price.with_vat, -price.without_vat, -price.vat, price.vat_rate)


def lands_on_cent(value: Decimal) -> bool:
    return value == value.quantize(CENT)


def format_money(value: Decimal) -> str:
    """`-?digits.dd`: two decimals, no exponent, never `-0.00`."""
    q = to_cents(value)
    if q == 0:
        q = abs(q)
    return format(q, "f")


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def format_amount(value: Decimal) -> str:
    """Whole amounts without decimals (`3`), others with their digits (`1.5`)."""
    if value == value.to_integral_value():
        return str(int(value))
    return _plain(value)


def format_rate(value: Decimal) -> str:
    """A VAT percentage without trailing zeros: `22`, `5.5`, `0`."""
    if value == value.to_integral_value():
        return str(int(value))
    return _plain(value)
