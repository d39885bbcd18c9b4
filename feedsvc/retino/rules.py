"""The semantic rules of a Retino feed (specs/retino-feed.md §8.2), checked one <ORDER> at a time.

`OrderChecker.check(order_element)` returns findings for that order and keeps
the little state that spans orders (duplicate codes and package numbers).
Rule codes are stable: users and scripts match on them. A finding that depends
on other orders or on the clock is marked `feed_level`; the build keeps the
other findings with each cached order and recomputes these with `feed_level()`
from a few stored values.

Speed matters here (a feed can hold 100,000 orders): each order is walked
once, element by element, and every rule reads what that walk gathered
instead of searching the tree again; code lookups and price arithmetic are
memoised by their text, since a feed repeats the same few hundred values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from lxml import etree

from feedsvc.retino.model import COD_ITEM_NAME
from feedsvc.retino.seen import SeenValues
from feedsvc.storeden.vocabulary import looks_like_cod

_MONEY_2DP = re.compile(r"^-?[0-9]+\.[0-9]{2}$")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_SEVERAL = re.compile(r"[,;\s]")
_DAMAGE = re.compile("[\x80-\x9f\ufffd]")
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
    # Only numbers a price can be: 30 digits and magnitudes up to 10^30 keep every product and sum
    # of the rules exact within Decimal's limits, so no hostile value can make them raise.
    if not value.is_finite() or len(value.as_tuple().digits) > 30 or abs(value.adjusted()) > 30:
        return None
    return value


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


@lru_cache(maxsize=4096)
def _is_country(value: str) -> bool:
    import pycountry  # loaded on first use: importing it costs more than a small feed's check

    return len(value) == 2 and pycountry.countries.get(alpha_2=value) is not None


@lru_cache(maxsize=1024)
def _is_currency(value: str) -> bool:
    import pycountry

    return len(value) == 3 and pycountry.currencies.get(alpha_3=value) is not None


@lru_cache(maxsize=1024)
def _is_language(value: str) -> bool:
    import pycountry

    return len(value) == 2 and pycountry.languages.get(alpha_2=value.lower()) is not None


def _collect(element, texts: list) -> None:
    """Add the text of every leaf element at or under `element` to `texts` (for rule X1)."""
    if len(element):
        for child in element:
            _collect(child, texts)
    else:
        text = element.text
        if text and element.tag.__class__ is str:  # comments and PIs are not data
            texts.append(text)


def parse_date(value: str) -> datetime | None:
    """A DATE's value (YYYY-MM-DD HH:MM:SS, a real date), or None."""
    value = value.strip()
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


_MONEY_TAGS = frozenset(("WITH_VAT", "WITHOUT_VAT", "VAT", "ROUNDING"))
_IDENTITY_TAGS = ("CODE", "ORDER_ID", "DATE", "PACKAGE_NUMBER")
# An item's texts that the schema leaves free (the others are patterns or an enumeration of ASCII).
_FREE_TEXT = frozenset(("NAME", "CODE", "VARIANT_NAME", "MANUFACTURER", "UNIT"))
_SUMMED = ("WITH_VAT", "WITHOUT_VAT", "VAT")
_PLAIN_MONEY = re.compile(r"-?[0-9]+\.[0-9]{2}")


class _ItemMemo:
    """Items that gave no finding, by their serialised bytes: a feed repeats the same lines (a product
    at its price, a carrier's shipping line) thousands of times, and an item's rules depend on nothing
    else. Serialising costs about as much as checking, so the memo turns itself off on a feed whose
    lines do not repeat."""

    ENTRIES, KEY_BYTES, TRIAL = 8192, 4096, 2000

    def __init__(self):
        self.items: dict[bytes, tuple] = {}
        self.hits = self.misses = 0
        self.active = True

    def key(self, item) -> bytes | None:
        return etree.tostring(item, with_tail=False) if self.active else None

    def get(self, key: bytes | None):
        if key is None:
            return None
        found = self.items.get(key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        if self.misses >= self.TRIAL and self.hits < self.misses:
            self.active, self.items = False, {}
        return None

    def put(self, key: bytes | None, value: tuple) -> None:
        if key is not None and self.active and len(key) <= self.KEY_BYTES and len(self.items) < self.ENTRIES:
            self.items[key] = value


# An item's two price blocks (WITH_VAT|WITHOUT_VAT|VAT|VAT_RATE each) and its AMOUNT, all written
# plainly: money with two decimals, a whole rate, a whole amount.
_PLAIN_MONEY_TEXT = r"-?[0-9]{1,15}\.[0-9]{2}\|"
_PLAIN_ITEM = re.compile(rf"(?:(?:{_PLAIN_MONEY_TEXT}){{3}}\s*[0-9]{{1,3}}\s*\|){{2}}[0-9]{{1,9}}")


_PLAIN_CENTS = re.compile(r"-?[0-9]{1,15}\.[0-9]{2}")


def _plain_total(block) -> tuple | None:
    """(WITH_VAT, WITHOUT_VAT, VAT, ROUNDING) in cents of an order's TOTAL_PRICE in a schema-valid order,
    each written plainly (VAT and ROUNDING None when absent); None when one is not written plainly."""
    values = {child.tag: child.text for child in block}
    cents: list[int | None] = []
    for tag in ("WITH_VAT", "WITHOUT_VAT", "VAT", "ROUNDING"):
        text = values.get(tag)
        if text is None and tag in ("VAT", "ROUNDING") and tag not in values:
            cents.append(None)
        elif text and _PLAIN_CENTS.fullmatch(text) and text != "-0.00":
            cents.append(int(text.replace(".", "")))
        else:
            return None
    return tuple(cents)


class OrderChecker:
    """Checks orders one by one; create one per document."""

    def __init__(self, *, profile: str = "full", days: int = 7, now: datetime | None = None):
        self.profile = profile
        self.now = now or datetime.now()
        self.oldest = self.now - timedelta(days=days + 1)
        self.newest = self.now + timedelta(hours=1)
        self.codes = SeenValues()  # CODE -> line of its first order
        self.order_ids = SeenValues()  # ORDER_ID -> line
        self.packages = SeenValues()  # PACKAGE_NUMBER -> CODE of its first order
        self.orders = 0
        self.items = 0
        self.without_package = 0
        self._code: str | None = None
        self._memo = _ItemMemo()

    # -- helpers -------------------------------------------------------------
    def _add(self, out, code, severity, element, path, message, *, feed_level=False):
        out.append(Finding(code, severity, getattr(element, "sourceline", None), self._code, path,
                           message, HINTS.get(code, ""), feed_level))

    def _block(self, out, block, path, texts) -> dict[str, Decimal | None]:
        """The values of a price block (the last of each tag wins); F1 for badly written money."""
        if block is None:
            return {}
        if not len(block):
            _collect(block, texts)
            return {}
        values: dict[str, Decimal | None] = {}
        for child in block:
            tag = child.tag
            text = child.text
            if len(child):
                _collect(child, texts)
            elif text and tag.__class__ is str:
                texts.append(text)
            if tag == "VAT_RATE":
                values[tag] = _decimal(text)
            elif tag in _MONEY_TAGS:
                value, two_decimals = _money_text(text or "")
                if value is not None and not two_decimals:
                    written = (text or "").strip()
                    self._add(out, "F1", "warning", child, f"{path}/{tag}",
                              f"money {written!r} should have exactly 2 decimals"
                              + (" and no minus sign on zero" if written == "-0.00" else ""))
                values[tag] = value
        return values

    # -- the rules -----------------------------------------------------------
    def check(self, order, index: int, *, identity: bool = True, content: bool = True,
              schema_valid: bool = False) -> list[Finding]:
        """The findings of one <ORDER> element (the 1-based `index` names it in paths).

        `identity`: the rules that span orders or read the clock (D1, D2, P1-P3, DT1, DT2), which must
        see every order of a document in turn; `content`: the rules on the order alone (money, items,
        codes, texts), which may run anywhere. Both by default. `schema_valid`: the order passed the
        bundled XSD, so its items have the shape the quick path for items relies on.
        """
        if identity:
            self.orders += 1
        path = f"ORDER[{index}]"
        if not content:
            return self._identity_only(order, path)
        # One walk over the order's children gathers what every rule reads.
        first: dict = {}
        packages, item_lists, customers, currencies = [], [], [], []
        texts: list[str] = []
        for child in order:
            tag = child.tag
            if tag not in first:
                first[tag] = child
            if tag == "PACKAGE_NUMBER":
                packages.append(child)
            elif tag == "ORDER_ITEMS":
                item_lists.append(child)
                continue
            elif tag == "CUSTOMER":
                customers.append(child)
                continue
            elif tag == "CURRENCY":
                currencies.append(child)
                continue
            elif tag == "TOTAL_PRICE" and first[tag] is child:
                continue  # walked as the order's price block
            if len(child):
                _collect(child, texts)
            else:
                text = child.text
                if text and tag.__class__ is str:
                    texts.append(text)
        code_element = first.get("CODE")
        self._code = ((code_element.text if code_element is not None else None) or "").strip() or None
        out: list[Finding] = []
        if identity:
            self._identity(out, first, path)
            self._date(out, first.get("DATE"), path)
            self._packages(out, order, packages, path)
        if customers or currencies or "LANGUAGE" in first:
            self._codes(out, customers, currencies, first.get("LANGUAGE"), path, texts, schema_valid)
        money: list[Finding] = []
        if item_lists or "TOTAL_PRICE" in first:
            self._money_rules(money, first, item_lists, path, texts, schema_valid)
        if texts:
            self._texts(out, order, texts, path)
        out.extend(money)
        return out

    def _identity_only(self, order, path) -> list[Finding]:
        """The identity rules alone, from the few children they read (lxml picks them out)."""
        first: dict = {}
        packages = []
        for child in order.iterchildren(_IDENTITY_TAGS):
            tag = child.tag
            if tag == "PACKAGE_NUMBER":
                packages.append(child)
            elif tag not in first:
                first[tag] = child
        code_element = first.get("CODE")
        self._code = ((code_element.text if code_element is not None else None) or "").strip() or None
        out: list[Finding] = []
        self._identity(out, first, path)
        self._date(out, first.get("DATE"), path)
        self._packages(out, order, packages, path)
        return out

    def _identity(self, out, first, path):
        for tag, seen in (("CODE", self.codes), ("ORDER_ID", self.order_ids)):
            element = first.get(tag)
            value = (element.text or "").strip() if element is not None else ""
            if not value:
                continue
            earlier = seen.earlier(value, element.sourceline)
            if earlier is not None:
                self._add(out, "D1", "error", element, f"{path}/{tag}",
                          f"{tag} {value!r} is also used by the order on line {earlier[0]}", feed_level=True)

    def _date(self, out, element, path):
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

    def _packages(self, out, order, numbers, path):
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
        earlier = self.packages.earlier(value, self._code or "?")
        if earlier is not None:
            self._add(out, "D2", "warning", element, where,
                      f"PACKAGE_NUMBER {value!r} is also in order {earlier[0]!r}", feed_level=True)

    def close(self) -> None:
        """Let go of the duplicate rules' memory (and temporary database) at the end of a document."""
        for seen in (self.codes, self.order_ids, self.packages):
            seen.close()

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

    def _codes(self, out, customers, currencies, language, path, texts, schema_valid=False):
        """G1 (every CUSTOMER/*/COUNTRY), G2 (the first CURRENCY/CODE), G3 (LANGUAGE); M1 (CUSTOMER/EMAIL)."""
        email = None
        if schema_valid:  # one CUSTOMER, EMAIL first, and below it nothing but leaves
            customers = customers[:1]
            email = customers[0][0]
            for part in customers[0]:
                if part.tag.endswith("_ADDRESS"):
                    for element in part:
                        text = element.text
                        if text:
                            texts.append(text)
                            if element.tag == "COUNTRY":
                                self._country(out, element, text, part.tag, path)
                elif part.text:
                    texts.append(part.text)
        for customer in customers if not schema_valid else ():
            if not len(customer):
                _collect(customer, texts)
            for part in customer:
                part_tag = part.tag
                if part_tag == "EMAIL" and email is None:
                    email = part
                if not len(part):
                    text = part.text
                    if text and part_tag.__class__ is str:
                        texts.append(text)
                    continue
                for element in part:
                    if element.tag == "COUNTRY" and element.text:
                        self._country(out, element, element.text, part_tag, path)
                    if len(element):
                        _collect(element, texts)
                    else:
                        text = element.text
                        if text and element.tag.__class__ is str:
                            texts.append(text)
        currency = None
        for block in currencies:
            for element in block:
                if currency is None and element.tag == "CODE":
                    currency = element
            _collect(block, texts)
        if currency is not None and currency.text:
            value = currency.text.strip()
            if not _is_currency(value):
                self._add(out, "G2", "error", currency, f"{path}/CURRENCY/CODE",
                          f"CURRENCY {value!r} is not an ISO 4217 code")
        if language is not None and language.text:
            value = language.text.strip()
            if not _is_language(value):
                self._add(out, "G3", "warning", language, f"{path}/LANGUAGE",
                          f"LANGUAGE {value!r} is not an ISO 639-1 code")
        if email is not None and email.text and not _EMAIL.match(email.text.strip()):
            self._add(out, "M1", "warning", email, f"{path}/CUSTOMER/EMAIL",
                      f"EMAIL {email.text.strip()[:80]!r} does not look like an e-mail address")

    def _country(self, out, element, text, part_tag, path):
        value = text.strip()
        if value and not _is_country(value):
            hint = {"UK": " (use GB)", "EL": " (use GR)"}.get(value.upper(), "")
            self._add(out, "G1", "error", element, f"{path}/CUSTOMER/{part_tag}/COUNTRY",
                      f"COUNTRY {value!r} is not an ISO 3166-1 alpha-2 code{hint}")

    def _texts(self, out, order, texts, path):
        # Almost every order passes on the texts the walk gathered; only when one would give a finding
        # are the elements walked again, to name them.
        if _plain_texts(texts):
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

    def _money_rules(self, out, first, item_lists, path, texts, schema_valid=False):
        total_element = first.get("TOTAL_PRICE")
        # A schema-valid order's totals written plainly are compared in cents; only if they disagree
        # are they read as Decimals, for the findings' exact wording.
        plain_total = _plain_total(total_element) if schema_valid and total_element is not None else None
        if plain_total is None:
            total = self._block(out, total_element, f"{path}/TOTAL_PRICE", texts)
        sums = {"WITH_VAT": Decimal(0), "WITHOUT_VAT": Decimal(0), "VAT": Decimal(0)}
        decimal_lines = False
        cents = [0, 0, 0]  # the line totals of the items checked on the quick path
        have_vat = True
        types: list[str] = []
        position = 0
        memo = self._memo
        for items in item_lists:
            if not len(items):
                _collect(items, texts)
            for item in items:
                if item.tag != "ITEM":
                    _collect(item, texts)
                    continue
                position += 1
                key = known = None
                if memo.active:
                    key = memo.key(item)
                    known = memo.get(key)
                if known is None:
                    texts_before = len(texts)
                    quick = self._item_quick(item, texts) if schema_valid else None
                    if quick is not None:
                        known = quick
                    else:
                        del texts[texts_before:]
                        findings_before = len(out)
                        kind, line = self._item(out, item, f"{path}/ORDER_ITEMS/ITEM[{position}]", texts)
                        known = (kind, None, line)
                        if len(out) != findings_before:
                            key = None
                    if key is not None and _plain_texts(texts[texts_before:]):
                        memo.put(key, known)
                kind, line_cents, line = known
                types.append(kind)
                if line_cents is not None:
                    cents[0] += line_cents[0]
                    cents[1] += line_cents[1]
                    cents[2] += line_cents[2]
                    continue
                decimal_lines = True
                for name in _SUMMED:
                    value = line.get(name)
                    if value is None:
                        have_vat = have_vat and name != "VAT"
                        continue
                    sums[name] += value
        self.items += position
        if plain_total is not None:
            if not decimal_lines and _totals_agree(plain_total, cents):
                self._item_kinds(out, first.get("ORDER_ITEMS"), types, path)
                return
            total = self._block(out, total_element, f"{path}/TOTAL_PRICE", texts)
        if any(cents):
            for name, value in zip(_SUMMED, cents):
                sums[name] += Decimal(value).scaleb(-2)
        self._c3(out, total_element, total, sums, have_vat, position, path)
        self._c4(out, total_element, total, path)
        self._item_kinds(out, first.get("ORDER_ITEMS"), types, path)

    def _item_quick(self, item, texts) -> tuple | None:
        """(TYPE, (line WITH_VAT, WITHOUT_VAT, VAT in cents), None) of an item of a schema-valid order whose
        prices are written plainly and that breaks no rule, in whole-number arithmetic; None for any
        other item, which the exact rules (`_item`) then check and report."""
        parts = {child.tag: child for child in item}
        unit, line = parts["UNIT_PRICE"], parts["TOTAL_PRICE"]
        # The schema's sequence puts a full block's four children in the order WITH_VAT, WITHOUT_VAT,
        # VAT, VAT_RATE; plain digits give X1 nothing to find, so they are not gathered for it.
        if len(unit) != 4 or len(line) != 4:
            return None
        values = [child.text for child in unit] + [child.text for child in line]
        written = parts["AMOUNT"].text
        if (None in values or not written or not _PLAIN_ITEM.fullmatch("|".join(values) + "|" + written)
                or "-0.00" in values):  # F1 wants the sign gone
            return None
        unit_with, unit_without, unit_vat = (int(value.replace(".", "")) for value in values[:3])
        with_vat, without_vat, vat = (int(value.replace(".", "")) for value in values[4:7])
        unit_rate, rate, amount = int(values[3]), int(values[7]), int(written)
        if (amount == 0  # I2
                or with_vat != without_vat + vat or unit_with != unit_without + unit_vat  # T1
                or abs(unit_without * (100 + unit_rate) - unit_with * 100) > 100  # T4, a cent per unit
                or abs(without_vat * (100 + rate) - with_vat * 100) > 100 * amount
                or unit_with * amount != with_vat or unit_without * amount != without_vat  # T2
                or unit_vat * amount != vat):
            return None
        kind = (parts["TYPE"].text or "").strip()
        if (with_vat > 0 and kind == "discount") or (with_vat < 0 and kind != "discount"):  # I2
            return None
        for tag in _FREE_TEXT:
            child = parts.get(tag)
            if child is not None and child.text:
                texts.append(child.text)
        if kind == "billing":
            name = (parts["NAME"].text or "").strip()
            if name != COD_ITEM_NAME and _looks_like_cod(name):  # I3
                return None
        return kind, (with_vat, without_vat, vat), None

    def _item(self, out, item, where, texts) -> tuple[str, dict[str, Decimal | None]]:
        """The rules of one ITEM; returns its TYPE and its line total's values for the order's sums."""
        parts: dict = {}
        if not len(item):
            _collect(item, texts)
        for child in item:  # one walk over the item instead of a find() per field
            tag = child.tag
            if tag in parts:
                _collect(child, texts)
                continue
            parts[tag] = child
            if tag == "UNIT_PRICE" or tag == "TOTAL_PRICE":
                continue  # walked as price blocks below
            if len(child):
                _collect(child, texts)
            else:
                text = child.text
                if text and tag.__class__ is str:
                    texts.append(text)
        kind = _text_of(parts.get("TYPE")).strip()
        amount_element = parts.get("AMOUNT")
        amount = _decimal(_text_of(amount_element))
        unit_element, line_element = parts.get("UNIT_PRICE"), parts.get("TOTAL_PRICE")
        unit = self._block(out, unit_element, f"{where}/UNIT_PRICE", texts)
        line = self._block(out, line_element, f"{where}/TOTAL_PRICE", texts)
        if unit:
            self._c1(out, unit, unit_element, where, "UNIT_PRICE")
            self._c5(out, unit, unit_element, where, "UNIT_PRICE", ONE)
        if line:
            self._c1(out, line, line_element, where, "TOTAL_PRICE")
            self._c5(out, line, line_element, where, "TOTAL_PRICE", amount)
        self._c2(out, line_element, unit, line, amount, where)
        self._signs(out, item, amount_element, kind, line, amount, where)
        if kind == "billing":
            self._cod_name(out, parts.get("NAME"), where)
        return kind, line

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
        if not _within_rate(n, w, rate, amount):
            expected = n * _vat_factor(rate)
            self._add(out, "T4", "warning", element, f"{where}/{block_path}",
                      f"WITHOUT_VAT {n} at {rate} % gives {_cents_text(expected)}, not WITH_VAT {w}")

    def _c2(self, out, line_element, unit, line, amount, where):
        if amount is None:
            return
        for name in _SUMMED:
            u, t = unit.get(name), line.get(name)
            if u is None or t is None:
                continue
            gap = _line_gap(u, amount, t)
            if gap == 0:
                continue
            severity = "warning" if gap <= CENT * abs(amount) else "error"
            self._add(out, "T2", severity, line_element, f"{where}/TOTAL_PRICE/{name}",
                      f"TOTAL_PRICE/{name} {t} is not UNIT_PRICE {u} × AMOUNT {amount} = {u * amount}")

    def _c3(self, out, element, total, sums, have_vat, item_count, path):
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

    def _c4(self, out, element, total, path):
        w, n, v = total.get("WITH_VAT"), total.get("WITHOUT_VAT"), total.get("VAT")
        if w is None or n is None or v is None:
            return
        rounding = total.get("ROUNDING") or Decimal(0)
        if w != n + v + rounding:
            self._add(out, "T1", "error", element, f"{path}/TOTAL_PRICE",
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

    def _cod_name(self, out, name_element, where):
        name = _text_of(name_element).strip()
        if name != COD_ITEM_NAME and _looks_like_cod(name):
            self._add(out, "I3", "warning", name_element, f"{where}/NAME",
                      f"billing item {name!r} looks like cash on delivery; Retino only recognises "
                      f"the exact name {COD_ITEM_NAME!r}")

    def _item_kinds(self, out, element, types, path):
        if types and "product" not in types:
            self._add(out, "I1", "warning", element, f"{path}/ORDER_ITEMS", "no product item")
        if types and "shipping" not in types:
            self._add(out, "I1", "warning", element, f"{path}/ORDER_ITEMS",
                      "no shipping item (Retino uses its name to detect the carrier)")
        for kind in ("shipping", "billing"):
            if types.count(kind) > 1:
                self._add(out, "I1", "warning", element, f"{path}/ORDER_ITEMS", f"{types.count(kind)} {kind} items")


# The price arithmetic, memoised on its Decimal operands (a feed repeats the same prices).
@lru_cache(maxsize=16384)
def _within_rate(without_vat: Decimal, with_vat: Decimal, rate: Decimal, amount: Decimal) -> bool:
    return abs(without_vat * _vat_factor(rate) - with_vat) <= CENT * max(abs(amount), ONE)


@lru_cache(maxsize=16384)
def _line_gap(unit: Decimal, amount: Decimal, line: Decimal) -> Decimal:
    return abs(unit * amount - line)


@lru_cache(maxsize=1024)
def _looks_like_cod(name: str) -> bool:
    return looks_like_cod(name)


def _cents_text(value: Decimal) -> str:
    """`value` rounded to the cent for a message (as it is when too long to round)."""
    try:
        return str(value.quantize(CENT))
    except InvalidOperation:
        return str(value)


def _totals_agree(total: tuple, sums: list[int]) -> bool:
    """C3 and C4 in cents: the order's totals are the items' sums (WITH_VAT with ROUNDING), and
    WITH_VAT = WITHOUT_VAT + VAT + ROUNDING."""
    with_vat, without_vat, vat, rounding = total
    rounding = rounding or 0
    return (with_vat == sums[0] + rounding and without_vat == sums[1]
            and (vat is None or (vat == sums[2] and with_vat == without_vat + vat + rounding)))


def _plain_texts(texts: list[str]) -> bool:
    """True when no text would give an X1 finding (none over 255 characters, no encoding damage)."""
    return max(map(len, texts), default=0) <= 255 and not _DAMAGE.search("".join(texts))
