"""The XSD check, one <ORDER> at a time, every error with its line.

libxml2 validating while it parses stops after the first structural error,
gives no line numbers, and says nothing when the document ends early. So the
schema is checked on the tree instead: each finished ORDER against a schema
derived from the feed's (the same declarations, plus ORDER as a global
element), and what lies outside the orders (the root's name, attributes and
text, elements under it that are not ORDERs) on a small stand-in root once
the document has been read.

For a small document this runs inside the rules' pass. For a large one it
runs as a process of its own beside it (`python -m feedsvc.retino.schema_pass
PATH`), reading the same file on the other core: `SchemaProcess`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from lxml import etree

from feedsvc.retino.report import Report
from feedsvc.retino.rules import Finding
from feedsvc.retino.xmlstream import ORDER, FeedReader, Refused, TooLarge

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
        self.orders = 0

    def order(self, order, index: int) -> None:
        self.orders += 1
        if self.per_order.validate(order):
            return
        errors = self.per_order.error_log
        if not self.report.wants("XSD"):  # a hostile document: count, do not describe
            self.report.count("XSD", "error", len(errors))
            return
        code = (order.findtext("CODE") or "").strip() or None
        self.report.extend(Finding("XSD", "error", entry.line, code, _order_path(entry.path, index),
                                   entry.message, HINT) for entry in errors)

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


def check_file(path: str, schema_path: str | None, max_bytes: int | None) -> Report:
    """The XSD findings of a whole file; a document that stops early just ends the list (the rules'
    pass, reading the same bytes, reports why)."""
    report = Report()
    check = SchemaCheck(report, schema_path)
    with open(path, "rb") as stream:
        reader = FeedReader(stream, max_bytes=max_bytes)
        try:
            for index, order in enumerate(reader.orders(), 1):
                check.order(order, index)
            check.outside(reader)
            report.complete = True
        except (etree.XMLSyntaxError, Refused, TooLarge):
            pass
    return report


class SchemaProcess:
    """`check_file` in a child process, so that it runs on another core than the rules."""

    def __init__(self, path, schema_path: str | None, max_bytes: int | None):
        command = [sys.executable, "-m", "feedsvc.retino.schema_pass", str(path)]
        if schema_path:
            command += ["--schema", str(schema_path)]
        if max_bytes is not None:
            command += ["--max-bytes", str(max_bytes)]
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._stderr, env=env)

    def result(self) -> Report | None:
        """The child's report, or None when it failed (the caller then checks the schema itself)."""
        try:
            out, _ = self.process.communicate()
            if self.process.returncode != 0:
                return None
            return _report_from_json(out)
        except (ValueError, KeyError, TypeError):
            return None
        finally:
            self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


def _report_to_json(report: Report) -> str:
    return json.dumps({
        "complete": report.complete,
        "findings": [[f.code, f.severity, f.line, f.order_code, f.path, f.message, f.hint]
                     for f in report.findings],
        "omitted": [[code, severity, number] for (code, severity), number in report.omitted.items()],
    })


def _report_from_json(text: bytes) -> Report:
    body = json.loads(text)
    report = Report(complete=bool(body["complete"]))
    for fields in body["findings"]:
        report.add(Finding(*fields))
    for code, severity, number in body["omitted"]:
        report.count(code, severity, number)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m feedsvc.retino.schema_pass")
    parser.add_argument("path")
    parser.add_argument("--schema")
    parser.add_argument("--max-bytes", type=int)
    args = parser.parse_args(argv)
    report = check_file(args.path, args.schema, args.max_bytes)
    sys.stdout.write(_report_to_json(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
