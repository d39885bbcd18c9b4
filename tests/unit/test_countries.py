"""Country resolution: override file > the shop's list > shipped table > ISO pass-through > default + warning."""

import json

import pytest

from feedsvc.retino.countries import (
    CountryResolver,
    is_iso_country,
    load_override_file,
    parse_country_list,
    shipped_table,
)


def test_the_shipped_table_claims_only_the_evidenced_uid():
    assert shipped_table() == {"118": "IT"}


@pytest.mark.parametrize("value", ["118", 118, " 118 "])
def test_shipped_uid_resolves_without_warning(value):
    assert CountryResolver(default="IT").resolve(value) == ("IT", None)


def test_lookup_order_override_then_fetched_then_shipped():
    both = CountryResolver(overrides={"118": "SM"}, fetched={"118": "VA", "119": "DE"}, default="IT")
    assert both.resolve("118") == ("SM", None)
    assert both.resolve("119") == ("DE", None)
    assert CountryResolver(fetched={"118": "VA"}, default="IT").resolve("118") == ("VA", None)


@pytest.mark.parametrize("value, expected", [
    ("DE", "DE"), ("de", "DE"), (" cz ", "CZ"), ("UK", "GB"), ("uk", "GB"), ("EL", "GR"), ("US", "US"),
])
def test_two_letter_iso_codes_pass_through_upper_cased(value, expected):
    assert CountryResolver(default="IT").resolve(value) == (expected, None)


@pytest.mark.parametrize("value, shown", [
    ("119", "'119'"), ("424242", "'424242'"), ("XX", "'XX'"), ("ZZ", "'ZZ'"), ("ITA", "'ITA'"),
    ("Italia", "'Italia'"), (None, "(empty)"), ("", "(empty)"), ({"uid": 1}, "(empty)"), (True, "(empty)"),
])
def test_anything_else_gets_the_default_and_a_warning_naming_it(value, shown):
    code, warning = CountryResolver(default="DE").resolve(value)
    assert code == "DE"
    assert warning.startswith(f"country {shown} is not a known Storeden country UID or ISO code; used DE")
    assert "FEEDSVC_COUNTRY_MAP" in warning


def test_warnings_stay_short_for_huge_values():
    _, warning = CountryResolver(default="IT").resolve("9" * 100_000)
    assert len(warning) < 200


def test_a_default_that_is_not_a_country_is_refused():
    with pytest.raises(ValueError, match="'XX' is not an ISO 3166-1 alpha-2 code"):
        CountryResolver(default="XX")


def test_override_values_must_be_iso_codes_but_fetched_junk_is_dropped():
    with pytest.raises(ValueError, match="'118' maps to 'Italy'"):
        CountryResolver(overrides={"118": "Italy"}, default="IT")
    resolver = CountryResolver(fetched={"500": "Italy", "501": "uk"}, default="IT")
    assert resolver.resolve("500")[0] == "IT" and resolver.resolve("500")[1] is not None
    assert resolver.resolve("501") == ("GB", None)


@pytest.mark.parametrize("payload, expected", [
    ([{"uid": "118", "iso_code": "IT", "name": "Italia"}], {"118": "IT"}),
    ([{"id": 119, "iso": "sm"}], {"119": "SM"}),
    ([{"uid": "7", "code": "DE"}], {"7": "DE"}),
    ({"118": {"iso_code": "IT"}, "120": {"iso_code": "FR"}}, {"118": "IT", "120": "FR"}),
    ({"118": "IT", "121": "uk"}, {"118": "IT", "121": "GB"}),
    ({"countries": [{"uid": 1, "iso_code": "AT"}]}, {"1": "AT"}),
    ([{"uid": "1", "iso_code": "XX"}, {"iso_code": "IT"}, "IT", None, {"uid": True, "iso": "IT"},
      {"uid": "2", "iso_code": 5}, {"uid": "3", "name": "Italia"}], {}),
    (None, {}), ("IT", {}), (42, {}), ([], {}),
])
def test_parse_country_list_shapes(payload, expected):
    assert parse_country_list(payload) == expected


def test_parse_country_list_reads_the_simulators_answer():
    from feedsvc.storeden.shop import COUNTRY_UIDS  # the shape feedsvc sandbox serves

    payload = [{"uid": uid, "iso_code": iso, "name": iso} for uid, iso in COUNTRY_UIDS.items()]
    assert parse_country_list(payload) == {str(uid): iso for uid, iso in COUNTRY_UIDS.items()}


def test_override_file(tmp_path):
    path = tmp_path / "countries.json"
    path.write_text(json.dumps({"119": "it", "200": "UK"}), encoding="utf-8")
    assert load_override_file(path) == {"119": "IT", "200": "GB"}


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ('["IT"]', "must hold a JSON object"),
    ('{"119": "Italy"}', "not an ISO 3166-1 alpha-2 code"),
])
def test_bad_override_files_are_refused_saying_why(tmp_path, content, problem):
    path = tmp_path / "countries.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_override_file(path)
    assert problem in str(caught.value) and str(path) in str(caught.value)


def test_missing_override_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_override_file(tmp_path / "absent.json")


def test_is_iso_country():
    assert is_iso_country("IT") and is_iso_country("gb")
    assert not any(is_iso_country(v) for v in ("UK", "EL", "XX", "ITA", "I", "", "1T", "\u0130T"))
