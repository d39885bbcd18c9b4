"""Broken and hostile feeds against the checker's engine and CLI (no network, small documents).

Each group is a class of input, not one case: feeds cut short anywhere, what
a prolog can hide (DOCTYPEs, entities, PIs, XInclude), and shapes that would
make memory grow with the document. Whatever the input, the verdict is never
"valid" for a broken feed, and the CLI ends with a report or a one-line error.
"""

import gzip
import json
import tomllib
from datetime import datetime
from pathlib import Path

import lxml.etree
import pytest
from click.testing import CliRunner

from feedsvc.commands.validate import validate_command
from feedsvc.retino import xmlstream
from feedsvc.retino.report import FINDINGS_PER_RULE
from feedsvc.retino.rules import OrderChecker
from feedsvc.retino.seen import SeenValues
from feedsvc.retino.validate import validate_bytes, validate_path
from feedsvc.retino.xmlstream import FeedReader, Refused

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "retino"
GOOD = (FIXTURES / "two_orders.xml").read_bytes()
NOW = datetime(2026, 6, 9, 18, 0, 0)
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
ORDER = GOOD[GOOD.index(b"<ORDER>"):GOOD.index(b"</ORDER>") + len(b"</ORDER>")]


def cli(path, *args):
    result = CliRunner().invoke(validate_command, [str(path), "--days", "100000", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def write(tmp_path, data: bytes, name="feed.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def codes(report):
    return {f.code for f in report.findings}


# -- 1. a feed cut short is never valid --------------------------------------------------------------

@pytest.mark.parametrize("parallel", [False, True], ids=["one-pass", "xsd-in-a-child"])
def test_every_cut_point_of_a_feed_is_refused(tmp_path, parallel):
    assert validate_path(write(tmp_path, GOOD), now=NOW, parallel=parallel).valid
    step = 1 if not parallel else 5  # a child process per check: fewer cuts
    for fiftieth in range(1, 50, step):
        cut = GOOD[:len(GOOD) * fiftieth // 50]
        report = validate_path(write(tmp_path, cut), now=NOW, parallel=parallel)
        assert not report.valid and not report.well_formed, (fiftieth, cut[-40:])
        assert "WF" in codes(report) and report.errors >= 1


def test_every_cut_point_exits_2_from_the_cli(tmp_path):
    for fiftieth in range(1, 50):
        result = cli(write(tmp_path, GOOD[:len(GOOD) * fiftieth // 50]), "--json")
        assert result.exit_code == 2, (fiftieth, result.output[-300:])
        body = json.loads(result.output)
        assert body["valid"] is False and any(f["code"] == "WF" for f in body["findings"])


@pytest.mark.parametrize("document", [
    GOOD[:GOOD.index(b"</ORDER>") + len(b"</ORDER>")],  # right after a complete order
    GOOD[:GOOD.rindex(b"</ORDERS>")],  # only the final end tag is missing
    GOOD[:GOOD.rindex(b"</ORDERS>")] + b"</ORDERS",  # the final end tag itself cut
    GOOD + b"<ORDERS/>",  # a second root
    GOOD + b"trailing garbage",  # text after the root
    GOOD.replace(b"</ORDERS>", b"</ORDERS><!-- ok --></ORDERS>"),  # an extra end tag
    b"\xef\xbb\xbf" + GOOD[:-40],  # a BOM does not change anything
], ids=["after-order", "no-final-end-tag", "end-tag-cut", "second-root", "trailing-text", "extra-end-tag", "bom"])
def test_cut_and_extended_documents_are_not_well_formed(tmp_path, document):
    result = cli(write(tmp_path, document))
    assert result.exit_code == 2 and "not well-formed" in result.output and "VALID" not in result.output.replace(
        "INVALID", "")


@pytest.mark.parametrize("document, expected", [
    (b"", "empty"),
    (b"  \n\t", "empty"),
    (DECLARATION, "not well-formed"),
    (b'<?xml version="1.0"?>', "not well-formed"),
    (DECLARATION + b"<!-- just a comment -->\n", "not well-formed"),
    (b"\x00" * 100, "not well-formed"),
])
def test_documents_without_a_root_are_unreadable(tmp_path, document, expected):
    result = cli(write(tmp_path, document))
    assert result.exit_code == 2 and expected in result.output


@pytest.mark.parametrize("cut", [1, 4, 8, 30, 200])
def test_a_gzip_file_cut_short_is_unreadable(tmp_path, cut):
    packed = gzip.compress(GOOD)
    result = cli(write(tmp_path, packed[:-cut], "feed.xml.gz"))
    assert result.exit_code == 2
    assert "ends early" in result.output or "corrupt" in result.output


def test_gzip_members_and_what_follows_them(tmp_path):
    two_members = gzip.compress(GOOD[:3000]) + gzip.compress(GOOD[3000:])
    assert cli(write(tmp_path, two_members, "feed.xml.gz")).exit_code == 0
    garbage = gzip.compress(GOOD) + b"not gzip at all"
    result = cli(write(tmp_path, garbage, "feed.xml.gz"))
    assert result.exit_code == 2 and "not gzip" in result.output


def test_the_build_check_finds_an_error_in_a_cut_snapshot(tmp_path):
    """`feedsvc/build.py` publishes only when validate_path(..., max_bytes=None) has no error finding."""
    for fiftieth in (1, 25, 49):
        path = write(tmp_path, GOOD[:len(GOOD) * fiftieth // 50])
        report = validate_path(path, days=7, now=NOW, max_bytes=None)
        assert [f for f in report.findings if f.severity == "error"], fiftieth


# -- 2. DOCTYPEs and entities: decided by what the parser saw ------------------------------------------

LONG_PROLOG = b"".join(b"<!-- %s -->\n" % (b"p" * 100) for _ in range(700))  # about 75 KiB
BILLION_PARAMETER_LAUGHS = (b"<!DOCTYPE ORDERS [<!ENTITY % a \"x\">"
                            + b"".join(b"<!ENTITY % " + bytes([98 + i]) + b" \"" + (b"%" + bytes([97 + i]) + b";") * 10
                                       + b"\">" for i in range(9)) + b"]>\n")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("prolog", [
    b'<!DOCTYPE ORDERS [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n',
    b'<!DOCTYPE ORDERS SYSTEM "http://127.0.0.1:9/retino.dtd">\n',
    b'<!DOCTYPE ORDERS PUBLIC "-//X//DTD X//EN" "retino.dtd">\n',
    b'<!DOCTYPE ORDERS [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n',
    BILLION_PARAMETER_LAUGHS,
    b"<!DOCTYPE ORDERS>\n",
    LONG_PROLOG + b'<!DOCTYPE ORDERS [<!ENTITY x "y">]>\n',
    b'<?xml-stylesheet href="x.xsl"?>\n' + LONG_PROLOG + b"<!DOCTYPE ORDERS [" + b"<!ENTITY e 'v'>" * 20000 + b"]>\n",
], ids=["xxe", "external-dtd", "public-dtd", "parameter-entity", "parameter-bomb", "bare", "after-64k",
        "after-64k-huge-subset"])
def test_a_doctype_anywhere_in_the_prolog_is_refused(tmp_path, prolog):
    body = GOOD[len(DECLARATION):].replace(b"<CODE>10483</CODE>", b"<CODE>&x;</CODE>")
    document = DECLARATION + prolog + body
    before_doctype = prolog[:prolog.index(b"<!DOCTYPE")]
    line = (DECLARATION + prolog).count(b"\n") - prolog.count(b"\n") + before_doctype.count(b"\n") + 1
    for data, name in ((document, "feed.xml"), (gzip.compress(document), "feed.xml.gz")):
        result = cli(write(tmp_path, data, name), "--json")
        assert result.exit_code == 1, result.output[-400:]
        body_json = json.loads(result.output)
        refusals = [f for f in body_json["findings"] if f["code"] == "S1"]
        assert refusals and "not processed" in refusals[0]["message"] and refusals[0]["line"] == line
        assert body_json["orders"] == 0 and "root:" not in result.output


def test_a_doctype_after_a_megabyte_of_prolog_is_refused_as_well(tmp_path):
    prolog = LONG_PROLOG * 15  # over xmlstream.MAX_PROLOG_BYTES
    result = cli(write(tmp_path, DECLARATION + prolog + b"<!DOCTYPE ORDERS>\n" + GOOD[len(DECLARATION):]), "--json")
    assert result.exit_code == 1
    assert [f for f in json.loads(result.output)["findings"] if f["code"] in ("S1", "S2")]


@pytest.mark.parametrize("document", [
    GOOD.replace(b"<CODE>10483</CODE>", b"<CODE>&undeclared;</CODE>"),
    GOOD.replace(b"<ORDERS>", b"<ORDERS><!DOCTYPE ORDERS>", 1),  # a DOCTYPE after the root started
    DECLARATION + b"<!doctype ORDERS>\n" + GOOD[len(DECLARATION):],  # XML is case-sensitive
], ids=["undeclared-entity", "doctype-inside", "lowercase-doctype"])
def test_entities_and_misplaced_doctypes_are_not_well_formed(tmp_path, document):
    result = cli(write(tmp_path, document))
    assert result.exit_code == 2 and "not well-formed" in result.output


def test_xinclude_and_schema_hints_are_never_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    document = GOOD.replace(
        b"<ORDERS>", b'<ORDERS xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                     b'xsi:noNamespaceSchemaLocation="' + str(secret).encode() + b'">', 1).replace(
        b"<LANGUAGE>IT</LANGUAGE>",
        b'<LANGUAGE>IT</LANGUAGE><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="'
        + str(secret).encode() + b'" parse="text"/>', 1)
    result = cli(write(tmp_path, document), "--json")
    assert result.exit_code == 1 and "TOP-SECRET" not in result.output
    messages = [f["message"] for f in json.loads(result.output)["findings"] if f["code"] == "XSD"]
    assert any("include" in m for m in messages)


def test_processing_instructions_comments_and_cdata_change_nothing(tmp_path):
    document = DECLARATION + b'<?xml-stylesheet type="text/xsl" href="feed.xsl"?>\n<!-- made by hand -->\n' + \
        GOOD[len(DECLARATION):].replace(b"<NAME>Marco Bianchi</NAME>", b"<NAME>Marco<?pi x?> Bianchi<!--c--></NAME>") \
        .replace(b"<WITH_VAT>89.00</WITH_VAT>", b"<WITH_VAT><![CDATA[89.00]]></WITH_VAT>")
    report = validate_bytes(document, now=NOW)
    assert report.valid and report.orders == 2 and report.warnings == 0


HOSTILE = {
    "doctype-in-gzip": gzip.compress(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"),
    "utf16-no-bom": GOOD.decode().encode("utf-16-le"),
    "utf32": GOOD.decode().encode("utf-32"),
    "latin1-bytes": GOOD.replace(b"Marco", b"M\xe0rco"),
    "nul-in-text": GOOD.replace(b"Marco", b"Ma\x00rco"),
    "control-char-ref": GOOD.replace(b"Marco", b"Ma&#1;rco"),
    "deep-300": b"<ORDERS>" + b"<a>" * 300 + b"</a>" * 300 + b"</ORDERS>",
    "root-order": ORDER,
    "namespaced-root": b'<r:ORDERS xmlns:r="urn:x">' + ORDER + b"</r:ORDERS>",
    "huge-attribute": b'<ORDERS a="' + b"v" * 11_000_000 + b'"/>',
    "attribute-flood": b"<ORDERS" + b"".join(b' a%d="x"' % i for i in range(3000)) + b"/>",
    "namespace-flood": b"<ORDERS" + b"".join(b' xmlns:p%d="urn:%d"' % (i, i) for i in range(3000)) + b"/>",
    "text-in-root": b"<ORDERS>some text" + ORDER + b"more</ORDERS>",
    "only-declaration-and-bom": b"\xef\xbb\xbf" + DECLARATION,
    "binary": bytes(range(256)) * 10,
    "huge-numbers": GOOD.replace(b"<WITHOUT_VAT>72.95<", b"<WITHOUT_VAT>" + b"9" * 300 + b".00<", 1).replace(
        b"<VAT_RATE>22<", b"<VAT_RATE>9E+999999<").replace(b"<AMOUNT>1<", b"<AMOUNT>1E+999999<"),
    "gzip-of-garbage": gzip.compress(b"\x00\x01\x02" * 1000),
    "not-gzip-after-magic": b"\x1f\x8b" + b"\x00" * 50,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_no_input_ends_in_a_traceback(tmp_path, name):
    path = write(tmp_path, HOSTILE[name], "feed.xml.gz" if HOSTILE[name][:2] == b"\x1f\x8b" else "feed.xml")
    for extra in ([], ["--json"]):
        result = cli(path, *extra)
        assert result.exit_code in (1, 2), (name, result.output[-300:])
        if extra:
            body = json.loads(result.output.strip().splitlines()[-1])
            assert body["valid"] is False
        else:
            lines = [line for line in result.output.splitlines() if line.startswith("feedsvc validate:")]
            assert result.exit_code == 1 or len(lines) == 1 or "not well-formed" in result.output


def test_lxml_with_the_iterparse_entity_fix_is_required():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [pin for pin in dependencies if pin.startswith("lxml")] == ["lxml>=6.1"]
    assert lxml.etree.LXML_VERSION >= (6, 1)


# -- 3. memory stays flat: the tree, the findings, the duplicate rules --------------------------------------

def test_the_tree_never_holds_more_than_a_chunk_of_strays():
    flood = b"<X/>" * 100_000
    document = DECLARATION + b"<ORDERS>" + ORDER + flood + ORDER.replace(b"10483", b"20483") + flood + b"</ORDERS>"
    import io
    reader = FeedReader(io.BytesIO(document))
    sizes = [len(order.getparent()) for order in reader.orders()]
    assert len(sizes) == 2 and max(sizes) < xmlstream.CHUNK // 4
    assert reader.stray_count == 200_000 and len(reader.strays) == xmlstream.KEPT_STRAYS
    assert len(reader.root) <= 3  # only what the last chunk added


# The limits are checked between chunks: an order passes them by up to one chunk before it is stopped.
@pytest.mark.parametrize("document, fragment", [
    (b"<ORDERS><ORDER>" + b"<X/>" * (2 * xmlstream.MAX_ORDER_NODES) + b"</ORDER></ORDERS>", "elements"),
    (b"<ORDERS><ORDER>" + b'<X a="1" b="2"/>' * 10 * xmlstream.MAX_ORDER_ATTRIBUTES + b"</ORDER></ORDERS>",
     "attributes"),
    (b"<ORDERS><ORDER" + b"".join(b' a%d="1"' % i for i in range(1500)) + b"/></ORDERS>", "attributes"),
    (b"<ORDERS><ORDER>" + (b"<CODE>" + b"x" * 9_000_000 + b"</CODE>") * 2 + b"</ORDER></ORDERS>", "MiB"),
], ids=["many-elements", "many-attributes", "attribute-flood", "huge-texts"])
def test_an_oversized_order_is_refused(document, fragment):
    report = validate_bytes(document, now=NOW)
    refusals = [f for f in report.findings if f.code == "S2"]
    assert not report.valid and refusals and fragment in refusals[0].message


def test_findings_are_capped_per_rule_with_exact_counts(tmp_path):
    sloppy = ORDER.replace(b"<WITH_VAT>89.00</WITH_VAT>", b"<WITH_VAT>89.0</WITH_VAT>", 1).replace(
        b"<LANGUAGE>IT</LANGUAGE>", b"<LANGUAGE>IT</LANGUAGE><JUNK/>").replace(
        b"<PACKAGE_NUMBER>084012345678912</PACKAGE_NUMBER>", b"").replace(
        b"<PACKAGE_NUMBER>084012345678913</PACKAGE_NUMBER>", b"")
    orders = 3 * FINDINGS_PER_RULE // 2
    document = DECLARATION + b"<ORDERS>" + b"".join(
        sloppy.replace(b"<CODE>10483</CODE>", b"<CODE>%d</CODE>" % i).replace(
            b"<ORDER_ID>132_56695c3c0a3be", b"<ORDER_ID>%d" % i) for i in range(orders)) + b"</ORDERS>"
    for parallel in (False, True):
        report = validate_path(write(tmp_path, document), days=100000, now=NOW, parallel=parallel)
        kept = {code: sum(1 for f in report.findings if f.code == code) for code in ("F1", "XSD")}
        assert kept == {"F1": FINDINGS_PER_RULE, "XSD": FINDINGS_PER_RULE}
        assert report.errors == orders and report.warnings == orders
        assert dict(report.omitted) == {("F1", "warning"): orders - FINDINGS_PER_RULE,
                                        ("XSD", "error"): orders - FINDINGS_PER_RULE,
                                        ("P1", "info"): orders - FINDINGS_PER_RULE}
        assert report.without_package == orders
    result = cli(write(tmp_path, document), "--json")
    body = json.loads(result.output)
    assert result.exit_code == 1 and body["errors"] == orders and len(body["findings"]) == 2 * FINDINGS_PER_RULE
    assert {(o["code"], o["count"]) for o in body["omitted"]} == {("F1", orders - FINDINGS_PER_RULE),
                                                                  ("XSD", orders - FINDINGS_PER_RULE)}
    human = cli(write(tmp_path, document)).output
    assert f"and {orders - 20} more XSD findings" in human


def test_duplicate_rules_stay_exact_when_their_memory_moves_to_disk():
    seen = SeenValues(in_memory=3)
    assert [seen.earlier(v, i) for i, v in enumerate("abcdab")] == [None, None, None, None, (0,), (1,)]
    assert len(seen) == 4 and seen.earlier("e", 9) is None and seen.earlier("e", 10) == (9,)
    seen.close()

    order = lxml.etree.fromstring(ORDER)
    checker = OrderChecker(now=NOW)
    for seen in (checker.codes, checker.order_ids, checker.packages):
        seen.in_memory = 5
    lines = {}
    for index in range(1, 13):
        order.find("CODE").text = str(index % 10)
        order.find("ORDER_ID").text = f"id-{index}"
        order.find("CODE").sourceline = lines.setdefault(index % 10, 100 + index)
        found = [f for f in checker.check(order, index) if f.code == "D1"]
        assert (index > 10) == bool(found), index
        if found:
            assert found[0].message.endswith(f"on line {100 + index - 10}")
    assert checker.codes._db is not None  # it did move to disk
    checker.close()


def test_refusals_stop_the_reader_with_a_line():
    import io
    reader = FeedReader(io.BytesIO(b"<ORDERS>\n\n<ORDER" + b' a="1"' * 2000 + b"/></ORDERS>"))
    with pytest.raises(Refused) as refused:
        list(reader.orders())
    assert refused.value.code == "S2" and refused.value.line == 3
