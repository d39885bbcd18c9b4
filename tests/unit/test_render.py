"""Rendering: the exact declaration, §3 element order, paired empty tags, streaming, and the XSD."""

import copy
import io
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from feedsvc import jsonutil
from feedsvc.build import mapping_context_from
from feedsvc.config import defaults
from feedsvc.retino.context import checkout_labels
from feedsvc.retino.mapping import map_order
from feedsvc.retino.model import Item, OrderTotal, Price
from feedsvc.retino.render import DECLARATION, order_element, order_xml, render_feed

DEFAULT_CONTEXT = mapping_context_from(defaults())

D = Decimal
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
XSD = FIXTURES.parent.parent / "schema" / "retino-feed.xsd"
FIRST_LINE = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def load(name):
    return jsonutil.loads((FIXTURES / "storeden" / name).read_text(encoding="utf-8"))


def spec_orders():
    context = replace(DEFAULT_CONTEXT, checkout_labels=checkout_labels(load("checkout_methods.json")))
    return [map_order(e["order"], tracking=e["tracking"], summary=e["summary"], context=context).order
            for e in load("spec_example_orders.json")]


def seed_order():
    return map_order(load("seed_order.json"), tracking=load("tracking.json"), context=DEFAULT_CONTEXT).order


def render(orders) -> bytes:
    out = io.BytesIO()
    render_feed(orders, out)
    return out.getvalue()


def canonical(data: bytes) -> bytes:
    """The document without indentation, so layouts can be compared by content and order."""
    return etree.tostring(etree.fromstring(data, etree.XMLParser(remove_blank_text=True)), method="c14n")


def schema():
    if not XSD.exists():
        pytest.skip("schema/retino-feed.xsd is not there yet")
    return etree.XMLSchema(etree.parse(str(XSD)))


def price(gross, net, rate=Decimal(22)):
    return Price(D(gross), D(net), D(gross) - D(net), rate)


# -- the document -----------------------------------------------------------------

def test_declaration_is_exactly_the_first_line_without_bom():
    data = render([seed_order()])
    assert data.startswith(FIRST_LINE) and DECLARATION == FIRST_LINE
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"<?xml") == 1
    assert etree.fromstring(data).tag == "ORDERS"


def test_spec_example_feed_renders_exactly():
    data = render(spec_orders())
    assert data == (FIXTURES / "retino" / "spec_example_rendered.xml").read_bytes()
    # ...and is, element for element and value for value, the feed printed in specs/retino-feed.md §7
    assert canonical(data) == canonical((FIXTURES / "retino" / "spec_example.xml").read_bytes())


def test_pretty_printed_with_two_spaces():
    lines = render([seed_order()]).decode("utf-8").splitlines()
    assert lines[1:4] == ["<ORDERS>", "  <ORDER>", "    <ORDER_ID>132_56695c3c0a3be</ORDER_ID>"]
    assert "          <WITH_VAT>110.00</WITH_VAT>" in lines  # ORDERS/ORDER/ORDER_ITEMS/ITEM/UNIT_PRICE/...
    assert lines[-2:] == ["  </ORDER>", "</ORDERS>"]
    assert all((len(line) - len(line.lstrip(" "))) % 2 == 0 for line in lines)
    assert not any("\t" in line for line in lines)


def test_empty_feed():
    data = render([])
    assert data == FIRST_LINE + b"<ORDERS></ORDERS>\n"
    assert len(etree.fromstring(data)) == 0
    schema().assertValid(etree.fromstring(data))


def test_returns_the_count_and_streams_orders_as_they_come():
    order = seed_order()
    out = io.BytesIO()
    written_before_last = []

    def orders(count):
        for index in range(count):
            if index == count - 1:
                written_before_last.append(out.tell())
            yield replace(order, order_id=f"132_{index:05d}", code=str(index))

    assert render_feed(orders(2000), out) == 2000
    total = len(out.getvalue())
    # Most of the document was already written before the last order was even produced.
    assert written_before_last[0] > total * 0.9
    root = etree.fromstring(out.getvalue())
    assert [o.findtext("CODE") for o in root][:3] == ["0", "1", "2"] and len(root) == 2000


# -- one order ----------------------------------------------------------------------

def test_order_xml_is_the_seed_fixture_and_has_no_declaration():
    data = order_xml(seed_order())
    assert data == (FIXTURES / "retino" / "seed_order.xml").read_bytes()
    assert not data.startswith(b"<?xml")
    compact = order_xml(seed_order(), pretty=False)
    assert b"\n" not in compact and canonical(compact) == canonical(data)


def test_order_element():
    element = order_element(seed_order())
    assert element.tag == "ORDER" and element.findtext("CODE") == "132_56695c3c0a3be"
    assert element.find("CUSTOMER/PHONE") is None  # "+1/xxxxxxxxxxx" has no usable number


def _tags(element):
    return [child.tag for child in element]


def test_element_order_follows_spec_section_3():
    order = spec_orders()[1]
    order = replace(order, order_url="https://admin.example.com/orders/132_684af1b9d07c2", phone="+393471234567",
                    total=replace(order.total, rounding=D("-0.02"), with_vat=order.total.with_vat - D("0.02")))
    element = order_element(order)
    assert _tags(element) == ["ORDER_ID", "ORDER_URL", "CODE", "DATE", "CURRENCY", "PACKAGE_NUMBER",
                              "PACKAGE_NUMBER", "LANGUAGE", "CUSTOMER", "TOTAL_PRICE", "ORDER_ITEMS"]
    assert _tags(element.find("CUSTOMER")) == ["EMAIL", "PHONE", "BILLING_ADDRESS", "SHIPPING_ADDRESS"]
    assert _tags(element.find("CUSTOMER/BILLING_ADDRESS")) == [
        "NAME", "COMPANY", "STREET", "HOUSENUMBER", "CITY", "ZIP", "COUNTRY", "COMPANY_ID", "VAT_ID"]
    assert _tags(element.find("CUSTOMER/SHIPPING_ADDRESS")) == [
        "NAME", "COMPANY", "STREET", "HOUSENUMBER", "CITY", "ZIP", "COUNTRY"]
    assert _tags(element.find("TOTAL_PRICE")) == ["WITH_VAT", "WITHOUT_VAT", "VAT", "ROUNDING"]
    assert element.findtext("TOTAL_PRICE/ROUNDING") == "-0.02"
    for item in element.iterfind("ORDER_ITEMS/ITEM"):
        expected = ["TYPE", "NAME", "AMOUNT", "CODE"] + (["VARIANT_NAME"] if item.find("VARIANT_NAME") is not None
                                                         else []) + ["UNIT_PRICE", "TOTAL_PRICE"]
        assert _tags(item) == expected
        for block in ("UNIT_PRICE", "TOTAL_PRICE"):
            assert _tags(item.find(block)) == ["WITH_VAT", "WITHOUT_VAT", "VAT", "VAT_RATE"]
    schema().assertValid(etree.fromstring(render([order])))


def test_optional_elements_are_left_out_when_unknown():
    order = replace(seed_order(), package_numbers=(), language=None, phone=None, order_url=None)
    element = order_element(order)
    for tag in ("ORDER_URL", "PACKAGE_NUMBER", "LANGUAGE", "CUSTOMER/PHONE", "TOTAL_PRICE/ROUNDING"):
        assert element.find(tag) is None, tag
    no_variant = replace(order, items=(replace(order.items[0], variant_name=None),) + order.items[1:])
    assert order_element(no_variant).find("ORDER_ITEMS/ITEM/VARIANT_NAME") is None
    zero_rounding = replace(order, total=replace(order.total, rounding=D("0.00")))
    assert order_element(zero_rounding).find("TOTAL_PRICE/ROUNDING") is None


def test_empty_text_is_a_paired_tag():
    data = render([seed_order()])
    assert b"<COMPANY></COMPANY>" in data and b"<HOUSENUMBER></HOUSENUMBER>" in data
    assert b"<COMPANY_ID></COMPANY_ID>" in data
    assert b"/>" not in data


def test_special_characters_are_escaped_and_read_back_unchanged():
    name = 'Smartwatch <Sport> & "Co" ]]> \u00e8 \U0001f600'
    order = seed_order()
    order = replace(order, billing=replace(order.billing, name=name),
                    items=(replace(order.items[0], name=name),) + order.items[1:])
    data = render([order])
    assert b"&lt;Sport&gt; &amp;" in data and b"<![CDATA[" not in data
    root = etree.fromstring(data)
    assert root.findtext("ORDER/CUSTOMER/BILLING_ADDRESS/NAME") == name
    assert root.findtext("ORDER/ORDER_ITEMS/ITEM/NAME") == name


def test_numbers_are_written_in_the_feed_formats():
    unit = Price(D("1E+1"), D("8.2"), D("1.80"), D("22.0"))
    line = Price(D("15.000"), D("12.30"), D("2.7"), D("22.0"))
    odd = Item(type="product", name="Cable", amount=D("1.500"), code="CBL", unit_price=unit, total_price=line)
    zero = Item(type="billing", name="Cash on Delivery", amount=D(1), code="payment-mark",
                unit_price=Price(D("-0.00"), D("-0"), D("0E-2"), D("0")),
                total_price=Price(D("-0.00"), D("-0"), D("0E-2"), D("0")))
    order = replace(seed_order(), items=(odd, zero), total=OrderTotal(D("15"), D("12.3"), D("2.70")))
    item = order_element(order).find("ORDER_ITEMS/ITEM")
    assert item.findtext("AMOUNT") == "1.5"
    assert [item.findtext(f"UNIT_PRICE/{t}") for t in ("WITH_VAT", "WITHOUT_VAT", "VAT", "VAT_RATE")] == \
        ["10.00", "8.20", "1.80", "22"]
    assert [item.findtext(f"TOTAL_PRICE/{t}") for t in ("WITH_VAT", "WITHOUT_VAT", "VAT")] == \
        ["15.00", "12.30", "2.70"]
    data = render([order])
    assert b"-0.00" not in data and b"E+" not in data and b"E-" not in data
    assert b"<VAT_RATE>0</VAT_RATE>" in data
    element = order_element(order)
    assert [element.findtext(f"TOTAL_PRICE/{t}") for t in ("WITH_VAT", "WITHOUT_VAT", "VAT")] == \
        ["15.00", "12.30", "2.70"]


# -- the schema and the project's own validator -----------------------------------------

@pytest.mark.parametrize("fixture", ["spec_example_rendered.xml", "spec_example.xml"])
def test_fixtures_validate_against_the_xsd(fixture):
    document = etree.parse(str(FIXTURES / "retino" / fixture))
    schema().assertValid(document)


def test_rendered_seed_and_spec_orders_validate_against_the_xsd():
    schema().assertValid(etree.fromstring(render([seed_order(), *spec_orders()])))


def test_the_feed_checker_finds_no_errors_in_the_rendered_spec_feed():
    from feedsvc.retino.validate import validate_bytes

    report = validate_bytes(render(spec_orders()), now=datetime(2025, 6, 13, 12, 0))
    assert report.valid, [f.message for f in report.findings if f.severity == "error"]
    assert not [f for f in report.findings if f.severity == "warning"]


def test_hostile_but_mapped_text_renders_and_validates():
    raw = load("seed_order.json")
    raw["billing"]["fullname"] = "\x00Ma\x07rio \ud800Rossi\u0085 & <Co>"
    raw["cart"]["items"]["105251#|#xl_red"]["title"] = "\ufffe" + "é" * 400
    raw["delivery"] = copy.deepcopy(raw["billing"])
    order = map_order(raw, context=DEFAULT_CONTEXT).order
    data = render([order])
    schema().assertValid(etree.fromstring(data))
    assert etree.fromstring(data).findtext("ORDER/CUSTOMER/BILLING_ADDRESS/NAME") == "Mario Rossi & <Co>"
