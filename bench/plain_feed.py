"""The render benchmark's baseline: the same Retino XML written by lxml straight from plain strings.

`plain_order` turns a mapped `retino.model.Order` into nested tuples of
already-formatted strings (done once, outside the timing). `write_plain_feed`
is the least work lxml needs to produce the same document: build each
`<ORDER>` element from those strings and stream it out with `etree.xmlfile`.
No mapping, no store, no validation, no publishing.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from feedsvc.retino.model import Address, Order, Price

_CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    q = value.quantize(_CENT)
    if q == 0:
        q = abs(q)
    return format(q, "f")


def _plain_number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _plain_price(price: Price) -> tuple[str, str, str, str]:
    return (_money(price.with_vat), _money(price.without_vat), _money(price.vat),
            _plain_number(price.vat_rate))


def _plain_address(address: Address, *, billing: bool) -> tuple[str, ...]:
    fields = (address.name, address.company, address.street, address.housenumber, address.city,
              address.zip, address.country)
    return fields + ((address.company_id, address.vat_id) if billing else ())


def plain_order(order: Order) -> tuple:
    """An Order as nested tuples of the exact strings the feed carries."""
    total = order.total
    return (
        order.order_id, order.order_url, order.code, order.date, order.currency,
        tuple(order.package_numbers), order.language, order.email, order.phone,
        _plain_address(order.billing, billing=True), _plain_address(order.shipping, billing=False),
        (_money(total.with_vat), _money(total.without_vat), _money(total.vat),
         None if total.rounding is None else _money(total.rounding)),
        tuple((item.type, item.name, _plain_number(item.amount), item.code, item.variant_name,
               _plain_price(item.unit_price), _plain_price(item.total_price)) for item in order.items),
    )


_ADDRESS_TAGS = ("NAME", "COMPANY", "STREET", "HOUSENUMBER", "CITY", "ZIP", "COUNTRY",
                 "COMPANY_ID", "VAT_ID")
_PRICE_TAGS = ("WITH_VAT", "WITHOUT_VAT", "VAT", "VAT_RATE")


def _leaf(parent, tag, text):
    element = etree.SubElement(parent, tag)
    element.text = text
    return element


def _order_element(plain: tuple) -> etree._Element:
    (order_id, order_url, code, date, currency, packages, language, email, phone,
     billing, shipping, total, items) = plain
    order = etree.Element("ORDER")
    _leaf(order, "ORDER_ID", order_id)
    if order_url:
        _leaf(order, "ORDER_URL", order_url)
    _leaf(order, "CODE", code)
    _leaf(order, "DATE", date)
    _leaf(etree.SubElement(order, "CURRENCY"), "CODE", currency)
    for number in packages:
        _leaf(order, "PACKAGE_NUMBER", number)
    if language:
        _leaf(order, "LANGUAGE", language)
    customer = etree.SubElement(order, "CUSTOMER")
    _leaf(customer, "EMAIL", email)
    if phone:
        _leaf(customer, "PHONE", phone)
    for tag, values in (("BILLING_ADDRESS", billing), ("SHIPPING_ADDRESS", shipping)):
        address = etree.SubElement(customer, tag)
        for child_tag, value in zip(_ADDRESS_TAGS, values):
            _leaf(address, child_tag, value)
    total_element = etree.SubElement(order, "TOTAL_PRICE")
    for tag, value in zip(("WITH_VAT", "WITHOUT_VAT", "VAT", "ROUNDING"), total):
        if value is not None:
            _leaf(total_element, tag, value)
    items_element = etree.SubElement(order, "ORDER_ITEMS")
    for item_type, name, amount, item_code, variant, unit, line in items:
        item = etree.SubElement(items_element, "ITEM")
        _leaf(item, "TYPE", item_type)
        _leaf(item, "NAME", name)
        _leaf(item, "AMOUNT", amount)
        _leaf(item, "CODE", item_code)
        if variant:
            _leaf(item, "VARIANT_NAME", variant)
        for block_tag, block in (("UNIT_PRICE", unit), ("TOTAL_PRICE", line)):
            block_element = etree.SubElement(item, block_tag)
            for tag, value in zip(_PRICE_TAGS, block):
                _leaf(block_element, tag, value)
    return order


def write_plain_feed(orders: list[tuple], out) -> int:
    """Write the feed for `orders` (from `plain_order`) to the binary file `out`; returns the count."""
    out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        with xf.element("ORDERS"):
            for plain in orders:
                xf.write(_order_element(plain))
    return len(orders)
