"""Reading Storeden payloads: both cart.items shapes, order dates, strict money."""

from decimal import Decimal
from pathlib import Path

import pytest

from feedsvc import jsonutil
from feedsvc.storeden.payload import CartLine, PayloadError, cart_items, money, order_timestamp, parse_iso, text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "storeden"
SEED_SEC = 1449745468  # orderDate.sec of the document's order sample


def load(name):
    return jsonutil.loads((FIXTURES / name).read_text(encoding="utf-8"))


# -- cart.items ---------------------------------------------------------------

def test_object_form_splits_the_key_into_uid_and_options():
    lines = cart_items(load("seed_order.json")["cart"])
    assert lines == [CartLine(uid="105251", options="xl_red", title="Product with size XL and color RED",
                              sku="", count=Decimal(1), price=Decimal(110))]
    assert all(isinstance(v, Decimal) for v in (lines[0].count, lines[0].price))


def test_array_form_takes_the_uid_from_product_uid():
    legacy = cart_items(load("seed_order_legacy.json")["cart"])
    assert legacy == cart_items(load("seed_order.json")["cart"])


def test_key_without_options_and_options_only_in_the_key():
    cart = {"items": {"777": {"count": 2, "price": Decimal("9.95"), "title": "Socks", "sku": ""},
                      "888#|#blue": {"count": 1, "price": 5, "title": "Cap", "sku": "CAP"}}}
    socks, cap = cart_items(cart)
    assert (socks.uid, socks.options, socks.count, socks.price) == ("777", "", Decimal(2), Decimal("9.95"))
    assert (cap.uid, cap.options, cap.sku) == ("888", "blue", "CAP")


def test_item_options_win_over_the_key_and_are_trimmed():
    cart = {"items": {"1#|#xl_red": {"count": 1, "price": 1, "options": " XL / red "}}}
    assert cart_items(cart)[0].options == "XL / red"


def test_numeric_strings_are_accepted_as_money():
    cart = {"items": [{"product_uid": 5, "count": "3", "price": " 12.50 ", "title": "T", "sku": "S"}]}
    line = cart_items(cart)[0]
    assert (line.uid, line.count, line.price) == ("5", Decimal(3), Decimal("12.50"))


def test_empty_carts_in_both_shapes_give_no_lines():
    assert cart_items({"items": {}}) == [] and cart_items({"items": []}) == []


@pytest.mark.parametrize("cart, message", [
    (None, "cart is missing or not an object"),
    ([], "cart is missing or not an object"),
    ({}, "cart.items is missing"),
    ({"items": "105251"}, "cart.items is neither an object nor a list: '105251'"),
    ({"items": [1]}, "cart.items[0] is not an object: 1"),
    ({"items": {"a": {"count": 1, "price": 1}, "b": {"count": 1, "price": 1},
                "c": {"count": 1, "price": "abc"}}}, "cart.items[2].price is not a number: 'abc'"),
    ({"items": [{"price": 1}]}, "cart.items[0].count is missing"),
    ({"items": [{"count": 1, "price": True}]}, "cart.items[0].price is not a number: True"),
])
def test_unusable_carts_name_the_field(cart, message):
    with pytest.raises(PayloadError) as caught:
        cart_items(cart)
    assert str(caught.value) == message


# -- money --------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (0, Decimal(0)), (110, Decimal(110)), (-3, Decimal(-3)),
    (Decimal("117.5"), Decimal("117.5")), (Decimal("0.00"), Decimal("0.00")),
    ("12.50", Decimal("12.50")), (" -7 ", Decimal(-7)), ("1e2", Decimal(100)), (".5", Decimal("0.5")),
    (Decimal("0.1") + Decimal("0.2"), Decimal("0.3")),
])
def test_money_accepts_ints_decimals_and_numeric_strings(value, expected):
    result = money(value, "cart.total")
    assert result == expected and isinstance(result, Decimal)


@pytest.mark.parametrize("value, message", [
    (True, "is not a number: True"),
    (False, "is not a number: False"),
    (0.1, "is a binary float"),
    ([1, 2], "is not a number: a list"),
    ({"amount": 1}, "is not a number: a dict"),
    ("abc", "is not a number: 'abc'"),
    ("1,50", "is not a number: '1,50'"),
    ("NaN", "is not a number: 'NaN'"),
    ("Infinity", "is not a number: 'Infinity'"),
    ("\u0661\u0662", "is not a number"),  # Arabic-Indic digits: Decimal() would take them, we don't
    ("0x10", "is not a number"),
    (Decimal("NaN"), "is not a finite number"),
    (Decimal("-Infinity"), "is not a finite number"),
    (10**13, "is out of range"),
    ("1e400", "is out of range"),
    ("1e99999", "is not a number"),
])
def test_money_refuses_everything_else_naming_the_field(value, message):
    with pytest.raises(PayloadError) as caught:
        money(value, "cart.items[0].price")
    assert str(caught.value).startswith("cart.items[0].price ")
    assert message in str(caught.value)


def test_money_missing_is_an_error_only_when_required():
    for missing in (None, "", "   "):
        with pytest.raises(PayloadError, match=r"^cart\.total is missing$"):
            money(missing, "cart.total")
        assert money(missing, "cart.shippingAmount", required=False) == 0


def test_error_messages_stay_short_for_huge_values():
    with pytest.raises(PayloadError) as caught:
        money("x" * 100_000, "total")
    assert len(str(caught.value)) < 80


# -- dates --------------------------------------------------------------------

def test_order_date_seconds_win():
    assert order_timestamp(load("seed_order.json")) == SEED_SEC


def test_iso_strings_with_either_offset_form_are_the_same_instant():
    assert parse_iso("2015-12-17T18:19:54+0100") == parse_iso("2015-12-17T18:19:54+01:00") \
        == parse_iso("2015-12-17T17:19:54Z")


def test_list_entries_carry_the_date_as_an_iso_string():
    entry = {"orderID": "132_5672eebab5aa6", "total": Decimal("45.25"),
             "orderDate": "2015-12-17T18:19:54+0100", "status": 3}
    assert order_timestamp(entry) == parse_iso("2015-12-17T17:19:54+00:00")


def test_iso_order_date_is_the_last_resort_and_the_document_disagrees_with_itself():
    order = load("seed_order.json")
    del order["orderDate"]
    # The sample's iso.orderDate, 10:04:28+0100 = 09:04:28 UTC, is two hours before its
    # orderDate.sec, 11:04:28 UTC (12:04:28+0100, as list.json shows the same order).
    assert order_timestamp(order) == SEED_SEC - 7200


@pytest.mark.parametrize("order_date", [
    {"sec": True}, {"sec": -5}, {"sec": 10**12}, {"sec": "soon"}, {}, None, "yesterday", "2015-12-10T10:04:28",
])
def test_unusable_order_date_seconds_fall_back_to_the_iso_date(order_date):
    order = {"orderDate": order_date, "iso": {"orderDate": "2015-12-10T12:04:28+0100"}}
    assert order_timestamp(order) == SEED_SEC


def test_seconds_as_digit_string_or_integral_decimal_are_read():
    assert order_timestamp({"orderDate": {"sec": str(SEED_SEC)}}) == SEED_SEC
    assert order_timestamp({"orderDate": {"sec": Decimal(SEED_SEC)}}) == SEED_SEC


@pytest.mark.parametrize("order", [
    {}, {"orderDate": "2015-12-10T10:04:28"}, {"orderDate": {"sec": None}, "iso": "x"},
    {"iso": {"orderDate": "not a date"}}, {"orderDate": "9999-12-31T23:59:59+0100"},
])
def test_no_usable_date_raises_payload_error(order):
    with pytest.raises(PayloadError, match="orderDate is missing or not a date"):
        order_timestamp(order)


def test_naive_iso_times_are_refused():
    with pytest.raises(PayloadError, match="without a UTC offset"):
        parse_iso("2015-12-10T10:04:28")


def test_non_object_order_is_a_payload_error():
    with pytest.raises(PayloadError):
        order_timestamp(["not", "an", "order"])


# -- text ---------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (None, ""), (True, ""), ({"a": 1}, ""), ([1], ""), (105251, "105251"), ("x", "x"),
    (Decimal("1E+3"), "1000"), (Decimal("12.50"), "12.50"), (Decimal("NaN"), ""),
])
def test_text_fields(value, expected):
    assert text(value) == expected
