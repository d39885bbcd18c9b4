"""Storeden's statuses: every shape a status arrives in is read the same way, in one place."""

from decimal import Decimal

import pytest

from feedsvc.config import ConfigError, defaults, load_settings
from feedsvc.storeden import shop, vocabulary
from feedsvc.storeden.vocabulary import NotAStatus, order_status, parse_status, status_or_none


@pytest.mark.parametrize("value, expected", [
    (0, 0), (3, 3), (8, 8), ("3", 3), (" 3 ", 3), ("03", 3), ("\t6\n", 6), ("0", 0), ("008", 8),
    (None, None), ("", None), ("   ", None),
])
def test_statuses_and_numeric_strings_are_statuses(value, expected):
    assert parse_status(value) == expected


@pytest.mark.parametrize("value", [
    3.0, Decimal("3.0"), Decimal("3"), "3.0", "3,0", "+3", "-1", -1, 9, 42, "42", 10**30, "9" * 40, True, False,
    "true", "Sent", "three", "٣", "³", "0x3", "3 4", [3], {"code": 3}, b"3", float("nan"),
])
def test_anything_else_is_not_a_status(value):
    with pytest.raises(NotAStatus) as caught:
        parse_status(value)
    assert "status" in str(caught.value) and len(str(caught.value)) < 120
    assert status_or_none(value) is None


def test_the_details_status_wins_and_the_list_entry_fills_in():
    assert order_status({"status": 6}, {"status": 3}) == 6
    assert order_status({"status": "6"}, {"status": 3}) == 6
    assert order_status({}, {"status": " 3 "}) == 3
    assert order_status({"status": None}, {"status": 2}) == 2
    assert order_status(None, {"status": 4}) == 4


@pytest.mark.parametrize("details, summary, reason", [
    ({"status": "3.0"}, {"status": 3}, "status in order.json '3.0' is not a Storeden status"),
    ({"status": 42}, None, "status in order.json 42 is not a Storeden status"),
    ({"status": Decimal("3.0")}, None, "Decimal('3.0') is not a Storeden status (a whole number 0-8)"),
    ({"status": True}, None, "True is not a Storeden status"),
    ({}, {"status": "x"}, "status in the order list 'x' is not"),
    ({}, {}, "status is missing"),
    ({"status": None}, {"status": ""}, "status is missing"),
    (None, None, "status is missing"),
])
def test_an_order_without_a_usable_status_gets_a_reason(details, summary, reason):
    with pytest.raises(NotAStatus) as caught:
        order_status(details, summary)
    assert reason in str(caught.value)


def test_the_simulator_and_the_defaults_speak_the_same_vocabulary():
    assert shop.STATUSES == {"opened": {"0": "Pending Payment", "1": "Order Paid"},
                             "processing": {"2": "Preparation", "3": "Sent", "4": "Delivered"},
                             "closed": {"5": "Closed", "6": "Archived/Deleted", "7": "Aborted"},
                             "aftersale": {"8": "AfterSale"}}
    assert set(shop.SHIPPED) == vocabulary.SHIPPED_STATUSES == {3, 4, 5, 8}
    assert {6, 7} == vocabulary.DEFAULT_EXCLUDED_STATUSES


@pytest.mark.parametrize("raw, expected", [
    ("6,7", {6, 7}), (" 6 , 7 ", {6, 7}), ("06,7,", {6, 7}), ("0", {0}), ("", set()), ("0,6,7", {0, 6, 7}),
])
def test_excluded_statuses_setting(tmp_path, raw, expected):
    settings = load_settings({"FEEDSVC_DATA_DIR": str(tmp_path), "FEEDSVC_EXCLUDE_STATUSES": raw})
    assert settings.exclude_statuses == expected


@pytest.mark.parametrize("raw", ["6;7", "six", "6.0", "42", "-1", "6,x"])
def test_excluded_statuses_setting_refuses_what_is_not_a_status(tmp_path, raw):
    with pytest.raises(ConfigError) as caught:
        load_settings({"FEEDSVC_DATA_DIR": str(tmp_path), "FEEDSVC_EXCLUDE_STATUSES": raw})
    assert caught.value.variable == "FEEDSVC_EXCLUDE_STATUSES"


# -- the rate format and X-Storeden-Limit ------------------------------------------------

@pytest.mark.parametrize("text, expected", [("5/60", (5, 60.0)), (" 20 / 1 ", (20, 1.0)), ("60/0.5", (60, 0.5))])
def test_a_rate_is_requests_per_seconds(text, expected):
    assert vocabulary.parse_rate(text) == expected
    assert vocabulary.parse_rate(str(vocabulary.parse_rate(text))) == expected


@pytest.mark.parametrize("text", ["", "5", "5/", "/60", "5/0", "0/60", "-5/60", "5/inf", "5/1e3", "five/60",
                                  "5/60/1", "5 per 60"])
def test_what_is_not_a_rate_is_refused_with_the_format(text):
    with pytest.raises(ValueError, match=r"REQUESTS/SECONDS|positive"):
        vocabulary.parse_rate(text)


def test_the_simulator_and_the_client_default_to_storedens_rate():
    assert str(vocabulary.STOREDEN_RATE) == "5/60"
    assert (defaults().rate_requests, defaults().rate_seconds) == vocabulary.STOREDEN_RATE


@pytest.mark.parametrize("header, expected", [("3/5", (3, 5)), (" 0 / 5 ", (0, 5)), ("5/5", (5, 5)),
                                              (None, None), ("", None), ("6/5", None), ("-1/5", None),
                                              ("1/0", None), ("x/5", None), ("3", None)])
def test_the_limit_header(header, expected):
    assert vocabulary.parse_limit_header(header) == expected
    if expected is not None:
        assert vocabulary.parse_limit_header(vocabulary.limit_header(*expected)) == expected
