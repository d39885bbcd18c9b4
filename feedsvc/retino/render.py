"""Retino orders → the feed's XML, streamed: one <ORDER> element in memory at a time.

The declaration line is written by hand, exactly as Retino's documents show it
(lxml's own uses single quotes). Each <ORDER> is built as a small tree with
SubElement, given its indentation, serialised to a fragment and dropped, so a
feed of 100,000 orders never sits in memory; the build caches the fragments.
Element order is specs/retino-feed.md §3; empty text is written as a paired
tag (`<COMPANY></COMPANY>`) as Retino writes it. Text arrives cleaned by
mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import BinaryIO

from lxml import etree

from feedsvc.retino import money
from feedsvc.retino.model import Address, Item, Order, Price

# Prices repeat a lot across a feed; formatting each distinct Decimal once saves a third of the time.
_money = lru_cache(maxsize=8192)(money.format_money)
_amount = lru_cache(maxsize=1024)(money.format_amount)
_rate = lru_cache(maxsize=64)(money.format_rate)

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
INDENT = "  "

_SubElement = etree.SubElement


def _leaf(parent: etree._Element, tag: str, value: str) -> None:
    _SubElement(parent, tag).text = value


def _price(parent: etree._Element, tag: str, price: Price) -> None:
    block = _SubElement(parent, tag)
    _SubElement(block, "WITH_VAT").text = _money(price.with_vat)
    _SubElement(block, "WITHOUT_VAT").text = _money(price.without_vat)
    _SubElement(block, "VAT").text = _money(price.vat)
    _SubElement(block, "VAT_RATE").text = _rate(price.vat_rate)


def _address(parent: etree._Element, tag: str, address: Address, *, billing: bool) -> None:
    block = _SubElement(parent, tag)
    _SubElement(block, "NAME").text = address.name
    _SubElement(block, "COMPANY").text = address.company
    _SubElement(block, "STREET").text = address.street
    _SubElement(block, "HOUSENUMBER").text = address.housenumber
    _SubElement(block, "CITY").text = address.city
    _SubElement(block, "ZIP").text = address.zip
    _SubElement(block, "COUNTRY").text = address.country
    if billing:
        _SubElement(block, "COMPANY_ID").text = address.company_id
        _SubElement(block, "VAT_ID").text = address.vat_id


def _item(parent: etree._Element, item: Item) -> None:
    element = _SubElement(parent, "ITEM")
    _SubElement(element, "TYPE").text = item.type
    _SubElement(element, "NAME").text = item.name
    _SubElement(element, "AMOUNT").text = _amount(item.amount)
    _SubElement(element, "CODE").text = item.code
    if item.variant_name:
        _SubElement(element, "VARIANT_NAME").text = item.variant_name
    _price(element, "UNIT_PRICE", item.unit_price)
    _price(element, "TOTAL_PRICE", item.total_price)


def order_element(order: Order) -> etree._Element:
    """One <ORDER> element (no indentation whitespace)."""
    root = etree.Element("ORDER")
    _leaf(root, "ORDER_ID", order.order_id)
    if order.order_url:
        _leaf(root, "ORDER_URL", order.order_url)
    _leaf(root, "CODE", order.code)
    _leaf(root, "DATE", order.date)
    _leaf(_SubElement(root, "CURRENCY"), "CODE", order.currency)
    for number in order.package_numbers:
        _leaf(root, "PACKAGE_NUMBER", number)
    if order.language:
        _leaf(root, "LANGUAGE", order.language)
    customer = _SubElement(root, "CUSTOMER")
    _leaf(customer, "EMAIL", order.email)
    if order.phone:
        _leaf(customer, "PHONE", order.phone)
    _address(customer, "BILLING_ADDRESS", order.billing, billing=True)
    _address(customer, "SHIPPING_ADDRESS", order.shipping, billing=False)
    total = _SubElement(root, "TOTAL_PRICE")
    _leaf(total, "WITH_VAT", _money(order.total.with_vat))
    _leaf(total, "WITHOUT_VAT", _money(order.total.without_vat))
    _leaf(total, "VAT", _money(order.total.vat))
    if order.total.rounding:
        _leaf(total, "ROUNDING", _money(order.total.rounding))
    items = _SubElement(root, "ORDER_ITEMS")
    for item in order.items:
        _item(items, item)
    return root


def order_xml(order: Order, pretty: bool = True) -> bytes:
    """One <ORDER> as UTF-8 bytes without a declaration; indented by 2 spaces when `pretty`."""
    element = order_element(order)
    if pretty:
        etree.indent(element, space=INDENT)
        element.tail = "\n"
    return etree.tostring(element, encoding="UTF-8")


FEED_HEAD = DECLARATION + b"<ORDERS>"


def feed_tail(count: int) -> bytes:
    """What closes the feed: an empty ORDERS stays on one line."""
    return b"\n</ORDERS>\n" if count else b"</ORDERS>\n"


def order_fragment(order: Order) -> bytes:
    """One <ORDER> exactly as it sits inside the feed: a newline, its indentation, the element.

    A feed is FEED_HEAD, the fragments, then feed_tail(count); the build keeps
    fragments of unchanged orders and reuses them byte for byte.
    """
    element = order_element(order)
    etree.indent(element, space=INDENT, level=1)
    return b"\n" + INDENT.encode() + etree.tostring(element, encoding="UTF-8", xml_declaration=False)


def render_feed(orders: Iterable[Order], out: BinaryIO) -> int:
    """Write the whole feed to the binary file `out`; returns the number of orders written.

    An empty iterable gives the declaration and `<ORDERS></ORDERS>`.
    """
    count = 0
    out.write(FEED_HEAD)
    for order in orders:
        out.write(order_fragment(order))
        count += 1
    out.write(feed_tail(count))
    return count
