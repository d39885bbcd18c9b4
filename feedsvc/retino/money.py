"""Money for the feed: the VAT split of one unit, line totals, and the feed's number formats.

Storeden prices include VAT. The unit's net is rounded once, half-up (ties
away from zero, so -10.00 splits into exactly the negatives of +10.00), and
VAT is always the difference. So WITH_VAT = WITHOUT_VAT + VAT in every block
(C1), a line is the unit times AMOUNT in all three amounts (C2), and order
totals are plain sums of lines (C3) - all exact, in Decimal, never float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from feedsvc.retino.model import Price

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def to_cents(value: Decimal) -> Decimal:
    """`value` rounded half-up to two decimals."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def lands_on_cent(value: Decimal) -> bool:
    """True when `value` has no digits beyond the cent."""
    return value == value.quantize(CENT, rounding=ROUND_HALF_UP)


def split_gross(gross: Decimal, rate: Decimal) -> Price:
    """One unit's VAT-inclusive price as a price block at `rate` percent.

    The gross is taken to the cent first (Storeden prices have two decimals;
    a stray third one is rounded half-up), the net is rounded once, and VAT is
    gross minus net.
    """
    gross = to_cents(Decimal(gross))
    rate = Decimal(rate)
    net = to_cents(gross / (1 + rate / HUNDRED)) if rate else gross
    return Price(with_vat=gross, without_vat=net, vat=gross - net, vat_rate=rate)


def line_total(unit: Price, amount: Decimal) -> Price:
    """The block for `amount` units: each of the three amounts is the unit's times `amount`.

    Exact in Decimal; when `amount` has a fraction the product may fall
    between cents, which `lands_on_cent` lets the caller refuse.
    """
    return Price(with_vat=unit.with_vat * amount, without_vat=unit.without_vat * amount,
                 vat=unit.vat * amount, vat_rate=unit.vat_rate)


def negate(price: Price) -> Price:
    """The same block with the opposite sign (discount lines); the rate stays positive."""
    return Price(with_vat=-price.with_vat, without_vat=-price.without_vat, vat=-price.vat,
                 vat_rate=price.vat_rate)


def format_money(value: Decimal) -> str:
    """`-?digits.dd`: exactly two decimals, no exponent, never `-0.00`."""
    q = to_cents(Decimal(value))
    if q == 0:
        q = abs(q)
    return format(q, "f")


def _plain(value: Decimal) -> str:
    """A number without trailing zeros and without an exponent: 1.500 → 1.5, 2E+1 → 20."""
    if value == 0:
        return "0"
    if value == value.to_integral_value():
        return format(value.quantize(Decimal(1)), "f")
    return format(value.normalize(), "f")


def format_amount(value: Decimal) -> str:
    """An AMOUNT: whole numbers without decimals (`3`), others with their digits (`1.5`, `0.125`)."""
    return _plain(Decimal(value))


def format_rate(value: Decimal) -> str:
    """A VAT_RATE percentage without `%` and without trailing zeros: `22`, `5.5`, `0`."""
    return _plain(Decimal(value))
