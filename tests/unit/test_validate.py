"""The feed checker: every rule broken once (code and line asserted), hostile documents, the CLI."""

import gzip
import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from feedsvc.commands.validate import validate_command
from feedsvc.retino.rules import OrderChecker, parse_date
from feedsvc.retino.validate import load_schema, validate_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "retino"
GOOD = (FIXTURES / "two_orders.xml").read_text(encoding="utf-8")
NOW = datetime(2026, 6, 9, 18, 0, 0)  # the fixture's orders are dated 2026-06-09


def check(text: str, **kw):
    return validate_bytes(text.encode("utf-8"), now=NOW, **kw)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    position = -1
    for _ in range(occurrence):
        position = text.index(needle, position + 1)
    return text[:position].count("\n") + 1


def findings(report, code):
    return [f for f in report.findings if f.code == code]


def test_good_feeds_are_valid():
    report = check(GOOD)
    assert report.valid and report.orders == 2 and report.items == 9 and report.errors == report.warnings == 0
    assert validate_bytes((FIXTURES / "seed_minimal.xml").read_bytes(), now=datetime(2024, 2, 21)).valid


def test_bundled_schema_copies_are_identical():
    root = Path(__file__).resolve().parents[2]
    assert (root / "schema" / "retino-feed.xsd").read_bytes() == \
        (root / "feedsvc" / "schema" / "retino-feed.xsd").read_bytes()


def test_xsd_loads_in_xmlschema_too():
    import xmlschema
    schema = xmlschema.XMLSchema(str(FIXTURES.parents[2] / "schema" / "retino-feed.xsd"))
    assert schema.is_valid(str(FIXTURES / "two_orders.xml"))


# (rule, severity, old text, new text, text whose line the finding must point at, occurrence)
BREAKS = [
    ("T1", "error", "<VAT>16.05</VAT>", "<VAT>16.06</VAT>", "<UNIT_PRICE>", 1),
    ("T2", "error", "<WITH_VAT>37.50</WITH_VAT>", "<WITH_VAT>38.50</WITH_VAT>", "<TOTAL_PRICE>", 3),
    ("T3", "error",
     "<TOTAL_PRICE>\n      <WITH_VAT>134.00</WITH_VAT>\n"
     "      <WITHOUT_VAT>109.85</WITHOUT_VAT>\n      <VAT>24.15</VAT>",
     "<TOTAL_PRICE>\n      <WITH_VAT>135.00</WITH_VAT>\n"
     "      <WITHOUT_VAT>110.85</WITHOUT_VAT>\n      <VAT>24.15</VAT>",
     "<TOTAL_PRICE>", 1),
    ("T4", "warning", "<VAT_RATE>22</VAT_RATE>", "<VAT_RATE>10</VAT_RATE>", "<UNIT_PRICE>", 1),
    ("F1", "warning", "<WITH_VAT>89.00</WITH_VAT>", "<WITH_VAT>89.0</WITH_VAT>", "<WITH_VAT>89.0<", 1),
    ("D1", "error", "<CODE>10484</CODE>", "<CODE>10483</CODE>", "<CODE>10483</CODE>", 2),
    ("D2", "warning", "<PACKAGE_NUMBER>084012345678901</PACKAGE_NUMBER>",
     "<PACKAGE_NUMBER>084012345678912</PACKAGE_NUMBER>", "<PACKAGE_NUMBER>084012345678912", 2),
    ("DT1", "error", "<DATE>2026-06-09", "<DATE>2026-02-30", "<DATE>2026-02-30", 1),
    ("DT2", "warning", "<DATE>2026-06-09", "<DATE>2026-05-01", "<DATE>2026-05-01", 1),
    ("P2", "error", "<PACKAGE_NUMBER>084012345678901</PACKAGE_NUMBER>", "<PACKAGE_NUMBER> </PACKAGE_NUMBER>",
     "<PACKAGE_NUMBER> <", 1),
    ("P3", "warning", "<PACKAGE_NUMBER>084012345678901</PACKAGE_NUMBER>",
     "<PACKAGE_NUMBER>0840123 45678901</PACKAGE_NUMBER>", "<PACKAGE_NUMBER>0840123 ", 1),
    ("G1", "error", "<COUNTRY>IT</COUNTRY>", "<COUNTRY>UK</COUNTRY>", "<COUNTRY>UK", 1),
    ("G2", "error", "<CODE>EUR</CODE>", "<CODE>EUX</CODE>", "<CODE>EUX", 1),
    ("G3", "warning", "<LANGUAGE>IT</LANGUAGE>", "<LANGUAGE>QQ</LANGUAGE>", "<LANGUAGE>QQ", 1),
    ("M1", "warning", "<EMAIL>marco.bianchi@example.it</EMAIL>", "<EMAIL>marco.bianchi</EMAIL>",
     "<EMAIL>marco.bianchi<", 1),
    ("I1", "warning", "<TYPE>shipping</TYPE>", "<TYPE>billing</TYPE>", "<ORDER_ITEMS>", 1),
    ("I2", "warning", "<TYPE>discount</TYPE>", "<TYPE>product</TYPE>", "<ITEM>", 3),
    ("I3", "warning", "<NAME>Cash on Delivery</NAME>", "<NAME>Contrassegno</NAME>", "<NAME>Contrassegno", 1),
    ("X1", "warning", "<NAME>Marco Bianchi</NAME>", "<NAME>Marco Bianchi\u0085</NAME>", "<NAME>Marco Bianchi\u0085", 1),
    ("XSD", "error", "<CURRENCY>", "<CURRENCY><CODE>EUR</CODE></CURRENCY><CURRENCY>",
     "<CURRENCY><CODE>EUR</CODE></CURRENCY><CURRENCY>", 1),
]


@pytest.mark.parametrize("rule, severity, old, new, where, occurrence", BREAKS, ids=[b[0] for b in BREAKS])
def test_each_rule_catches_its_break(rule, severity, old, new, where, occurrence):
    assert not findings(check(GOOD), rule)
    broken = GOOD.replace(old, new, 1)
    assert broken != GOOD
    report = check(broken)
    hits = findings(report, rule)
    assert hits, [f.as_dict() for f in report.findings]
    assert hits[0].severity == severity
    assert hits[0].line == line_of(broken, where, occurrence)
    assert report.valid is (severity != "error")


def test_missing_package_number_depends_on_profile():
    without = GOOD.replace("<PACKAGE_NUMBER>084012345678901</PACKAGE_NUMBER>", "")
    full = check(without)
    assert full.valid and full.without_package == 1
    assert [f.severity for f in findings(full, "P1")] == ["info"]
    tracking = check(without, profile="tracking")
    assert not tracking.valid and [f.severity for f in findings(tracking, "P1")] == ["error"]
    assert findings(tracking, "P1")[0].order_code == "10484"


def test_findings_carry_the_order_code():
    report = check(GOOD.replace("<EMAIL>marco.bianchi@example.it</EMAIL>", "<EMAIL>nope</EMAIL>", 1))
    assert {f.order_code for f in findings(report, "M1")} == {"10483"}


def test_empty_feed_is_valid():
    report = check('<?xml version="1.0" encoding="UTF-8"?>\n<ORDERS></ORDERS>\n')
    assert report.valid and report.orders == 0


XXE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE ORDERS [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<ORDERS><ORDER><ORDER_ID>&x;</ORDER_ID></ORDER></ORDERS>"""
BOMB = ("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        + "".join(f"<!ENTITY lol{i} \"{('&lol' + str(i - 1) + ';') * 10 if i > 1 else '&lol;' * 10}\">"
                  for i in range(1, 10))
        + "]>\n<ORDERS><ORDER><CODE>&lol9;</CODE></ORDER></ORDERS>")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("document", [XXE, BOMB], ids=["xxe", "billion-laughs"])
def test_entity_attacks_are_refused_quickly(document, tmp_path):
    path = tmp_path / "evil.xml"
    path.write_text(document)
    result = CliRunner().invoke(validate_command, [str(path), "--json"])
    assert result.exit_code == 1
    refusals = [f for f in json.loads(result.output)["findings"] if f["code"] == "S1"]
    assert refusals and "not processed" in refusals[0]["message"] and refusals[0]["line"] == 2
    assert "root:" not in result.output


@pytest.mark.parametrize("content, expected", [
    (GOOD[: len(GOOD) // 2], "not well-formed"),
    ("", "empty"),
    ("this is not xml at all", "not well-formed"),
])
def test_unreadable_documents_exit_2(tmp_path, content, expected):
    path = tmp_path / "feed.xml"
    path.write_text(content)
    result = CliRunner().invoke(validate_command, [str(path)])
    assert result.exit_code == 2
    assert expected in result.output


def test_utf16_document_is_an_error(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_bytes(GOOD.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"))
    result = CliRunner().invoke(validate_command, [str(path), "--json"])
    assert result.exit_code == 1
    assert "UTF-16" in json.loads(result.output)["findings"][0]["message"]


def test_size_cap(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(GOOD)
    result = CliRunner().invoke(validate_command, [str(path), "--max-bytes", "1000"])
    assert result.exit_code == 2 and "over the limit" in result.output


def test_gzip_bomb_is_capped(tmp_path):
    path = tmp_path / "feed.xml.gz"
    path.write_bytes(gzip.compress(b"<ORDERS>" + b" " * 5_000_000 + b"</ORDERS>"))
    result = CliRunner().invoke(validate_command, [str(path), "--max-bytes", "100000"])
    assert result.exit_code == 2 and "over the limit" in result.output


def test_gzip_file_and_stdin(tmp_path):
    path = tmp_path / "feed.xml.gz"
    path.write_bytes(gzip.compress(GOOD.encode()))
    assert CliRunner().invoke(validate_command, [str(path), "--days", "100000"]).exit_code == 0
    result = CliRunner().invoke(validate_command, ["-", "--days", "100000"], input=GOOD)
    assert result.exit_code == 0 and "2 orders" in result.output and "VALID" in result.output


def test_json_output_shape(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(GOOD.replace("<COUNTRY>IT</COUNTRY>", "<COUNTRY>XX</COUNTRY>", 1))
    result = CliRunner().invoke(validate_command, [str(path), "--json", "--days", "100000"])
    body = json.loads(result.output)
    assert result.exit_code == 1
    assert set(body) >= {"valid", "orders", "errors", "warnings", "findings"}
    assert body["valid"] is False and body["orders"] == 2 and body["errors"] == 1
    assert set(body["findings"][0]) == {"code", "severity", "line", "order_code", "path", "message", "hint"}


def test_human_output_groups_by_order_with_hints(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text(GOOD.replace("<NAME>Cash on Delivery</NAME>", "<NAME>Dobírka</NAME>"))
    result = CliRunner().invoke(validate_command, [str(path), "--days", "100000"])
    assert result.exit_code == 0
    assert "order 10483" in result.output and "I3" in result.output and "fix:" in result.output
    assert "2 orders, 9 items, 0 errors, 1 warnings" in result.output


def test_schema_is_cached_and_strict():
    schema = load_schema()
    assert schema is load_schema()
    doc = etree.fromstring(GOOD.replace("<ORDER>", "<ORDER extra=\"1\">", 1).encode()[38:])
    assert not schema.validate(doc)


def test_feed_level_on_stored_values_finds_what_the_whole_document_check_finds():
    # Order 10484 reuses a parcel of order 10483 and is dated two days ahead: two feed-level findings.
    text = GOOD.replace("<PACKAGE_NUMBER>084012345678901<", "<PACKAGE_NUMBER>084012345678913<").replace(
        "<DATE>2026-06-09 13:13:20<", "<DATE>2026-06-11 13:13:20<")
    whole = {(f.order_code, f.code, f.message) for f in check(text).findings if f.feed_level}
    assert {(order, code) for order, code, _ in whole} == {("10484", "D2"), ("10484", "DT2")}

    checker = OrderChecker(now=NOW)
    stored = set()
    for order in etree.fromstring(text.encode("utf-8")).iter("ORDER"):
        values = {"code": order.findtext("CODE"), "date": order.findtext("DATE"),
                      "packages": [p.text for p in order.iter("PACKAGE_NUMBER")]}
        stored |= {(f.order_code, f.code, f.message) for f in checker.feed_level(**values)}
    assert stored == whole


@pytest.mark.parametrize("value, expected", [
    ("2026-06-09 18:00:00", datetime(2026, 6, 9, 18, 0, 0)),
    (" 2026-06-09 18:00:00\n", datetime(2026, 6, 9, 18, 0, 0)),
    ("2026-02-30 10:00:00", None),
    ("2026-06-09T18:00:00", None),
    ("2026-6-9 18:00:00", None),
    ("2026-06-09 18:00", None),
    ("2026-06-09 18:00:00.5", None),
    ("2026-06-09 24:00:00", None),
])
def test_dates_must_be_written_exactly_as_retino_reads_them(value, expected):
    assert parse_date(value) == expected


def test_long_text_is_reported_on_elements_but_not_in_comments():
    commented = GOOD.replace("<NAME>Marco Bianchi</NAME>", f"<NAME>Marco Bianchi</NAME><!-- {'x' * 300} -->", 1)
    assert not findings(check(commented), "X1")
    long_name = GOOD.replace("<NAME>Marco Bianchi</NAME>", f"<NAME>Marco {'B' * 300}</NAME>", 1)
    hits = findings(check(long_name), "X1")
    assert len(hits) == 1 and "300" not in hits[0].message and "306 characters" in hits[0].message
    assert hits[0].line == line_of(long_name, "<NAME>Marco BBB")


def test_repeated_prices_give_one_finding_per_place():
    """Money texts are parsed once per distinct text; every element with it must still be reported."""
    sloppy = GOOD.replace(".00</", ".0</")
    hits = findings(check(sloppy), "F1")
    lines = [number for number, line in enumerate(sloppy.splitlines(), 1) if ".0</" in line]
    assert len(lines) == GOOD.count(".00</") > 10
    assert sorted(f.line for f in hits) == lines
