"""The check's engine: two passes on two cores find exactly what one pass finds, and the quick path
for items agrees with the exact rules."""

import random
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from feedsvc.retino import engine
from feedsvc.retino.rules import OrderChecker
from feedsvc.retino.schema_pass import load_schemas
from feedsvc.retino.validate import validate_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "retino"
GOOD = (FIXTURES / "two_orders.xml").read_text(encoding="utf-8")
NOW = datetime(2026, 6, 9, 18, 0, 0)
FIRST = GOOD[GOOD.index("<ORDER>"):GOOD.index("</ORDER>") + len("</ORDER>")]
SECOND = GOOD[GOOD.index("<ORDER>", GOOD.index("</ORDER>")):GOOD.rindex("</ORDER>") + len("</ORDER>")]

# Each order of the test feed breaks one thing (or nothing); across orders they collide (D1, D2).
BREAKS = [
    ("", ""),
    ("<VAT>16.05</VAT>", "<VAT>16.06</VAT>"),
    ("<WITH_VAT>89.00</WITH_VAT>", "<WITH_VAT>89.0</WITH_VAT>"),
    ("<COUNTRY>IT</COUNTRY>", "<COUNTRY>UK</COUNTRY>"),
    ("<TYPE>product</TYPE>", "<TYPE>bogus</TYPE>"),
    ("<NAME>Marco Bianchi</NAME>", "<NAME>Marco \u0085 Bianchi</NAME>"),
    ("<AMOUNT>1</AMOUNT>", "<AMOUNT>2</AMOUNT>"),
    ("<NAME>Cash on Delivery</NAME>", "<NAME>Contrassegno</NAME>"),  # an odd position: the first order has it
    ("<LANGUAGE>IT</LANGUAGE>", "<LANGUAGE>IT</LANGUAGE><EXTRA/>"),
    ("<DATE>2026-06-09", "<DATE>2026-02-30"),
]


def feed(orders: int) -> str:
    parts = []
    for number in range(orders):
        template = FIRST if number % 2 else SECOND
        old, new = BREAKS[number % len(BREAKS)]
        order = template.replace(old, new, 1) if old else template
        if number % 7:  # every seventh order keeps its CODE: a D1 with an order of the other pass
            order = order.replace("<CODE>1048", f"<CODE>{number}-1048", 1)
        parts.append(order.replace("<ORDER_ID>132_", f"<ORDER_ID>{number}-", 1))
    return '<?xml version="1.0" encoding="UTF-8"?>\n<ORDERS>\n' + "\n".join(parts) + "\n</ORDERS>\n"


def summary(report):
    return (sorted((f.code, f.severity, f.line, f.order_code, f.path, f.message) for f in report.findings),
            report.orders, report.items, report.errors, report.warnings, report.without_package, report.valid,
            sorted(report.omitted.items()))


@pytest.mark.parametrize("child", ["forked", "spawned"])
@pytest.mark.parametrize("orders", [1, 2, 61])
def test_two_passes_find_what_one_pass_finds(tmp_path, monkeypatch, orders, child):
    # The child pass forks from a process without threads, and starts a new interpreter otherwise.
    monkeypatch.setattr(engine.threading, "active_count", lambda: 1 if child == "forked" else 3)
    path = tmp_path / "feed.xml"
    path.write_text(feed(orders), encoding="utf-8")
    alone = validate_path(path, now=NOW, parallel=False)
    shared = validate_path(path, now=NOW, parallel=True)
    assert summary(shared) == summary(alone)
    if orders > 2:
        assert {f.code for f in alone.findings} >= {"T1", "F1", "G1", "XSD", "X1", "T2", "I3", "DT1", "D1"}


def test_two_passes_on_a_cut_feed_agree_too(tmp_path):
    path = tmp_path / "feed.xml"
    text = feed(30)
    path.write_text(text[:len(text) * 2 // 3], encoding="utf-8")
    alone, shared = validate_path(path, now=NOW, parallel=False), validate_path(path, now=NOW, parallel=True)
    assert summary(shared) == summary(alone) and not shared.valid and not shared.well_formed


def test_a_failed_child_pass_is_done_here_instead(tmp_path, monkeypatch):
    path = tmp_path / "feed.xml"
    path.write_text(feed(25), encoding="utf-8")
    alone = validate_path(path, now=NOW, parallel=False)
    monkeypatch.setattr(engine.ChildPass, "result", lambda self: (self.stop(), None)[1])
    assert summary(validate_path(path, now=NOW, parallel=True)) == summary(alone)


def _random_item(rng) -> str:
    amount = rng.choice(["1", "2", "3", "12", "0", "1.5", "007"])
    rate = rng.choice(["22", "21", "0", "10", " 22 ", "21.5"])
    unit = Decimal(rng.randint(-300, 30000)) / 100
    net = (unit / Decimal("1.22")).quantize(Decimal("0.01"))
    factor = Decimal(amount) if amount.replace(".", "").isdigit() else Decimal(1)
    values = [f"{unit:.2f}", f"{net:.2f}", f"{unit - net:.2f}", rate,
              f"{unit * factor:.2f}", f"{net * factor:.2f}", f"{(unit - net) * factor:.2f}", rate]
    for _ in range(rng.choice([0, 0, 1, 2])):
        values[rng.randrange(8)] = rng.choice(["0.00", "-0.00", "1.5", "2", "10.000", "-0.05", "9" * 40 + ".00",
                                               f"{rng.randint(0, 9999) / 100:.2f}", "7"])
    fields = [f"<TYPE>{rng.choice(['product', 'shipping', 'billing', 'discount'])}</TYPE>",
              f"<NAME>{rng.choice(['Drill', 'Cash on Delivery', 'Contrassegno', 'x' * 300, 'bad' + chr(0x85)])}</NAME>",
              f"<AMOUNT>{amount}</AMOUNT>", "<CODE>SKU</CODE>",
              "<UNIT_PRICE><WITH_VAT>{}</WITH_VAT><WITHOUT_VAT>{}</WITHOUT_VAT><VAT>{}</VAT><VAT_RATE>{}</VAT_RATE>"
              "</UNIT_PRICE>".format(*values[:4]),
              "<TOTAL_PRICE><WITH_VAT>{}</WITH_VAT><WITHOUT_VAT>{}</WITHOUT_VAT><VAT>{}</VAT><VAT_RATE>{}</VAT_RATE>"
              "</TOTAL_PRICE>".format(*values[4:])]
    rng.shuffle(fields)
    return "<ITEM>" + "".join(fields) + "</ITEM>"


def _set_totals(order, rng) -> None:
    """The order's totals: the items' sums (half the time, sometimes with a ROUNDING), or left as they are."""
    if rng.random() < 0.5:
        return
    sums = [Decimal(0)] * 3
    for line in order.iterfind("ORDER_ITEMS/ITEM/TOTAL_PRICE"):
        for position, tag in enumerate(("WITH_VAT", "WITHOUT_VAT", "VAT")):
            try:
                sums[position] += Decimal(line.findtext(tag))
            except Exception:
                return
    total = order.find("TOTAL_PRICE")
    rounding = rng.choice([None, None, Decimal("0.01"), Decimal("-0.02")])
    values = [sums[0] + (rounding or 0), sums[1], sums[2]]
    total.clear()
    for tag, value in zip(("WITH_VAT", "WITHOUT_VAT", "VAT"), values):
        if tag != "VAT" or rng.random() < 0.9:
            etree.SubElement(total, tag).text = f"{value:.2f}" if rng.random() < 0.95 else f"{value}"
    if rounding is not None:
        etree.SubElement(total, "ROUNDING").text = f"{rounding:.2f}"


def _vary_customer(order, rng) -> None:
    """Countries right and wrong, e-mails well and badly shaped, texts too long or damaged."""
    for country in order.iter("COUNTRY"):
        country.text = rng.choice(["IT", "UK", "XX", "DE", "EL"])
    order.find("CUSTOMER/EMAIL").text = rng.choice(["a@b.it", "nope", "x@y"])
    for name in order.iterfind("CUSTOMER/*/NAME"):
        name.text = rng.choice(["Marco", "x" * 300, "bad" + chr(0xFFFD)])


def test_the_quick_path_for_items_agrees_with_the_exact_rules():
    """Schema-valid orders take the quick path (whole-number arithmetic for items and totals, the
    customer's leaves read without checks); anything it does not clear goes to the exact rules. Both
    routes must give the same findings, whatever the prices and texts."""
    rng = random.Random(12)
    per_order = load_schemas()[1]
    quick_orders = 0
    order = etree.fromstring(FIRST)
    agreeing = 0
    for trial in range(600):
        items = order.find("ORDER_ITEMS")
        items.clear()
        for _ in range(rng.randint(1, 4)):
            items.append(etree.fromstring(_random_item(rng)))
        _set_totals(order, rng)
        _vary_customer(order, rng)
        valid = per_order.validate(order)
        quick_orders += valid
        exact, quick = OrderChecker(now=NOW), OrderChecker(now=NOW)
        expected = [f.as_dict() for f in exact.check(order, 1)]
        assert [f.as_dict() for f in quick.check(order, 1, schema_valid=valid)] == expected, trial
        assert quick.items == exact.items
        agreeing += valid and not any(f["code"] in ("T1", "T2", "T3", "T4", "F1") for f in expected)
    assert quick_orders > 150 and agreeing > 10  # both routes, and orders whose sums hold, were exercised


def test_claims_give_every_order_to_exactly_one_pass():
    """Two passes walking the same orders, one running ahead and then the other, share them without gap
    or overlap; what the parent's claims did not take is what a failed child leaves to redo."""
    parent_claims = engine.Claims.create()
    try:
        child_claims = engine.Claims(parent_claims.path)
        rng = random.Random(3)
        owners, at = {}, {"parent": 1, "child": 1}
        claims = {"parent": parent_claims, "child": child_claims}
        while min(at.values()) <= 500:
            side = rng.choice([name for name, index in at.items() if index <= 500])
            for _ in range(rng.randint(1, 30)):
                index = at[side]
                if index > 500:
                    break
                if claims[side].mine(index):
                    assert index not in owners, index
                    owners[index] = side
                at[side] += 1
        assert sorted(owners) == list(range(1, 501))
        assert set(owners.values()) == {"parent", "child"}
        redo = engine.NotTaken(parent_claims)
        assert {i for i in range(1, 501) if redo.mine(i)} == {i for i, side in owners.items() if side == "child"}
        child_claims.close()
    finally:
        parent_claims.remove()
    assert not Path(parent_claims.path).exists()


def test_a_custom_schema_is_used_per_order_too(tmp_path):
    """--schema: an XSD declaring ORDER inside ORDERS (here with an anonymous type) checks each order."""
    bundled = (FIXTURES.parents[2] / "schema" / "retino-feed.xsd").read_text()
    order_type = bundled[bundled.index('<xs:complexType name="Order">'):]
    order_type = order_type[:order_type.index("</xs:complexType>") + len("</xs:complexType>")]
    custom = bundled.replace(order_type, "").replace(
        '<xs:element name="ORDER" type="Order" minOccurs="0" maxOccurs="unbounded"/>',
        '<xs:element name="ORDER" minOccurs="0" maxOccurs="unbounded">'
        + order_type.replace(' name="Order"', "") + "</xs:element>")
    assert custom != bundled
    schema = tmp_path / "custom.xsd"
    schema.write_text(custom)
    broken = GOOD.replace("<CURRENCY>", "<CURRENCY><CODE>EUR</CODE></CURRENCY><CURRENCY>", 1)
    path = tmp_path / "feed.xml"
    path.write_text(broken)
    report = validate_path(path, now=NOW, schema_path=str(schema), parallel=False)
    hits = [f for f in report.findings if f.code == "XSD"]
    line = broken[:broken.index("</CURRENCY><CURRENCY>")].count("\n") + 1
    assert len(hits) == 1 and hits[0].line == line and hits[0].order_code == "10483"
    assert hits[0].path == "ORDER[1]/CURRENCY[2]"
    path.write_text(GOOD)
    assert validate_path(path, now=NOW, schema_path=str(schema), parallel=False).valid


def test_a_schema_without_orders_is_refused(tmp_path):
    from click.testing import CliRunner

    from feedsvc.commands.validate import validate_command
    schema = tmp_path / "other.xsd"
    schema.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="X"/></xs:schema>')
    feed_path = tmp_path / "feed.xml"
    feed_path.write_text(GOOD)
    result = CliRunner().invoke(validate_command, [str(feed_path), "--schema", str(schema)])
    assert result.exit_code == 2 and "declares no global ORDERS element" in result.output
