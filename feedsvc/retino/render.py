"""Retino orders → the feed's XML, streamed so a 100k-order feed never sits in memory as one tree.

The declaration is written by hand (lxml would use single quotes); each
<ORDER> is built as a small element tree, written, and dropped. Element order
follows specs/retino-feed.md §3; empty optional text is written as a paired
tag, as Retino writes it.
"""

from __future__ import annotations

from typing import BinaryIO, Iterable

from lxml import etree

from feedsvc.retino.model import Address, Item, Order, Price
from feedsvc.retino.money import format_amount, format_money, format_rate

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _text(parent, tag: str, value: str) -> None:
    etree.SubElement(parent, tag).text = value


def _price(parent, tag: str, price: Price) -> None:
    block = etree.SubElement(parent, tag)
    _text(block, "WITH_VAT", format_money(price.with_vat))
    _text(block, "WITHOUT_VAT", format_money(price.without_vat))
    _text(block, "VAT", format_money(price.vat))
    _text(block, "VAT_RATE", format_rate(price.vat_rate))


def _address(parent, tag: str, address: Address, *, billing: bool) -> None:
    block = etree.SubElement(parent, tag)
    for name, value in (("NAME", address.name), ("COMPANY", address.company), ("STREET", address.street),
                        ("HOUSENUMBER", address.housenumber), ("CITY", address.city), ("ZIP", address.zip),
                        ("COUNTRY", address.country)):
        _text(block, name, value)
    if billing:
        _text(block, "COMPANY_ID", address.company_id)
        _text(block, "VAT_ID", address.vat_id)


def _item(parent, item: Item) -> None:
    element = etree.SubElement(parent, "ITEM")
    _text(element, "TYPE", item.type)
    _text(element, "NAME", item.name)
    _text(element, "AMOUNT", format_amount(item.amount))
    _text(element, "CODE", item.code)
    if item.variant_name:
        _text(element, "VARIANT_NAME", item.variant_name)
    _price(element, "UNIT_PRICE", item.unit_price)
    _price(element, "TOTAL_PRICE", item.total_price)


def order_element(order: Order) -> etree._Element:
    """One <ORDER> element."""
    root = etree.Element("ORDER")
    _text(root, "ORDER_ID", order.order_id)
    if order.order_url:
        _text(root, "ORDER_URL", order.order_url)
    _text(root, "CODE", order.code)
    _text(root, "DATE", order.date)
    currency = etree.SubElement(root, "CURRENCY")
    _text(currency, "CODE", order.currency)
    for number in order.package_numbers:
        _text(root, "PACKAGE_NUMBER", number)
    if order.language:
        _text(root, "LANGUAGE", order.language)
    customer = etree.SubElement(root, "CUSTOMER")
    _text(customer, "EMAIL", order.email)
    if order.phone:
        _text(customer, "PHONE", order.phone)
    _address(customer, "BILLING_ADDRESS", order.billing, billing=True)
    _address(customer, "SHIPPING_ADDRESS", order.shipping, billing=False)
    total = etree.SubElement(root, "TOTAL_PRICE")
    _text(total, "WITH_VAT", format_money(order.total.with_vat))
    _text(total, "WITHOUT_VAT", format_money(order.total.without_vat))
    _text(total, "VAT", format_money(order.total.vat))
    if order.total.rounding:
        _text(total, "ROUNDING", format_money(order.total.rounding))
    items = etree.SubElement(root, "ORDER_ITEMS")
    for item in order.items:
        _item(items, item)
    return root


def order_xml(order: Order, *, pretty: bool = True) -> bytes:
    """One <ORDER> as UTF-8 bytes, without a declaration."""
    return etree.tostring(order_element(order), encoding="UTF-8", pretty_print=pretty,
                          xml_declaration=False)


def render_feed(orders: Iterable[Order], out: BinaryIO) -> int:
    """Write the whole feed to `out`; returns the number of orders written."""
    count = 0
    out.write(DECLARATION)
    out.write(b"<ORDERS>\n")
    for order in orders:
        element = order_element(order)
        etree.indent(element, space="  ", level=1)
        out.write(b"  ")
        out.write(etree.tostring(element, encoding="UTF-8"))
        out.write(b"\n")
        count += 1
    out.write(b"</ORDERS>\n")
    return count
