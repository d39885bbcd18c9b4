"""The feed checker's engine: safe parsing, the XSD, then the semantic rules, in one streaming pass.

Input is untrusted. A document with a DOCTYPE is refused before parsing (that
is where entity bombs and external entities live), and the parser never
resolves entities, loads a DTD or touches the network. Orders are checked and
dropped one at a time, so memory stays flat however long the feed is. The XSD
check runs inside the same pass (libxml2 validates while it parses); only
when it fails on a small document is the document validated again as a whole
to list every schema error, not only the first.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from feedsvc.retino.rules import Finding, OrderChecker

PACKAGED_SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "retino-feed.xsd"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
FULL_SCHEMA_REPORT_LIMIT = 32 * 1024 * 1024
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DECLARATION = re.compile(rb"^<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")


class UnreadableFeed(Exception):
    """The document could not be read or is not XML at all (exit code 2)."""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    orders: int = 0
    items: int = 0
    bytes: int = 0
    without_package: int = 0
    elapsed: float = 0.0
    fetch_seconds: float | None = None
    well_formed: bool = True

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def valid(self) -> bool:
        return self.well_formed and self.errors == 0

    def as_dict(self) -> dict:
        return {
            "valid": self.valid, "orders": self.orders, "items": self.items, "bytes": self.bytes,
            "errors": self.errors, "warnings": self.warnings, "without_package_number": self.without_package,
            "findings": [f.as_dict() for f in self.findings if f.severity != "info"],
        }


@lru_cache(maxsize=4)
def load_schema(path: str | None = None) -> etree.XMLSchema:
    source = Path(path) if path else PACKAGED_SCHEMA
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(source), parser))


def _safe_parser_options() -> dict:
    return {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
            "remove_blank_text": False}


def _prolog_findings(head: bytes, report: Report) -> None:
    """Checks on the first bytes: emptiness, BOM, declared encoding, DOCTYPE."""
    if not head.strip():
        raise UnreadableFeed("the document is empty")
    if head.startswith(b"\xef\xbb\xbf"):
        report.findings.append(Finding("H1", "warning", 1, None, "", "the document starts with a UTF-8 "
                                       "byte-order mark", "save the file as UTF-8 without BOM"))
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        report.findings.append(Finding("H1", "error", 1, None, "", "the document is UTF-16, Retino reads "
                                       "UTF-8 only", "save the feed as UTF-8"))
        return
    declared = _DECLARATION.match(head.lstrip())
    if declared and declared.group(1).decode().lower().replace("_", "-") not in ("utf-8", "utf8"):
        report.findings.append(Finding("H1", "error", 1, None, "", f"the declaration says encoding="
                                       f"{declared.group(1).decode()!r}; Retino reads UTF-8 only",
                                       'write <?xml version="1.0" encoding="UTF-8"?>'))
    elif not head.lstrip().startswith(b"<?xml"):
        report.findings.append(Finding("H1", "warning", 1, None, "", "no XML declaration",
                                       'start with <?xml version="1.0" encoding="UTF-8"?>'))
    doctype = _DOCTYPE.search(head)
    if doctype:
        line = head[:doctype.start()].count(b"\n") + 1
        what = "declares entities" if _ENTITY.search(head) else "has a DOCTYPE"
        report.findings.append(Finding("S1", "error", line, None, "", f"the document {what}; it was not "
                                       "processed (entity expansion and external files are refused)",
                                       "remove the DOCTYPE: a Retino feed needs none"))


def _syntax_message(exc: etree.XMLSyntaxError) -> tuple[int | None, str]:
    entry = exc.error_log.last_error if exc.error_log else None
    line = entry.line if entry is not None else (exc.position[0] if exc.position else None)
    column = entry.column if entry is not None else (exc.position[1] if exc.position else None)
    message = (entry.message if entry is not None else str(exc)).strip()
    return line, f"{message} (line {line}, column {column})"


def _is_schema_error(exc: etree.XMLSyntaxError) -> bool:
    entry = exc.error_log.last_error if exc.error_log else None
    return entry is not None and entry.domain_name in ("SCHEMASV", "SCHEMASP")


def _all_schema_errors(data_source, schema, report: Report) -> bool:
    """Every XSD error of a small document; False when the document is too big to load whole."""
    if report.bytes > FULL_SCHEMA_REPORT_LIMIT:
        return False
    parser = etree.XMLParser(**_safe_parser_options())
    document = etree.parse(data_source(), parser)
    if schema.validate(document):
        return True
    for entry in schema.error_log:
        report.findings.append(Finding("XSD", "error", entry.line, None, entry.path or "",
                                       entry.message, "follow the element order and types of the schema"))
    return True


def _stream(source: BinaryIO, checker: OrderChecker, report: Report, schema) -> None:
    options = _safe_parser_options()
    if schema is not None:
        options["schema"] = schema
    index = 0
    for _, element in etree.iterparse(source, events=("end",), tag="ORDER", **options):
        index += 1
        report.findings.extend(checker.check(element, index))
        element.clear(keep_tail=True)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]


def validate_source(open_source, *, size: int, profile: str = "full", days: int = 7,
                    now: datetime | None = None, schema_path: str | None = None,
                    fetch_seconds: float | None = None) -> Report:
    """Validate a document that `open_source()` opens as a fresh binary stream each time it is called."""
    started = time.monotonic()
    report = Report(bytes=size, fetch_seconds=fetch_seconds)
    with open_source() as head_stream:
        head = head_stream.read(65536)
    _prolog_findings(head, report)
    if any(f.code in ("S1", "H1") and f.severity == "error" for f in report.findings):
        report.elapsed = time.monotonic() - started
        return report
    schema = load_schema(schema_path)
    checker = OrderChecker(profile=profile, days=days, now=now)
    try:
        with open_source() as stream:
            _stream(stream, checker, report, schema)
    except etree.XMLSyntaxError as exc:
        if not _is_schema_error(exc):
            report.well_formed = False
            line, message = _syntax_message(exc)
            report.findings.append(Finding("WF", "error", line, None, "", f"not well-formed XML: {message}",
                                           "fix the XML syntax at that line"))
            return _finish(report, checker, started)
        line, message = _syntax_message(exc)
        listed = False
        try:
            listed = _all_schema_errors(open_source, schema, report)
        except etree.XMLSyntaxError:
            listed = False
        if not listed:
            report.findings.append(Finding("XSD", "error", line, None, "", message,
                                           "follow the element order and types of the schema"))
        checker = OrderChecker(profile=profile, days=days, now=now)
        report.findings[:] = [f for f in report.findings if f.code in ("XSD", "H1", "S1")]
        try:
            with open_source() as stream:
                _stream(stream, checker, report, None)
        except etree.XMLSyntaxError as again:
            report.well_formed = False
            line, message = _syntax_message(again)
            report.findings.append(Finding("WF", "error", line, None, "", f"not well-formed XML: {message}",
                                           "fix the XML syntax at that line"))
    return _finish(report, checker, started)


def _finish(report: Report, checker: OrderChecker, started: float) -> Report:
    report.orders, report.items = checker.orders, checker.items
    report.without_package = checker.without_package
    report.findings.sort(key=lambda f: (f.line or 0))
    report.elapsed = time.monotonic() - started
    return report


def validate_path(path, *, profile: str = "full", days: int = 7, now: datetime | None = None,
                  schema_path: str | None = None, max_bytes: int | None = DEFAULT_MAX_BYTES) -> Report:
    """Validate a file; `max_bytes=None` lifts the size cap (for the feeds we render ourselves)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableFeed(f"cannot read {path}: {exc.strerror}") from None
    if max_bytes is not None and size > max_bytes:
        raise UnreadableFeed(f"{path} is {size} bytes, over the limit of {max_bytes} (--max-bytes)")
    return validate_source(lambda: open(path, "rb"), size=size, profile=profile, days=days, now=now,
                           schema_path=schema_path)


def validate_bytes(data: bytes, *, profile: str = "full", days: int = 7, now: datetime | None = None,
                   schema_path: str | None = None, fetch_seconds: float | None = None) -> Report:
    return validate_source(lambda: io.BytesIO(data), size=len(data), profile=profile, days=days, now=now,
                           schema_path=schema_path, fetch_seconds=fetch_seconds)
