"""The feed checker: safe streaming parse, the XSD and the semantic rules → a `Report`.

Input is untrusted (see `xmlstream` for how it is read: no DTD, no entities,
no network, bounded memory). A pass (`engine.Pass`) hands each finished
<ORDER> to the rules (`rules.OrderChecker`) and to the XSD
(`schema_pass.SchemaCheck`); a large file is shared with a second pass in a
child process, on the other core, and the findings are merged in document order.

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
from typing import Any

from lxml import etree

from feedsvc.retino.engine import ChildPass, Claims, NotTaken, Pass
from feedsvc.retino.report import Report
from feedsvc.retino.rules import Finding
from feedsvc.retino.schema_pass import PACKAGED_SCHEMA, load_schemas
from feedsvc.retino.xmlstream import FeedReader, Refused, TooLarge

__all__ = ["DEFAULT_MAX_BYTES", "PACKAGED_SCHEMA", "Report", "UnreadableFeed", "load_schema",
           "validate_bytes", "validate_path", "validate_source"]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# From this size a second pass shares the work on the other core (below it, a second process
# would cost more than it saves).
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
                    helper: ChildPass | None = None) -> Report:
    """Validate the document that `open_source()` opens as a binary stream.

    `helper` (a started `ChildPass` reading the same bytes) shares the orders' checks with this pass.
    """
    started = time.monotonic()
    report = Report(bytes=size, fetch_seconds=fetch_seconds)
    options: dict[str, Any] = {"profile": profile, "days": days, "now": now, "schema_path": schema_path}
    work = Pass(report, **options) if helper is None else Pass(report, **options, share=helper.claims,
                                                                  outside=False)
    try:
        with open_source() as stream:
            reader = FeedReader(stream, max_bytes=max_bytes)
            _read(reader, report, work)
            report.bytes = max(report.bytes, reader.bytes_read)
        unreadable_encoding = any(f.code == "H1" and f.severity == "error" for f in report.findings)
        if helper is not None and not unreadable_encoding:
            _merge(report, helper, open_source, options, max_bytes)
    except TooLarge as exc:
        raise UnreadableFeed(str(exc)) from None
    finally:
        work.close()
        if helper is not None:
            helper.stop()
    report.finish()
    report.elapsed = time.monotonic() - started
    return report


def _read(reader: FeedReader, report: Report, work: Pass) -> None:
    """The prolog's checks, then the pass; what stops it early becomes a finding."""
    try:
        _prolog_findings(reader.read_head(), report)
        if report.errors:  # an encoding Retino cannot read: nothing further is worth saying
            return
        work.run(reader)
    except etree.XMLSyntaxError as exc:
        report.well_formed = False
        report.add(_syntax_finding(exc))
    except Refused as refusal:
        report.add(Finding(refusal.code, "error", refusal.line, None, "", refusal.message,
                           "remove the DOCTYPE: a Retino feed needs none" if refusal.code == "S1"
                           else "a Retino feed needs none of this"))


def _merge(report: Report, helper: ChildPass, open_source, options: dict, max_bytes) -> None:
    """Add the child's findings and counts; if the child failed, do its share here after all."""
    found = helper.result()
    if found is None:
        found = Report()
        work = Pass(found, **options, share=NotTaken(helper.claims), identity=False, outside=True)
        with open_source() as stream:
            try:
                work.run(FeedReader(stream, max_bytes=max_bytes))
            except (etree.XMLSyntaxError, Refused):
                pass
        work.close()
    for finding in found.findings:
        report.add(finding, merging=True)
    for (code, severity), number in found.omitted.items():
        report.count(code, severity, number)
    report.items += found.items
    report.complete = report.complete and found.complete


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def validate_path(path, *, profile: str = "full", days: int = 7, now: datetime | None = None,
                  schema_path: str | None = None, max_bytes: int | None = DEFAULT_MAX_BYTES,
                  parallel: bool | None = None) -> Report:
    """Validate a file; `max_bytes=None` lifts the size cap (for the feeds we render ourselves).

    `parallel` (default: for files of `PARALLEL_FROM_BYTES` and more, with two cores) shares the
    checks with a child process reading the same file (see `engine`).
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
    if not parallel:
        return validate_source(lambda: open(path, "rb"), size=size, profile=profile, days=days, now=now,
                               schema_path=schema_path, max_bytes=max_bytes)
    claims = Claims.create()
    try:
        helper = ChildPass(path, claims=claims, profile=profile, days=days, now=now, schema_path=schema_path,
                           max_bytes=max_bytes)
        return validate_source(lambda: open(path, "rb"), size=size, profile=profile, days=days, now=now,
                               schema_path=schema_path, max_bytes=max_bytes, helper=helper)
    finally:
        claims.remove()


def validate_bytes(data: bytes, *, profile: str = "full", days: int = 7, now: datetime | None = None,
                   schema_path: str | None = None, fetch_seconds: float | None = None) -> Report:
    return validate_source(lambda: io.BytesIO(data), size=len(data), profile=profile, days=days, now=now,
                           schema_path=schema_path, fetch_seconds=fetch_seconds)
