"""Money: the VAT split rounds once (half-up) at the unit net, lines multiply, formats are fixed."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.retino.model import Price
from feedsvc.retino.money import (
    format_amount,
    format_money,
    format_rate,
    lands_on_cent,
    line_total,
    negate,
    split_gross,
)

D = Decimal
RATES = [D(0), D(4), D("5.5"), D(10), D(19), D(21), D(22), D(25), D(100)]


@pytest.mark.parametrize("gross, rate, net, vat", [
    # specs/retino-feed.md §7
    ("129.90", 22, "106.48", "23.42"), ("7.50", 22, "6.15", "1.35"), ("89.00", 22, "72.95", "16.05"),
    ("12.50", 22, "10.25", "2.25"), ("10.00", 22, "8.20", "1.80"), ("0.00", 22, "0.00", "0.00"),
    # Retino's own example (seed 002): 1499.00 at 21 %
    ("1499.00", 21, "1238.84", "260.16"),
    # ...whose 50.00 at 21 % Retino writes as 41.33 + 8.67; 50 / 1.21 = 41.3223 rounds to 41.32
    ("50.00", 21, "41.32", "8.68"),
    ("0.01", 22, "0.01", "0.00"), ("33.33", 22, "27.32", "6.01"), ("99.99", 22, "81.96", "18.03"),
    ("19.99", "5.5", "18.95", "1.04"), ("100", 0, "100.00", "0.00"),
])
def test_split_gross_known_values(gross, rate, net, vat):
    price = split_gross(D(gross), D(rate))
    assert price == Price(with_vat=D(gross).quantize(D("0.01")), without_vat=D(net), vat=D(vat), vat_rate=D(rate))


def test_ties_round_half_up_away_from_zero():
    # At 100 % the net is exactly half the gross, so odd cents are ties.
    assert split_gross(D("0.01"), D(100)).without_vat == D("0.01")  # ROUND_HALF_EVEN would give 0.00
    assert split_gross(D("0.05"), D(100)).without_vat == D("0.03")
    assert split_gross(D("-0.01"), D(100)).without_vat == D("-0.01")


def test_a_gross_with_a_third_decimal_is_taken_to_the_cent_first():
    assert split_gross(D("12.345"), D(22)).with_vat == D("12.35")
    assert split_gross(D("0.30000000000000004"), D(22)) == split_gross(D("0.30"), D(22))


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(min_value=-10**9, max_value=10**9), rate=st.sampled_from(RATES))
def test_split_gross_c1_exact_and_net_within_half_a_cent(cents, rate):
    gross = D(cents) / 100
    price = split_gross(gross, rate)
    assert price.with_vat == gross
    assert price.with_vat == price.without_vat + price.vat  # C1
    assert lands_on_cent(price.without_vat) and lands_on_cent(price.vat)
    assert abs(price.without_vat - gross / (1 + rate / 100)) <= D("0.005")
    assert split_gross(-gross, rate) == negate(price)  # symmetric: discounts mirror charges


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(min_value=0, max_value=10**8), amount=st.integers(min_value=1, max_value=10**4),
       rate=st.sampled_from(RATES))
def test_line_total_is_unit_times_amount_in_every_amount(cents, amount, rate):
    unit = split_gross(D(cents) / 100, rate)
    line = line_total(unit, D(amount))
    for name in ("with_vat", "without_vat", "vat"):
        assert getattr(line, name) == getattr(unit, name) * amount  # C2
    assert line.with_vat == line.without_vat + line.vat  # C1 still holds
    assert line.vat_rate == unit.vat_rate


def test_line_total_99_99_times_3():
    line = line_total(split_gross(D("99.99"), D(22)), D(3))
    assert (line.with_vat, line.without_vat, line.vat) == (D("299.97"), D("245.88"), D("54.09"))


def test_negate_keeps_the_rate_positive():
    assert negate(split_gross(D("10.00"), D(22))) == Price(D("-10.00"), D("-8.20"), D("-1.80"), D(22))


@pytest.mark.parametrize("value, expected", [
    (D("1280.17"), "1280.17"), (D("-10"), "-10.00"), (D("7.5"), "7.50"), (D(0), "0.00"),
    (D("-0"), "0.00"), (D("-0.00"), "0.00"), (D("-0.004"), "0.00"), (D("-0.005"), "-0.01"),
    (D("1.005"), "1.01"), (D("-1.005"), "-1.01"), (D("1E+1"), "10.00"), (D("1E-9"), "0.00"),
    (D("123456789012.3"), "123456789012.30"), (110, "110.00"),
])
def test_format_money(value, expected):
    assert format_money(value) == expected


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=-10**12, max_value=10**12, allow_nan=False, allow_infinity=False))
def test_format_money_always_matches_the_feed_pattern(value):
    text = format_money(value)
    assert text != "-0.00" and "E" not in text and "e" not in text
    whole, _, cents = text.lstrip("-").partition(".")
    assert whole.isdigit() and len(cents) == 2 and cents.isdigit()
    assert D(text) == value.quantize(D("0.01"), rounding="ROUND_HALF_UP")


@pytest.mark.parametrize("value, expected", [
    (D(3), "3"), (D("3.000"), "3"), (D("1.5"), "1.5"), (D("1.500"), "1.5"), (D("0.125"), "0.125"),
    (D("2E+1"), "20"), (1, "1"),
])
def test_format_amount(value, expected):
    assert format_amount(value) == expected


@pytest.mark.parametrize("value, expected", [
    (D(22), "22"), (D("22.00"), "22"), (D("5.5"), "5.5"), (D("5.50"), "5.5"), (D(0), "0"), (D("-0"), "0"),
    (D("0.0"), "0"), (D("1E+2"), "100"), (D("7.25"), "7.25"),
])
def test_format_rate(value, expected):
    assert format_rate(value) == expected


def test_lands_on_cent():
    assert lands_on_cent(D("1.50")) and lands_on_cent(D(3)) and lands_on_cent(D("-0.01"))
    assert not lands_on_cent(D("0.015")) and not lands_on_cent(D("1.001"))
