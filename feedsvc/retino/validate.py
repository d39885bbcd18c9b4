"""The feed checker's engine: safe streaming parse, the XSD and the semantic rules → a `Report`.

Input is untrusted (see `xmlstream` for how it is read: no DTD, no entities,
no network, bounded memory). One pass hands each finished <ORDER> to the rules
(`rules.OrderChecker`) and to the XSD (`schema_pass.SchemaCheck`). A large
file is read twice at once instead: the rules here, the XSD in a child
process on the other core; the findings are merged by line.

A document is valid only when it was read to its end, well-formed, and
nothing found an error: a feed cut short anywhere is never valid, whatever
came before the cut.
"""

from __future__ import annotations

import io
import os
import re
import time
from datetime import datetime
from pathlib import Path

from lxml import etree

from feedsvc.retino.report import Report
from feedsvc.retino.rules import Finding, OrderChecker
from feedsvc.retino.schema_pass import PACKAGED_SCHEMA, SchemaCheck, SchemaProcess, load_schemas
from feedsvc.retino.xmlstream import FeedReader, Refused, TooLarge

__all__ = ["DEFAULT_MAX_BYTES", "PACKAGED_SCHEMA", "Report", "UnreadableFeed", "load_schema",
           "validate_bytes", "validate_path", "validate_source"]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# From this size the XSD runs in a process of its own (starting one costs about a tenth of a second).
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
_DECLARATION = re.compile(rb"^<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")


class UnreadableFeed(Exception):
    """The document could not be read or is not XML at all (exit code 2)."""


def load_schema(path: str | None = None) -> etree.XMLSchema:
    """The XSD of a whole feed (the bundled one by default), compiled once."""
    return load_schemas(path)[0]


def _prolog_findings(head: bytes, report: Report) -> None:
    """Checks on the first bytes, where the spec puts them: byte-order mark, encoding, declaration."""
    if not head.strip():
        raise UnreadableFeed("the document is empty")
    if head.startswith(b"\xef\xbb\xbf"):
        report.add(Finding("H1", "warning", 1, None, "", "the document starts with a UTF-8 byte-order mark",
                           "save the file as UTF-8 without BOM"))
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        report.add(Finding("H1", "error", 1, None, "", "the document is UTF-16, Retino reads UTF-8 only",
                           "save the feed as UTF-8"))
        return
    declared = _DECLARATION.match(head.lstrip())
    if declared and declared.group(1).decode().lower().replace("_", "-") not in ("utf-8", "utf8"):
        report.add(Finding("H1", "error", 1, None, "", f"the declaration says encoding="
                           f"{declared.group(1).decode()!r}; Retino reads UTF-8 only",
                           'write <?xml version="1.0" encoding="UTF-8"?>'))
    elif not head.lstrip().startswith(b"<?xml"):
        report.add(Finding("H1", "warning", 1, None, "", "no XML declaration",
                           'start with <?xml version="1.0" encoding="UTF-8"?>'))


def _syntax_finding(exc: etree.XMLSyntaxError) -> Finding:
    entry = exc.error_log.last_error if exc.error_log else None
    line = entry.line if entry is not None and entry.line else (exc.position[0] if exc.position else None)
    column = entry.column if entry is not None and entry.line else (exc.position[1] if exc.position else None)
    message = (entry.message if entry is not None else str(exc)).strip() or "the document ends early"
    if not line:  # libxml2 gives no position when it stops for want of memory
        return Finding("WF", "error", None, None, "", f"the XML parser stopped: {message} (out of memory?)",
                       "check the document's size and shape")
    return Finding("WF", "error", line, None, "", f"not well-formed XML: {message} (line {line}, column {column})",
                   "fix the XML syntax at that line (a download cut short ends early)")


def validate_source(open_source, *, size: int, profile: str = "full", days: int = 7,
                    now: datetime | None = None, schema_path: str | None = None,
                    fetch_seconds: float | None = None, max_bytes: int | None = None,
                    schema_process=None) -> Report:
    """Validate the document that `open_source()` opens as a binary stream.

    `schema_process` (a started `SchemaProcess` reading the same bytes) takes the XSD off this pass.
    """
    started = time.monotonic()
    report = Report(bytes=size, fetch_seconds=fetch_seconds)
    checker = OrderChecker(profile=profile, days=days, now=now)
    schema = SchemaCheck(report, schema_path) if schema_process is None else None
    try:
        with open_source() as stream:
            reader = FeedReader(stream, max_bytes=max_bytes)
            _read(reader, report, checker, schema)
            report.bytes = max(report.bytes, reader.bytes_read)
        unreadable_encoding = any(f.code == "H1" and f.severity == "error" for f in report.findings)
        if schema_process is not None and not unreadable_encoding:
            _merge_schema(report, schema_process, open_source, schema_path, max_bytes)
    except TooLarge as exc:
        raise UnreadableFeed(str(exc)) from None
    finally:
        if schema_process is not None:
            schema_process.stop()
    return _finish(report, checker, started)


def _read(reader: FeedReader, report: Report, checker: OrderChecker, schema: SchemaCheck | None) -> None:
    """One pass: the prolog's checks, then every order through the rules (and the XSD, if `schema`)."""
    try:
        _prolog_findings(reader.read_head(), report)
        if report.errors:  # an encoding Retino cannot read: nothing further is worth saying
            return
        for index, order in enumerate(reader.orders(), 1):
            report.extend(checker.check(order, index))
            if schema is not None:
                schema.order(order, index)
        if schema is not None:
            schema.outside(reader)
        report.complete = True
    except etree.XMLSyntaxError as exc:
        report.well_formed = False
        report.add(_syntax_finding(exc))
    except Refused as refusal:
        report.add(Finding(refusal.code, "error", refusal.line, None, "", refusal.message,
                           "remove the DOCTYPE: a Retino feed needs none" if refusal.code == "S1"
                           else "a Retino feed needs none of this"))


def _merge_schema(report: Report, process: SchemaProcess, open_source, schema_path, max_bytes) -> None:
    """Add the child's XSD findings; if the child failed, check the schema here after all."""
    found = process.result()
    if found is None:
        found = Report()
        check = SchemaCheck(found, schema_path)
        with open_source() as stream:
            reader = FeedReader(stream, max_bytes=max_bytes)
            try:
                for index, order in enumerate(reader.orders(), 1):
                    check.order(order, index)
                check.outside(reader)
            except (etree.XMLSyntaxError, Refused):
                pass
    report.extend(found.findings)
    for (code, severity), number in found.omitted.items():
        report.count(code, severity, number)


def _finish(report: Report, checker: OrderChecker, started: float) -> Report:
    report.orders, report.items = checker.orders, checker.items
    report.without_package = checker.without_package
    checker.close()
    report.findings.sort(key=lambda f: (f.line or 0))
    report.elapsed = time.monotonic() - started
    return report


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def validate_path(path, *, profile: str = "full", days: int = 7, now: datetime | None = None,
                  schema_path: str | None = None, max_bytes: int | None = DEFAULT_MAX_BYTES,
                  parallel: bool | None = None) -> Report:
    """Validate a file; `max_bytes=None` lifts the size cap (for the feeds we render ourselves).

    `parallel` (default: for files of `PARALLEL_FROM_BYTES` and more, with two cores) checks the
    XSD in a child process while this one checks the rules.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UnreadableFeed(f"cannot read {path}: {exc.strerror}") from None
    if max_bytes is not None and size > max_bytes:
        raise UnreadableFeed(f"{path} is {size} bytes, over the limit of {max_bytes} (--max-bytes)")
    if parallel is None:
        parallel = size >= PARALLEL_FROM_BYTES and _cores() > 1
    load_schemas(schema_path)  # a schema that cannot be used is the caller's error, reported before any work
    process = SchemaProcess(path, schema_path, max_bytes) if parallel else None
    return validate_source(lambda: open(path, "rb"), size=size, profile=profile, days=days, now=now,
                           schema_path=schema_path, max_bytes=max_bytes, schema_process=process)


def validate_bytes(data: bytes, *, profile: str = "full", days: int = 7, now: datetime | None = None,
                   schema_path: str | None = None, fetch_seconds: float | None = None) -> Report:
    return validate_source(lambda: io.BytesIO(data), size=len(data), profile=profile, days=days, now=now,
                           schema_path=schema_path, fetch_seconds=fetch_seconds)
