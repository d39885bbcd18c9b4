"""The XSD check, one <ORDER> at a time, every error with its line.

libxml2 validating while it parses stops after the first structural error,
gives no line numbers, and says nothing when the document ends early. So the
schema is checked on the tree instead: each finished ORDER against a schema
derived from the feed's (the same declarations, plus ORDER as a global
element), and what lies outside the orders (the root's name, attributes and
text, elements under it that are not ORDERs) on a small stand-in root once
the document has been read.

`engine` decides which orders each pass checks.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

from lxml import etree

from feedsvc.retino.report import Report
from feedsvc.retino.rules import Finding
from feedsvc.retino.xmlstream import ORDER, FeedReader

PACKAGED_SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "retino-feed.xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"
ROOT = "ORDERS"
HINT = "follow the element order and types of the schema"


class SchemaUnusable(Exception):
    """The XSD cannot be read, or declares no ORDERS root holding ORDER elements."""


@lru_cache(maxsize=4)
def load_schemas(path: str | None = None) -> tuple[etree.XMLSchema, etree.XMLSchema]:
    """(the schema of the whole feed, the same schema with ORDER as a global element)."""
    source = Path(path) if path else PACKAGED_SCHEMA
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        document = etree.parse(str(source), parser)
        whole = etree.XMLSchema(document)
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise SchemaUnusable(f"cannot use the schema {source}: {exc}") from None
    derived = copy.deepcopy(document)
    top = derived.getroot()
    root_declaration = top.find(f"{XS}element[@name='{ROOT}']")
    if root_declaration is None:
        raise SchemaUnusable(f"the schema {source} declares no global {ROOT} element")
    if top.find(f"{XS}element[@name='{ORDER}']") is None:
        local = next((e for e in root_declaration.iter(f"{XS}element") if e.get("name") == ORDER), None)
        if local is None:
            raise SchemaUnusable(f"the schema {source} declares no {ORDER} element inside {ROOT}")
        declaration = copy.deepcopy(local)
        for occurs in ("minOccurs", "maxOccurs", "form"):
            declaration.attrib.pop(occurs, None)
        top.append(declaration)
    try:
        return whole, etree.XMLSchema(derived)
    except etree.XMLSchemaParseError as exc:
        raise SchemaUnusable(f"cannot use the schema {source}: {exc}") from None


class SchemaCheck:
    """Adds the XSD findings of a document to `report`, order by order, then outside the orders."""

    def __init__(self, report: Report, schema_path: str | None = None):
        self.report = report
        self.whole, self.per_order = load_schemas(schema_path)
        self.bundled = schema_path is None or Path(schema_path).resolve() == PACKAGED_SCHEMA
        self.orders = 0

    def order(self, order, index: int) -> bool:
        """Check one ORDER; True when the schema accepts it."""
        self.orders += 1
        if self.per_order.validate(order):
            return True
        errors = self.per_order.error_log
        if not self.report.wants("XSD"):  # a hostile document: count, do not describe
            self.report.count("XSD", "error", len(errors))
            return False
        code = (order.findtext("CODE") or "").strip() or None
        self.report.extend(Finding("XSD", "error", entry.line, code, _order_path(entry.path, index),
                                   entry.message, HINT) for entry in errors)
        return False

    def outside(self, reader: FeedReader) -> None:
        """The root and what it holds besides ORDERs, once the whole document has been read."""
        self.report.extend(self._outside(reader))

    def _outside(self, reader: FeedReader) -> list[Finding]:
        found = []
        stand_in = etree.Element(reader.root_tag, reader.root_attributes)
        stand_in.text = reader.root_text or None
        if not self.whole.validate(stand_in):
            for entry in self.whole.error_log:
                if self.orders and "Missing child element" in entry.message:
                    continue  # the stand-in holds none of the orders, each was checked on its own
                found.append(Finding("XSD", "error", reader.root_line, None, f"/{ROOT}", entry.message, HINT))
        if reader.root_tag != ROOT:
            return found  # what a wrong root holds is not worth listing
        for stray in reader.strays:
            stand_in = etree.Element(ROOT)
            etree.SubElement(stand_in, stray.tag, stray.attributes)
            if not self.whole.validate(stand_in):
                found += [Finding("XSD", "error", stray.line, None, f"/{ROOT}/{stray.tag}", entry.message, HINT)
                          for entry in self.whole.error_log]
        unlisted = reader.stray_count - len(reader.strays)
        if unlisted > 0:
            found.append(Finding("XSD", "error", None, None, f"/{ROOT}",
                                 f"{unlisted} more elements directly under {ROOT} that are not {ORDER}",
                                 HINT))
        return found


def _order_path(path: str | None, index: int) -> str:
    prefix = f"/{ORDER}"
    if path and path.startswith(prefix):
        return f"{ORDER}[{index}]{path[len(prefix):]}"
    return f"{ORDER}[{index}]"
