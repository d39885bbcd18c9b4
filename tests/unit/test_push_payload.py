"""The pushed JSON of one order (spec §4), the status table and history (§5), pickup detection and the
payload hash: the spec's example, the Storeden fixtures mapped as the feed maps them, DST edges."""

import copy
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc import jsonutil
from feedsvc.build import mapping_context_from
from feedsvc.config import defaults
from feedsvc.retino.context import checkout_labels
from feedsvc.retino.mapping import map_order
from feedsvc.retino.model import COD_ITEM_NAME, Address, Item, Order, OrderTotal, Price
from feedsvc.retino.push_payload import (
    NOT_PUSHED,
    PAYMENT_STATUSES,
    PROCESSING_STATUSES,
    RetinoStatus,
    is_pickup,
    is_pushed,
    order_json,
    order_utc,
    payload_hash,
    price_json,
    retino_statuses,
    status_history,
    utc_text,
)

DEFAULT_CONTEXT = mapping_context_from(defaults())

D = Decimal
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ROME = ZoneInfo("Europe/Rome")
MONEY = re.compile(r"-?\d+\.\d\d")


def load(name):
    return jsonutil.loads((FIXTURES / "storeden" / name).read_text(encoding="utf-8"))


LABELS = checkout_labels(load("checkout_methods.json"))
SPEC = load("spec_example_orders.json")


def spec_order(index):
    entry = copy.deepcopy(SPEC[index])
    return map_order(entry["order"], tracking=entry["tracking"], summary=entry["summary"],
                     context=replace(DEFAULT_CONTEXT, checkout_labels=LABELS)).order


def at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def price(with_vat, without_vat, vat, rate="22"):
    return Price(D(with_vat), D(without_vat), D(vat), D(rate))


def item(type_, name, code, block, amount="1"):
    return Item(type=type_, name=name, amount=D(amount), code=code, unit_price=block, total_price=block)


# -- the spec's example (§4) --------------------------------------------------------------------

SPEC_ORDER = Order(
    order_id="132_6935b0c7a1f2e", code="10040", date="2026-11-25 13:35:03", currency="EUR", package_numbers=(),
    language="IT", email="luca@example.com", phone="+393004966831",
    billing=Address("Luca Ferri", "Ferri Utensili S.r.l.", "Via Emilia", "12", "Modena", "41121", "IT",
                    vat_id="IT01234567890"),
    shipping=Address("Luca Ferri", "", "Via Emilia", "12", "Modena", "41121", "IT"),
    total=OrderTotal(D("79.37"), D("65.08"), D("14.29")),
    items=(item("product", "Bits & holder set", "BIT-SET-10", price("12.50", "10.25", "2.25")),
           item("product", "Cordless drill 18 V", "DRL-18V", price("54.87", "44.99", "9.88")),
           item("shipping", "GLS", "shipping", price("8.00", "6.56", "1.44")),
           item("billing", COD_ITEM_NAME, "", price("4.00", "3.28", "0.72"))),
)
SPEC_STATUSES = (RetinoStatus("PAID", at("2026-11-25T12:40:00Z")),
                 RetinoStatus("DISPATCHED", at("2026-11-26T09:00:00Z")))


def full(with_vat, without_vat, vat):
    return {"with_vat": with_vat, "without_vat": without_vat, "vat": vat, "vat_rate": "22"}


def test_the_spec_example():
    assert order_json(SPEC_ORDER, store_id="main-shop", timezone=ROME, statuses=SPEC_STATUSES) == {
        "code": "10040",
        "store_id": "main-shop",
        "order_date": "2026-11-25T12:35:03Z",
        "currency": "EUR",
        "language": "it",
        "price": {"with_vat": "79.37", "without_vat": "65.08", "vat": "14.29"},
        "customer": {"email": "luca@example.com", "phone": "+393004966831"},
        "billing_address": {"name": "Luca Ferri", "company": "Ferri Utensili S.r.l.", "street": "Via Emilia",
                            "house_number": "12", "city": "Modena", "postal_code": "41121", "country": "IT"},
        "shipping_address": {"name": "Luca Ferri", "street": "Via Emilia", "house_number": "12", "city": "Modena",
                             "postal_code": "41121", "country": "IT"},
        "items": [
            {"name": "Bits & holder set", "code": "BIT-SET-10", "amount": "1", "item_type": "PRODUCT",
             "unit_price": full("12.50", "10.25", "2.25"), "total_price": full("12.50", "10.25", "2.25")},
            {"name": "Cordless drill 18 V", "code": "DRL-18V", "amount": "1", "item_type": "PRODUCT",
             "unit_price": full("54.87", "44.99", "9.88"), "total_price": full("54.87", "44.99", "9.88")},
            {"name": "GLS", "code": "shipping", "amount": "1", "item_type": "SHIPPING",
             "unit_price": full("8.00", "6.56", "1.44"), "total_price": full("8.00", "6.56", "1.44")},
            {"name": "Cash on Delivery", "amount": "1", "item_type": "BILLING",
             "unit_price": full("4.00", "3.28", "0.72"), "total_price": full("4.00", "3.28", "0.72")},
        ],
        "statuses": [{"name": "PAID", "date": "2026-11-25T12:40:00Z"},
                     {"name": "DISPATCHED", "date": "2026-11-26T09:00:00Z"}],
    }


def test_timezone_may_be_a_name_and_statuses_may_be_left_out():
    payload = order_json(SPEC_ORDER, store_id=" main-shop ", timezone="Europe/Rome")
    assert payload["order_date"] == "2026-11-25T12:35:03Z" and payload["store_id"] == "main-shop"
    assert "statuses" not in payload
    with pytest.raises(ValueError, match="store_id"):
        order_json(SPEC_ORDER, store_id=" ", timezone=ROME)


# -- orders mapped from the Storeden fixtures, as the feed maps them ---------------------------------

def test_spec_example_order_10482():
    payload = order_json(spec_order(0), store_id="main-shop", timezone=ROME)
    assert (payload["code"], payload["order_date"], payload["currency"], payload["language"]) == \
        ("10482", "2025-06-10T07:41:07Z", "EUR", "it")  # 09:41:07 in Rome, summer time
    assert payload["customer"] == {"email": "giulia.rossi@example.com", "phone": "+393471234567"}
    assert payload["price"] == {"with_vat": "137.40", "without_vat": "112.63", "vat": "24.77"}
    assert [(i["item_type"], i["name"], i["code"]) for i in payload["items"]] == [
        ("PRODUCT", "Trail shoe Dolomiti GTX", "TR-DOL-42"), ("SHIPPING", "BRT Corriere Espresso", "shipping"),
        ("BILLING", "Credit Card (Stripe)", "payment-stripe")]
    assert payload["items"][2]["total_price"] == full("0.00", "0.00", "0.00")
    assert payload["billing_address"] == {"name": "Giulia Rossi", "street": "Via Giuseppe Mazzini 14",
                                          "city": "Bologna", "postal_code": "40121", "country": "IT"}


def test_spec_example_order_10483_cod_coupon_and_three_units():
    payload = order_json(spec_order(1), store_id="main-shop", timezone=ROME)
    assert "phone" not in payload["customer"]
    bits, coupon, cod = payload["items"][1], payload["items"][2], payload["items"][4]
    assert (bits["amount"], bits["unit_price"]["with_vat"], bits["total_price"]) == \
        ("3", "12.50", full("37.50", "30.75", "6.75"))
    assert (coupon["item_type"], coupon["total_price"]) == ("DISCOUNT", full("-10.00", "-8.20", "-1.80"))
    assert (cod["name"], cod["item_type"], cod["code"], cod["total_price"]) == \
        ("Cash on Delivery", "BILLING", "payment-mark", full("10.00", "8.20", "1.80"))
    assert payload["shipping_address"]["street"] == "Corso Francia 120"


def test_seed_order_without_language_or_phone_in_winter_time():
    raw, tracking = load("seed_order.json"), load("tracking.json")
    payload = order_json(map_order(raw, tracking=tracking, context=DEFAULT_CONTEXT).order,
                         store_id="main-shop", timezone=ROME)
    assert payload["order_date"] == "2015-12-10T11:04:28Z"  # DATE 12:04:28 in Rome, UTC+1
    assert "language" not in payload and payload["customer"] == {"email": "no-reply@storeden.com"}
    assert payload["items"][0]["amount"] == "1" and payload["items"][0]["code"] == "105251-xl_red"


def test_every_money_value_has_exactly_two_decimals_and_no_text_is_empty():
    for order in (spec_order(0), spec_order(1), SPEC_ORDER):
        payload = order_json(order, store_id="s", timezone=ROME)

        def walk(value, key=""):
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, k)
            elif isinstance(value, list):
                for v in value:
                    walk(v, key)
            else:
                assert isinstance(value, str) and value != "", (key, value)
                if key in ("with_vat", "without_vat", "vat"):
                    assert MONEY.fullmatch(value), (key, value)
        walk(payload)


# -- the price rule ----------------------------------------------------------------------------------

def test_three_values_only_when_they_add_up_exactly():
    assert price_json(price("12.50", "10.25", "2.25")) == full("12.50", "10.25", "2.25")
    assert price_json(price("12.50", "10.25", "2.26")) == {"with_vat": "12.50"}
    assert price_json(price("-0.00", "0", "0.000")) == full("0.00", "0.00", "0.00")


def test_an_order_total_with_rounding_sends_with_vat_alone():
    order = Order(**{**SPEC_ORDER.__dict__, "total": OrderTotal(D("79.40"), D("65.08"), D("14.29"), D("0.03"))})
    assert order_json(order, store_id="s", timezone=ROME)["price"] == {"with_vat": "79.40"}


def test_an_item_whose_three_values_disagree_sends_with_vat_alone():
    odd = item("product", "Odd", "ODD", price("10.00", "8.00", "1.00"))
    order = Order(**{**SPEC_ORDER.__dict__, "items": (odd,)})
    sent = order_json(order, store_id="s", timezone=ROME)["items"][0]
    assert sent["unit_price"] == sent["total_price"] == {"with_vat": "10.00"}


# -- dates ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("local, utc", [
    ("2025-06-10 09:41:07", "2025-06-10T07:41:07Z"),   # summer, UTC+2
    ("2025-01-10 09:41:07", "2025-01-10T08:41:07Z"),   # winter, UTC+1
    ("2025-10-26 01:59:59", "2025-10-25T23:59:59Z"),   # just before the fold
    ("2025-10-26 02:30:00", "2025-10-26T00:30:00Z"),   # happens twice: the first (summer time) is taken
    ("2025-10-26 03:00:00", "2025-10-26T02:00:00Z"),
    ("2025-03-30 02:30:00", "2025-03-30T01:30:00Z"),   # never happens: read with the offset before the jump
    ("2025-03-30 03:00:00", "2025-03-30T01:00:00Z"),
])
def test_local_date_to_utc_across_dst(local, utc):
    order = Order(**{**SPEC_ORDER.__dict__, "date": local})
    assert utc_text(order_utc(order, ROME)) == utc
    assert order_json(order, store_id="s", timezone="Europe/Rome")["order_date"] == utc


def test_other_zones_and_a_broken_date():
    order = Order(**{**SPEC_ORDER.__dict__, "date": "2026-07-01 08:00:00"})
    assert utc_text(order_utc(order, "America/New_York")) == "2026-07-01T12:00:00Z"
    assert utc_text(order_utc(order, UTC)) == "2026-07-01T08:00:00Z"
    with pytest.raises(ValueError, match="order 10040: DATE '2026-07-01T08:00'"):
        order_utc(Order(**{**SPEC_ORDER.__dict__, "date": "2026-07-01T08:00"}), ROME)


def test_utc_text_takes_epochs_and_aware_datetimes_only():
    assert utc_text(1_764_074_103.9) == "2025-11-25T12:35:03Z"
    assert utc_text(datetime(2025, 11, 25, 13, 35, 3, tzinfo=ROME)) == "2025-11-25T12:35:03Z"
    with pytest.raises(ValueError):
        utc_text(datetime(2025, 11, 25, 13, 35, 3))


# -- the status table (§5) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("storeden, shipped, pickup", [
    (0, ("NEW", "AWAITING_PAYMENT"), ("NEW", "AWAITING_PAYMENT")),
    (1, ("PAID",), ("PAID",)),
    (2, ("PAID", "PICKING"), ("PAID", "PICKING")),
    (3, ("PAID", "DISPATCHED"), ("PAID", "READY_FOR_PICKUP")),
    (4, ("PAID", "DISPATCHED"), ("PAID", "READY_FOR_PICKUP", "PICKED_UP")),
    (5, ("PAID", "DISPATCHED"), ("PAID", "READY_FOR_PICKUP", "PICKED_UP")),
    (8, ("PAID", "DISPATCHED"), ("PAID", "READY_FOR_PICKUP", "PICKED_UP")),
    (6, (), ()), (7, (), ()), (9, (), ()), ("3", ("PAID", "DISPATCHED"), ("PAID", "READY_FOR_PICKUP")),
    (None, (), ()), ("x", (), ()),
])
def test_status_table(storeden, shipped, pickup):
    assert retino_statuses(storeden, pickup=False) == shipped
    assert retino_statuses(storeden, pickup=True) == pickup


def test_archived_and_aborted_are_not_pushed():
    assert {6, 7} == NOT_PUSHED
    assert [s for s in range(9) if not is_pushed(s)] == [6, 7] and not is_pushed("7")


def epoch(text):
    return at(text).timestamp()


def names_and_dates(history):
    return [(s.name, utc_text(s.at)) for s in history]


def test_history_of_an_order_followed_from_its_creation():
    observed = [(0, epoch("2025-06-10T07:41:07Z")), (1, epoch("2025-06-10T07:50:00Z")),
                (2, epoch("2025-06-10T12:00:00Z")), (3, epoch("2025-06-11T09:00:00Z")),
                (4, epoch("2025-06-12T15:00:00Z")), (5, epoch("2025-06-20T08:00:00Z"))]
    assert names_and_dates(status_history(observed, pickup=False)) == [
        ("NEW", "2025-06-10T07:41:07Z"), ("AWAITING_PAYMENT", "2025-06-10T07:41:07Z"),
        ("PAID", "2025-06-10T07:50:00Z"), ("PICKING", "2025-06-10T12:00:00Z"),
        ("DISPATCHED", "2025-06-11T09:00:00Z")]


def test_first_seen_delivered_carries_the_implied_path_from_the_order_date():
    history = status_history([(4, epoch("2025-06-12T15:00:00Z"))], pickup=False,
                             order_ts=epoch("2025-06-10T07:41:07Z"))
    assert names_and_dates(history) == [("PAID", "2025-06-10T07:41:07Z"), ("DISPATCHED", "2025-06-10T07:41:07Z")]
    # the order date never moves the first status later than it was seen
    late = status_history([(1, epoch("2025-06-10T07:41:07Z"))], pickup=False, order_ts=epoch("2025-06-11T00:00:00Z"))
    assert names_and_dates(late) == [("PAID", "2025-06-10T07:41:07Z")]


def test_pickup_in_store_history():
    observed = [(1, 100.0), (3, 200.0), (4, 300.0)]
    assert [s.name for s in status_history(observed, pickup=True)] == ["PAID", "READY_FOR_PICKUP", "PICKED_UP"]


def test_a_status_moving_back_makes_the_earlier_status_current_again():
    observed = [(2, 100.0), (3, 200.0), (2, 300.0), (3, 400.0)]
    assert [(s.name, s.at.timestamp()) for s in status_history(observed, pickup=False)] == [
        ("PAID", 100.0), ("PICKING", 100.0), ("DISPATCHED", 200.0), ("PICKING", 300.0), ("DISPATCHED", 400.0)]
    unpaid_again = status_history([(1, 100.0), (0, 200.0)], pickup=False)
    assert [s.name for s in unpaid_again] == ["PAID", "NEW", "AWAITING_PAYMENT"]


def test_history_skips_not_pushed_statuses_and_never_goes_back_in_time():
    observed = [(7, 50.0), (1, 300.0), (6, 350.0), (3, 200.0)]
    history = status_history(observed, pickup=False)
    assert [(s.name, s.at.timestamp()) for s in history] == [("PAID", 300.0), ("DISPATCHED", 300.0)]
    assert status_history([], pickup=False) == () and status_history([(6, 1.0)], pickup=False) == ()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), st.integers(0, 10**9)), max_size=10),
       st.booleans())
def test_history_invariants(observed, pickup):
    history = status_history(observed, pickup=pickup)
    dates = [s.at for s in history]
    assert dates == sorted(dates) and all(d.tzinfo == UTC for d in dates)
    pushed = [status for status, _ in observed if retino_statuses(status, pickup=pickup)]
    if not pushed:
        assert history == ()
        return
    path = retino_statuses(pushed[-1], pickup=pickup)
    for kind in (PROCESSING_STATUSES, PAYMENT_STATUSES):
        wanted = [name for name in path if name in kind]
        if wanted:  # the current status of each kind is the one the latest Storeden status implies
            assert [s.name for s in history if s.name in kind][-1] == wanted[-1]
    for name in path:
        assert name in {s.name for s in history}


# -- pickup in store ---------------------------------------------------------------------------------------

def with_shipping(name):
    return Order(**{**SPEC_ORDER.__dict__, "items": (
        item("product", "Ritiro in negozio gift box", "BOX", price("1.00", "0.82", "0.18")),
        item("shipping", name, "shipping", price("0.00", "0.00", "0.00")))})


@pytest.mark.parametrize("name, expected", [
    ("Ritiro in negozio", True), ("RITIRO IN NEGOZIO (Milano)", True), ("Ritiro  in-negozio", True),
    ("Click & Collect", True), ("Retrait en magasin", True), ("Osobní odběr", True),
    ("Selbstabholung im Geschäft", True), ("Abholung im GESCHAFT", True),
    ("BRT Corriere Espresso", False), ("Ritiro in negozione", False), ("Ritiro presso punto BRT", False),
    ("", False),
])
def test_pickup_detection_with_the_default_phrases(name, expected):
    assert is_pickup(with_shipping(name)) is expected


def test_pickup_detection_with_configured_phrases_looks_at_shipping_lines_only():
    assert is_pickup(with_shipping("Abholung im Laden"), ["abholung im laden"])
    assert not is_pickup(with_shipping("GLS"), ["gift box"])  # a product's name does not count
    assert is_pickup(with_shipping("Záloha – Výdejní místo"), ["VYDEJNI MISTO"])
    assert not is_pickup(with_shipping("Ritiro in negozio"), [])
    assert not is_pickup(with_shipping("Ritiro in negozio"), ["", "  "])


# -- the payload hash ----------------------------------------------------------------------------------------

def test_payload_hash_is_canonical_and_sees_every_change():
    payload = order_json(SPEC_ORDER, store_id="main-shop", timezone=ROME, statuses=SPEC_STATUSES)
    reordered = dict(reversed(list(payload.items())))
    assert payload_hash(payload) == payload_hash(reordered) == payload_hash(jsonutil.loads(jsonutil.dumps(payload)))
    assert re.fullmatch(r"[0-9a-f]{64}", payload_hash(payload))
    moved = order_json(SPEC_ORDER, store_id="main-shop", timezone=ROME,
                       statuses=SPEC_STATUSES + (RetinoStatus("PICKED_UP", at("2026-11-27T10:00:00Z")),))
    other_store = order_json(SPEC_ORDER, store_id="shop-uk", timezone=ROME, statuses=SPEC_STATUSES)
    assert len({payload_hash(p) for p in (payload, moved, other_store)}) == 3
    assert payload_hash({"a": D("1.50")}) == payload_hash({"a": "1.50"})
