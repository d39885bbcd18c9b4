"""Storeden country UIDs to ISO 3166-1 alpha-2.

Storeden stores an address's country as a numeric UID and documents no table.
The only UID the documents tie to a country is 118 (the Taxes page's "Italian
Vat" profile), so that is all the shipped table claims. Three better sources
come first: the operator's own table (FEEDSVC_COUNTRY_MAP, a JSON object), and
the shop's `/countries/list.json` when it answers (fetched by the sync once a
day). A value that is already a two-letter ISO code passes through. Anything
else falls back to FEEDSVC_DEFAULT_COUNTRY with a warning, so a wrong guess is
never silent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pycountry

SHIPPED_TABLE = Path(__file__).resolve().parent.parent / "data" / "storeden_countries.json"
NON_ISO_HABITS = {"UK": "GB", "EL": "GR"}
_UID_KEYS = ("uid", "id", "country_uid", "UID")
_ISO_KEYS = ("iso_code", "iso", "code", "iso2", "alpha2", "country_code")


def is_iso_country(code: str) -> bool:
    return len(code) == 2 and code.isascii() and code.isalpha() and \
        pycountry.countries.get(alpha_2=code.upper()) is not None


def parse_country_list(payload: object) -> dict[str, str]:
    """A {uid: ISO} table from a /countries/list.json answer, whatever its exact shape."""
    entries = payload.values() if isinstance(payload, dict) else payload
    table: dict[str, str] = {}
    if not isinstance(entries, (list, tuple)) and not hasattr(entries, "__iter__"):
        return table
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        uid = next((entry[k] for k in _UID_KEYS if entry.get(k) not in (None, "")), None)
        iso = next((entry[k] for k in _ISO_KEYS if isinstance(entry.get(k), str)), None)
        if uid is not None and iso and is_iso_country(iso.strip()):
            table[str(uid).strip()] = iso.strip().upper()
    return table


def load_table(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k).strip(): str(v).strip().upper() for k, v in data.items()}


class CountryResolver:
    """Resolves an address's `country` value to an ISO code and, when it had to guess, a warning."""

    def __init__(self, overrides: dict[str, str] | None = None, fetched: dict[str, str] | None = None,
                 default: str = "IT"):
        self.default = default
        self.table: dict[str, str] = {}
        self.table.update(load_table(SHIPPED_TABLE))
        self.table.update(fetched or {})
        self.table.update(overrides or {})

    def resolve(self, value: object) -> tuple[str, str | None]:
        raw = "" if value is None or isinstance(value, (dict, list, bool)) else str(value).strip()
        if raw in self.table:
            return self.table[raw], None
        upper = raw.upper()
        if upper in NON_ISO_HABITS:
            return NON_ISO_HABITS[upper], None
        if is_iso_country(upper):
            return upper, None
        shown = raw[:20] if raw else "(empty)"
        return self.default, f"country {shown!r} is not a known Storeden country UID; used {self.default}"
