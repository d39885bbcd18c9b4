"""The semantic rules of a Retino feed (specs/retino-feed.md §8.2), checked one <ORDER> at a time.

`OrderChecker.check(order_element)` returns findings for that order and keeps
the little state that spans orders (duplicate codes and package numbers).
Rule codes are stable: users and scripts match on them. A finding that depends
on other orders or on the clock is marked `feed_level`; the build keeps the
other findings with each cached order and recomputes these with `feed_level()`
from a few stored values.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import pycountry

COD_NAME = "Cash on Delivery"
_MONEY_2DP = re.compile(r"^-?[0-9]+\.[0-9]{2}$")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_SEVERAL = re.compile(r"[,;\s]")
_DAMAGE = re.compile("[\x80-\x9f\ufffd]")
_COD_WORDS = ("cash on delivery", "contrassegno", "nachnahme", "dobirka", "contre-remboursement",
              "contre remboursement", "contra reembolso", "pobranie", "utanvet", "rembours", "dobierka",
              "ramburs", "pouzece")
CENT = Decimal("0.01")
ONE = Decimal(1)

HINTS = {
    "T1": "make VAT the difference WITH_VAT - WITHOUT_VAT",
    "T2": "compute the line as UNIT_PRICE x AMOUNT after rounding the unit price",
    "T3": "make the order totals the sums of the items (put any gap in ROUNDING)",
    "T4": "check VAT_RATE against WITH_VAT and WITHOUT_VAT",
    "F1": "write money with exactly two decimals, e.g. 12.50",
    "D1": "give every order its own CODE and ORDER_ID; Retino pairs orders by CODE",
    "D2": "list each parcel's number once",
    "DT1": "write DATE as YYYY-MM-DD HH:MM:SS with a real date",
    "DT2": "check the feed window and the time zone of DATE",
    "P1": "add a PACKAGE_NUMBER once the order has shipped",
    "P2": "leave PACKAGE_NUMBER out until there is a number",
    "P3": "write one PACKAGE_NUMBER element per parcel",
    "G1": "use an ISO 3166-1 alpha-2 code such as IT, DE, GB",
    "G2": "use an ISO 4217 code such as EUR, CZK",
    "G3": "use an ISO 639-1 code such as IT, EN",
    "M1": "check the customer's e-mail address",
    "I1": "add one product line and one shipping line; one shipping and one billing line at most",
    "I2": "discounts are negative, other lines positive, AMOUNT above 0",
    "I3": "name the cash-on-delivery billing item exactly 'Cash on Delivery'",
    "X1": "keep text under 255 characters and check the text encoding",
}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" | "warning" | "info"
    line: int | None
    order_code: str | None
    path: str
    message: str
    hint: str = ""
    feed_level: bool = False  # depends on other orders or on today's date, not on this order alone

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "line": self.line,
                "order_code": self.order_code, "path": self.path, "message": self.message,
                "hint": self.hint}


# Feeds repeat the same few hundred prices and rates thousands of times; parsing each distinct
# text once saves much of the money rules' time on a large feed. Decimals are immutable: sharing is safe.
@lru_cache(maxsize=8192)
def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@lru_cache(maxsize=8192)
def _money_text(text: str) -> tuple[Decimal | None, bool]:
    """(value, written with exactly two decimals) of a money element's text."""
    stripped = text.strip()
    return _decimal(stripped), bool(_MONEY_2DP.match(stripped)) and stripped != "-0.00"


@lru_cache(maxsize=256)
def _vat_factor(rate: Decimal) -> Decimal:
    return 1 + rate / 100


def _text_of(element) -> str:
    """An element's text, "" when the element is missing or empty (like findtext)."""
    return "" if element is None else element.text or ""


def parse_date(value: str) -> datetime | None:
    """A DATE's value (YYYY-MM-DD HH:MM:SS, a real date), or None."""
    value = value.strip()
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def looks_like_cod(name: str) -> bool:
    folded = _fold(name).strip()
    return folded in ("cod", "c.o.d.", "dobirka") or any(word in folded for word in _COD_WORDS)


class OrderChecker:
    """Checks orders one by one; create one per document."""

    def __init__(self, *, profile: str = "full", days: int = 7, now: datetime | None = None):
        self.profile = profile
        self.now = now or datetime.now()
        self.oldest = self.now - timedelta(days=days + 1)
        self.newest = self.now + timedelta(hours=1)
        self.codes: dict[str, int] = {}
        self.order_ids: dict[str, int] = {}
        self.packages: dict[str, str] = {}
        self.orders = 0
        self.items = 0
        self.without_package = 0

    # -- helpers -------------------------------------------------------------
    def _add(self, out, code, severity, element, path, message, *, feed_level=False):
        out.append(Finding(code, severity, getattr(element, "sourceline", None), self._code, path,
                           message, HINTS.get(code, ""), feed_level))

    def _money(self, out, element, path, tag) -> Decimal | None:
        value, two_decimals = _money_text(element.text or "")
        if value is None:
            return None
        if not two_decimals:
            text = (element.text or "").strip()
            self._add(out, "F1", "warning", element, f"{path}/{tag}",
                      f"money {text!r} should have exactly 2 decimals"
                      + (" and no minus sign on zero" if text == "-0.00" else ""))
        return value

    def _block(self, out, block, path) -> dict[str, Decimal | None]:
        if block is None:
            return {}
        values: dict[str, Decimal | None] = {"WITH_VAT": None, "WITHOUT_VAT": None, "VAT": None,
                                             "ROUNDING": None, "VAT_RATE": None}
        for child in block:
            tag = child.tag
            if tag == "VAT_RATE":
                values[tag] = _decimal(child.text)
            elif tag in values:
                values[tag] = self._money(out, child, path, tag)
        return values

    # -- the rules -----------------------------------------------------------
    def check(self, order, index: int) -> list[Finding]:
        out: list[Finding] = []
        self.orders += 1
        path = f"ORDER[{index}]"
        self._code = (order.findtext("CODE") or "").strip() or None
        self._identity(out, order, path)
        self._date(out, order, path)
        self._packages(out, order, path)
        self._codes(out, order, path)
        self._email(out, order, path)
        self._texts(out, order, path)
        self._money_rules(out, order, path)
        return out

    def _identity(self, out, order, path):
        for tag, seen in (("CODE", self.codes), ("ORDER_ID", self.order_ids)):
            element = order.find(tag)
            value = (element.text or "").strip() if element is not None else ""
            if not value:
                continue
            if value in seen:
                self._add(out, "D1", "error", element, f"{path}/{tag}",
                          f"{tag} {value!r} is also used by the order on line {seen[value]}", feed_level=True)
            else:
                seen[value] = element.sourceline

    def _date(self, out, order, path):
        element = order.find("DATE")
        if element is None or not element.text:
            return
        self._date_value(out, element.text, element, f"{path}/DATE")

    def _date_value(self, out, value, element, where):
        when = parse_date(value)
        if when is None:
            self._add(out, "DT1", "error", element, where, f"DATE {value!r} is not a real date and time")
            return
        if when < self.oldest:
            self._add(out, "DT2", "warning", element, where, f"DATE {value} is older than the feed window",
                      feed_level=True)
        elif when > self.newest:
            self._add(out, "DT2", "warning", element, where,
                      f"DATE {value} is more than an hour in the future (time zone?)", feed_level=True)

    def _packages(self, out, order, path):
        numbers = order.findall("PACKAGE_NUMBER")
        if not numbers:
            self.without_package += 1
            severity = "error" if self.profile == "tracking" else "info"
            self._add(out, "P1", severity, order, path, "no PACKAGE_NUMBER")
        seen_here = set()
        for element in numbers:
            value = (element.text or "").strip()
            where = f"{path}/PACKAGE_NUMBER"
            if not value:
                self._add(out, "P2", "error", element, where, "blank PACKAGE_NUMBER")
                continue
            if _SEVERAL.search(value):
                self._add(out, "P3", "warning", element, where,
                          f"PACKAGE_NUMBER {value!r} looks like several numbers in one")
            if value in seen_here:
                self._add(out, "D2", "warning", element, where, f"PACKAGE_NUMBER {value!r} twice in this order")
            else:
                self._package_elsewhere(out, value, element, where)
            seen_here.add(value)

    def _package_elsewhere(self, out, value, element, where):
        if value in self.packages:
            self._add(out, "D2", "warning", element, where,
                      f"PACKAGE_NUMBER {value!r} is also in order {self.packages[value]!r}", feed_level=True)
        else:
            self.packages[value] = self._code or "?"

    def feed_level(self, *, code: str, date: str, packages) -> list[Finding]:
        """The feed-level findings of one order, from its CODE, DATE and package numbers.

        For orders whose own findings are already known (the build's cached
        fragments); call in feed order, like `check`.
        """
        out: list[Finding] = []
        self._code = code or None
        self._date_value(out, date, None, "DATE")
        for value in dict.fromkeys(v.strip() for v in packages if v and v.strip()):
            self._package_elsewhere(out, value, None, "PACKAGE_NUMBER")
        return [finding for finding in out if finding.feed_level]

    def _codes(self, out, order, path):
        for element in order.iterfind("CUSTOMER/*/COUNTRY"):
            value = (element.text or "").strip()
            if value and (len(value) != 2 or pycountry.countries.get(alpha_2=value) is None):
                hint = {"UK": " (use GB)", "EL": " (use GR)"}.get(value.upper(), "")
                self._add(out, "G1", "error", element, f"{path}/CUSTOMER/{element.getparent().tag}/COUNTRY",
                          f"COUNTRY {value!r} is not an ISO 3166-1 alpha-2 code{hint}")
        currency = order.find("CURRENCY/CODE")
        if currency is not None and currency.text:
            value = currency.text.strip()
            if len(value) != 3 or pycountry.currencies.get(alpha_3=value) is None:
                self._add(out, "G2", "error", currency, f"{path}/CURRENCY/CODE",
                          f"CURRENCY {value!r} is not an ISO 4217 code")
        language = order.find("LANGUAGE")
        if language is not None and language.text:
            value = language.text.strip()
            if len(value) != 2 or pycountry.languages.get(alpha_2=value.lower()) is None:
                self._add(out, "G3", "warning", language, f"{path}/LANGUAGE",
                          f"LANGUAGE {value!r} is not an ISO 639-1 code")

    def _email(self, out, order, path):
        element = order.find("CUSTOMER/EMAIL")
        if element is not None and element.text and not _EMAIL.match(element.text.strip()):
            self._add(out, "M1", "warning", element, f"{path}/CUSTOMER/EMAIL",
                      f"EMAIL {element.text.strip()[:80]!r} does not look like an e-mail address")

    def _texts(self, out, order, path):
        # Almost every order passes: look at the bare strings first (no element objects are made),
        # and walk the elements only when some text would give a finding.
        texts = list(order.itertext(with_tail=False))
        if max(map(len, texts), default=0) <= 255 and not _DAMAGE.search("".join(texts)):
            return
        for element in order.iter():
            text = element.text
            if not text or len(element) or not isinstance(element.tag, str):  # comments, PIs: not data
                continue
            if len(text) > 255:
                self._add(out, "X1", "warning", element, f"{path}/…/{element.tag}",
                          f"{element.tag} has {len(text)} characters (over 255)")
            if _DAMAGE.search(text):
                self._add(out, "X1", "warning", element, f"{path}/…/{element.tag}",
                          f"{element.tag} contains U+FFFD or control characters (encoding damage?)")

    def _money_rules(self, out, order, path):
        total = self._block(out, order.find("TOTAL_PRICE"), f"{path}/TOTAL_PRICE")
        items = order.findall("ORDER_ITEMS/ITEM")
        self.items += len(items)
        sums = {"WITH_VAT": Decimal(0), "WITHOUT_VAT": Decimal(0), "VAT": Decimal(0)}
        have_vat = True
        types: list[str] = []
        for position, item in enumerate(items, 1):
            where = f"{path}/ORDER_ITEMS/ITEM[{position}]"
            parts: dict = {}
            for child in item:  # one walk over the item instead of a find() per field
                parts.setdefault(child.tag, child)
            kind = _text_of(parts.get("TYPE")).strip()
            types.append(kind)
            amount = _decimal(_text_of(parts.get("AMOUNT")))
            unit_element, line_element = parts.get("UNIT_PRICE"), parts.get("TOTAL_PRICE")
            unit = self._block(out, unit_element, f"{where}/UNIT_PRICE")
            line = self._block(out, line_element, f"{where}/TOTAL_PRICE")
            for block, block_path, element in ((unit, "UNIT_PRICE", unit_element),
                                               (line, "TOTAL_PRICE", line_element)):
                self._c1(out, block, element, where, block_path)
                self._c5(out, block, element, where, block_path, amount if block is line else ONE)
            self._c2(out, line_element, unit, line, amount, where)
            self._signs(out, item, parts.get("AMOUNT"), kind, line, amount, where)
            self._cod_name(out, parts.get("NAME"), kind, where)
            for name in sums:
                value = line.get(name)
                if value is None:
                    have_vat = have_vat and name != "VAT"
                    continue
                sums[name] += value
        self._c3(out, order, total, sums, have_vat, len(items), path)
        self._c4(out, order, total, path)
        self._item_kinds(out, order, types, path)

    def _c1(self, out, block, element, where, block_path):
        w, n, v = block.get("WITH_VAT"), block.get("WITHOUT_VAT"), block.get("VAT")
        # "is None" spelt out: "None in (w, n, v)" compares Decimals with None, slow over a whole feed
        if w is not None and n is not None and v is not None and w != n + v:
            self._add(out, "T1", "error", element, f"{where}/{block_path}",
                      f"WITH_VAT {w} is not WITHOUT_VAT {n} + VAT {v}")

    def _c5(self, out, block, element, where, block_path, amount):
        n, w, rate = block.get("WITHOUT_VAT"), block.get("WITH_VAT"), block.get("VAT_RATE")
        if n is None or w is None or rate is None or amount is None:
            return
        expected = n * _vat_factor(rate)
        if abs(expected - w) > CENT * max(abs(amount), ONE):
            self._add(out, "T4", "warning", element, f"{where}/{block_path}",
                      f"WITHOUT_VAT {n} at {rate} % gives {expected.quantize(CENT)}, not WITH_VAT {w}")

    def _c2(self, out, line_element, unit, line, amount, where):
        if amount is None:
            return
        for name in ("WITH_VAT", "WITHOUT_VAT", "VAT"):
            u, t = unit.get(name), line.get(name)
            if u is None or t is None:
                continue
            gap = abs(u * amount - t)
            if gap == 0:
                continue
            severity = "warning" if gap <= CENT * abs(amount) else "error"
            self._add(out, "T2", severity, line_element, f"{where}/TOTAL_PRICE/{name}",
                      f"TOTAL_PRICE/{name} {t} is not UNIT_PRICE {u} × AMOUNT {amount} = {u * amount}")

    def _c3(self, out, order, total, sums, have_vat, item_count, path):
        element = order.find("TOTAL_PRICE")
        rounding = total.get("ROUNDING") or Decimal(0)
        checks = [("WITH_VAT", sums["WITH_VAT"] + rounding), ("WITHOUT_VAT", sums["WITHOUT_VAT"])]
        if have_vat and total.get("VAT") is not None:
            checks.append(("VAT", sums["VAT"]))
        for name, expected in checks:
            actual = total.get(name)
            if actual is None or actual == expected:
                continue
            gap = abs(actual - expected)
            severity = "warning" if gap <= CENT * max(item_count, 1) else "error"
            self._add(out, "T3", severity, element, f"{path}/TOTAL_PRICE/{name}",
                      f"order {name} {actual} is not the sum of its items {expected}")

    def _c4(self, out, order, total, path):
        w, n, v = total.get("WITH_VAT"), total.get("WITHOUT_VAT"), total.get("VAT")
        if w is None or n is None or v is None:
            return
        rounding = total.get("ROUNDING") or Decimal(0)
        if w != n + v + rounding:
            self._add(out, "T1", "error", order.find("TOTAL_PRICE"), f"{path}/TOTAL_PRICE",
                      f"order WITH_VAT {w} is not WITHOUT_VAT {n} + VAT {v}"
                      + (f" + ROUNDING {rounding}" if rounding else ""))

    def _signs(self, out, item, amount_element, kind, line, amount, where):
        if amount is not None and amount <= 0:
            self._add(out, "I2", "warning", amount_element, f"{where}/AMOUNT", f"AMOUNT {amount} is not above 0")
        value = line.get("WITH_VAT")
        if value is None:
            return
        if kind == "discount" and value > 0:
            self._add(out, "I2", "warning", item, where, f"discount item with a positive price {value}")
        elif kind != "discount" and value < 0:
            self._add(out, "I2", "warning", item, where, f"{kind or 'item'} with a negative price {value}")

    def _cod_name(self, out, name_element, kind, where):
        if kind != "billing":
            return
        name = _text_of(name_element).strip()
        if name != COD_NAME and looks_like_cod(name):
            self._add(out, "I3", "warning", name_element, f"{where}/NAME",
                      f"billing item {name!r} looks like cash on delivery; Retino only recognises "
                      f"the exact name {COD_NAME!r}")

    def _item_kinds(self, out, order, types, path):
        element = order.find("ORDER_ITEMS")
        if types and "product" not in types:
            self._add(out, "I1", "warning", element, f"{path}/ORDER_ITEMS", "no product item")
        if types and "shipping" not in types:
            self._add(out, "I1", "warning", element, f"{path}/ORDER_ITEMS",
                      "no shipping item (Retino uses its name to detect the carrier)")
        for kind in ("shipping", "billing"):
            if types.count(kind) > 1:
                self._add(out, "I1", "warning", element, f"{path}/ORDER_ITEMS", f"{types.count(kind)} {kind} items")
