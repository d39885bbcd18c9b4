"""Storeden country values → ISO 3166-1 alpha-2 codes for COUNTRY.

Storeden stores an address's `country` as a numeric UID and documents no
table for it. Lookup order, first hit wins:

1. the operator's table, FEEDSVC_COUNTRY_MAP: a JSON object {"<uid>": "<ISO>"};
2. the shop's own `/countries/list.json`, when it answers (the sync fetches
   and caches it; `parse_country_list` reads its entries);
3. the table shipped in feedsvc/data/storeden_countries.json;
4. a value that already is a two-letter ISO code passes through upper-cased,
   with the usual non-ISO habits fixed (UK → GB, EL → GR);
5. FEEDSVC_DEFAULT_COUNTRY, with a warning, so a guess is never silent.

The shipped table holds ONLY what the documents evidence: {"118": "IT"}, from
the Taxes page's "Italian Vat" profile. Storeden's other UIDs are unknown to
us (the Orders document even pairs 119 with a New York address while the
Taxes page puts 119 in an "EU 22%" profile), so no further UID is guessed
here; shops add theirs with FEEDSVC_COUNTRY_MAP or get them from the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pycountry

NON_ISO_HABITS = {"UK": "GB", "EL": "GR"}
_UID_KEYS = ("uid", "id", "country_uid", "countryUID", "UID")
_ISO_KEYS = ("iso_code", "iso", "code", "iso2", "alpha2", "alpha_2", "country_code")
_LIST_KEYS = ("countries", "list", "data", "items")


def is_iso_country(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code (any case)."""
    return (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha()
            and pycountry.countries.get(alpha_2=code.upper()) is not None)


def iso_country(value: object) -> str | None:
    """The ISO alpha-2 code a two-letter value stands for (UK → GB, EL → GR), else None."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    code = NON_ISO_HABITS.get(code, code)
    return code if is_iso_country(code) else None


def _uid(value: object) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    uid = str(value).strip()
    return uid or None


def _entries(payload: Any) -> Iterable[tuple[str | None, Any]]:
    """(key or None, entry) pairs from a list, an object keyed by uid, or either inside a wrapper."""
    if isinstance(payload, dict):
        for key in _LIST_KEYS:
            if isinstance(payload.get(key), (list, dict)):
                return _entries(payload[key])
        return list(payload.items())
    if isinstance(payload, list):
        return [(None, entry) for entry in payload]
    return []


def parse_country_list(payload: Any) -> dict[str, str]:
    """A {uid: ISO} table from a /countries/list.json answer, whatever its exact shape.

    Accepts entries like {"uid": "118", "iso_code": "IT"}, {"id": 118, "iso": "it"},
    {"uid": "118", "code": "IT"}, an object keyed by uid holding such entries,
    or an already-parsed {uid: ISO} table. Entries without a usable uid or a
    real ISO code are skipped.
    """
    table: dict[str, str] = {}
    for key, entry in _entries(payload):
        if isinstance(entry, str):
            uid, iso = _uid(key), iso_country(entry)
        elif isinstance(entry, dict):
            uid = next((u for u in (_uid(entry.get(k)) for k in _UID_KEYS) if u), None) or _uid(key)
            iso = next((c for c in (iso_country(entry.get(k)) for k in _ISO_KEYS) if c), None)
        else:
            continue
        if uid and iso:
            table[uid] = iso
    return table


def load_override_file(path: Path) -> dict[str, str]:
    """The operator's table (FEEDSVC_COUNTRY_MAP); ValueError saying why when it is not a JSON {uid: ISO} object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object such as {{\"118\": \"IT\"}}")
    table = {}
    for uid, iso in data.items():
        code = iso_country(iso)
        if code is None:
            raise ValueError(f"{path}: {uid!r} maps to {iso!r}, not an ISO 3166-1 alpha-2 code")
        table[str(uid).strip()] = code
    return table


def shipped_table() -> dict[str, str]:
    """The table shipped with feedsvc (evidenced UIDs only; see the module docstring)."""
    source = resources.files("feedsvc").joinpath("data", "storeden_countries.json")
    data = json.loads(source.read_text(encoding="utf-8"))
    return {str(uid): code for uid, iso in data.items() if (code := iso_country(iso))}


class CountryResolver:
    """Resolves an address's `country` value to an ISO code, with a warning when it had to guess."""

    def __init__(self, overrides: Mapping[str, str] | None = None, fetched: Mapping[str, str] | None = None, *,
                 default: str):
        default_code = iso_country(default)
        if default_code is None:
            raise ValueError(f"the default country {default!r} is not an ISO 3166-1 alpha-2 code")
        self.default = default_code
        self.overrides = {}
        for uid, iso in (overrides or {}).items():
            code = iso_country(iso)
            if code is None:
                raise ValueError(f"{uid!r} maps to {iso!r}, not an ISO alpha-2 code")
            self.overrides[str(uid).strip()] = code
        self.fetched = {str(uid).strip(): code for uid, iso in (fetched or {}).items()
                        if (code := iso_country(iso))}
        self.shipped = shipped_table()
        self._tables = (self.overrides, self.fetched, self.shipped)
        self._cache: dict[str, tuple[str, str | None]] = {}

    def resolve(self, value: object) -> tuple[str, str | None]:
        """(ISO alpha-2, None) when known, else (the default, a warning naming the value)."""
        raw = _uid(value) or ""
        cached = self._cache.get(raw)
        if cached is not None:
            return cached
        result = self._resolve(raw)
        if len(raw) <= 32 and len(self._cache) < 10_000:  # UIDs and codes repeat; junk need not be kept
            self._cache[raw] = result
        return result

    def _resolve(self, raw: str) -> tuple[str, str | None]:
        for table in self._tables:
            code = table.get(raw)
            if code:
                return code, None
        code = iso_country(raw)
        if code:
            return code, None
        shown = repr(raw[:20] + ("..." if len(raw) > 20 else "")) if raw else "(empty)"
        return self.default, (f"country {shown} is not a known Storeden country UID or ISO code; "
                              f"used {self.default} (map it with FEEDSVC_COUNTRY_MAP)")
