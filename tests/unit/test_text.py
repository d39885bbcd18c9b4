"""Text cleaning (specs/retino-feed.md §5): whatever comes in, lxml accepts what comes out."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.retino.text import MAX_TEXT, clean

FORBIDDEN = ([chr(c) for c in range(0x09)] + ["\x0b", "\x0c"] + [chr(c) for c in range(0x0e, 0x20)]
             + ["\ufffe", "\uffff", "\ud800", "\udbff", "\udc00", "\udfff"])
C1_AND_DEL = [chr(c) for c in range(0x7f, 0xa0)]
NASTY = ["&", "&amp;", "&#0;", "&#1;", "&#xD800;", "&lt;", "\r\n", "\t", "\u2028", " ", "e\u0301", "\U0010ffff"]


@pytest.mark.parametrize("char", FORBIDDEN + C1_AND_DEL)
def test_characters_xml_forbids_and_c1_controls_are_removed(char):
    assert clean(f"Ma{char}rio") == "Mario"


def test_lxml_would_refuse_the_raw_text():
    with pytest.raises(ValueError):
        etree.Element("NAME").text = "Ma\x00rio"
    etree.Element("NAME").text = clean("Ma\x00rio")


@pytest.mark.parametrize("value, expected", [
    ("Bits &amp; holder set", "Bits & holder set"),
    ("&lt;b&gt;Sale&lt;/b&gt;", "<b>Sale</b>"),
    ("caf&eacute; &#233; &#xE9;", "café é é"),
    ("&amp;amp; stays once-escaped", "&amp; stays once-escaped"),  # unescaped once, not twice
    ("AT&T", "AT&T"),
    ("Tom & Jerry", "Tom & Jerry"),
])
def test_entities_are_decoded_once(value, expected):
    assert clean(value) == expected


@pytest.mark.parametrize("value", [
    "Guitar&amplifier bundle", "Pen&notebook set", "Rossi&copy Srl", "Caf&eacute", "A&lt B&gt C", "&ampx",
    "x&quot", "&AMP", "&copy2024", "Fish&chips", "R&D", "&", "a &", "&&", "&;", "&#;", "&#x;", "&#xZZ;", "&# 65;",
    "&#65", "&#x41", "&unknownname;", "&EACUTE;", "&1abc;", "& amp;",
])
def test_incomplete_or_unknown_references_stay_as_written(value):
    assert clean(value) == value


@pytest.mark.parametrize("value, expected", [
    ("Rossi&copy; Srl", "Rossi© Srl"),
    ("&AMP;&amp;&#38;&#x26;&#X26;", "&&&&&"),
    ("&Eacute;&eacute;", "Éé"),
    ("&#00065;&#x0041;", "AA"),
    ("&#x1F600;", "\U0001f600"),
    ("&NotEqualTilde;", "\u2242\u0338"),  # a name that stands for two characters
    ("&#150; &#128; &#x9F;", "– € Ÿ"),  # 128-159 are Windows-1252, as in HTML
    ("a&amp;amp;b", "a&amp;b"),
    ("a&amp;amp;amp;b", "a&amp;amp;b"),
    ("&amp;lt;", "&lt;"),
    ("&amp;", "&"),
    ("x&amp;", "x&"),
])
def test_complete_references_are_decoded_once(value, expected):
    assert clean(value) == expected


@pytest.mark.parametrize("value", ["&#0;", "&#x0;", "&#1;", "&#x1F;", "&#xD800;", "&#xDFFF;", "&#55296;",
                                   "&#x110000;", "&#1114112;", "&#xFFFE;", "&#xFFFF;", "&#x7F;", "&#129;",
                                   "&#x8D;", "&#99999999999999999999999999;", "&#x00000000000000000000;"])
def test_references_to_characters_xml_cannot_carry_are_dropped(value):
    assert clean(f"Ma{value}rio") == "Mario"
    assert clean(f"Mario{value}") == "Mario"


def test_reference_to_a_line_break_becomes_a_space_in_one_line_fields():
    assert clean("Via&#10;Roma&#x9;1") == "Via Roma 1"
    assert clean("Ring&#13;&#10;twice", one_line=False) == "Ring\ntwice"


def test_text_cleaned_before_is_not_decoded_again():
    once = clean("A&amp;amp;B")
    assert once == "A&amp;B"
    assert clean(once, references=False) == "A&amp;B"
    assert clean(f"{once}  x\u00e9", references=False) == "A&amp;B xé"


def test_nfc_composes_accents():
    assert clean("Forli\u0300") == "Forlì"
    assert clean("e\u0301") == "\u00e9"


@pytest.mark.parametrize("value", ["Via\tRoma\n1", "Via\r\nRoma\r1", "Via \u2028Roma\u2029 1", "  Via   Roma  1  "])
def test_one_line_fields_get_single_spaces(value):
    assert clean(value) == "Via Roma 1"


def test_multi_line_text_keeps_line_breaks_as_lf():
    assert clean("Ring\r\ntwice \n  please\r", one_line=False) == "Ring\ntwice\nplease"
    assert clean("a\tb", one_line=False) == "a\tb"


def test_cut_to_255_characters():
    assert clean("Z" * 10_000) == "Z" * MAX_TEXT
    assert len(clean("€" * 300)) == MAX_TEXT
    assert clean("x" * 254 + " yz") == "x" * 254  # no trailing space left by the cut
    assert clean("x" * 300, max_len=0) == "x" * 300
    assert clean("abcdef", max_len=3) == "abc"


def test_kept_characters():
    for value in ("\ufffd", "\U0001f600", "漢字", "עברית", "\u00a0x", "]]>", "<&>", "\"'"):
        assert clean(f"a{value}b") == f"a{value}b"


@pytest.mark.parametrize("value, expected", [(None, ""), ("", ""), (42, "42"), ("   ", ""), ("\x00\x01", "")])
def test_odd_inputs(value, expected):
    assert clean(value) == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.characters(), st.sampled_from(FORBIDDEN + C1_AND_DEL + NASTY)), max_size=400)
       .map("".join), st.booleans())
def test_any_text_becomes_valid_xml_text(value, one_line):
    result = clean(value, one_line=one_line)
    assert len(result) <= MAX_TEXT
    assert result == result.strip()
    assert "  " not in result
    if one_line:
        assert not any(c in result for c in "\r\n\t")
    element = etree.Element("NAME")
    element.text = result  # raises on anything XML 1.0 forbids
    assert etree.fromstring(etree.tostring(element, encoding="UTF-8")).text in (result, None)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300).filter(lambda s: "&" not in s))
def test_cleaning_twice_changes_nothing_without_entities(value):
    assert clean(clean(value)) == clean(value)
