"""Storeden's words and codes, in one place: order statuses, the request rate, cash-on-delivery words.

Statuses (specs/storeden-api.md §5). A status is a whole number 0–8. Storeden sends an int; a numeric string
(`"3"`, `" 3 "`, `"03"`) means the same status. Anything else is not a
status: booleans, numbers with a point (`3.0`, `"3.0"`: a status has no
fraction, and a float means the payload was built carelessly), negative or
unknown numbers (`-1`, `42`), text, containers. `null` or a missing key is
"no status given". An order's status is its details' (`order.json`, read at
or after its list entry), else its list or filter entry's; an order without a
usable status is quarantined with the reason from `order_status`, never
published by guess. Events in `orders_filter.json` carry no status; they only
say that an order changed.

The request rate (§2): Storeden allows about 5 requests a minute. A rate is
written `REQUESTS/SECONDS` (`5/60`) in FEEDSVC_STOREDEN_RATE and the
simulator's options, and the server tells what is left as
`X-Storeden-Limit: <left>/<quota>`.

Cash on delivery: a payment method's code or label says it in the languages
of Storeden's and Retino's markets ("Contrassegno", "Nachnahme", "Dobírka",
"COD", …); `looks_like_cod` recognises them, for the mapping (the billing
item becomes `Cash on Delivery`) and the validator (rule I3).
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

STATUS_NAMES = {
    0: "Pending Payment",
    1: "Order Paid",
    2: "Preparation",
    3: "Sent",
    4: "Delivered",
    5: "Closed",
    6: "Archived/Deleted",
    7: "Aborted",
    8: "AfterSale",
}
STATUSES = frozenset(STATUS_NAMES)
# Shipped: tracking.json may hold package numbers.
SHIPPED_STATUSES = frozenset({3, 4, 5, 8})
# Left out of the feed unless FEEDSVC_EXCLUDE_STATUSES says otherwise.
DEFAULT_EXCLUDED_STATUSES = frozenset({6, 7})
# statuses.json's grouping, as the simulator answers it.
STATUS_GROUPS = {"opened": (0, 1), "processing": (2, 3, 4), "closed": (5, 6, 7), "aftersale": (8,)}


class NotAStatus(ValueError):
    """A value that is not a Storeden order status; the message shows it."""


def _shown(value: object) -> str:
    if isinstance(value, (dict, list, tuple)):
        return f"a {type(value).__name__}"
    shown = repr(value)
    return shown if len(shown) <= 30 else shown[:27] + "..."


def parse_status(value: object) -> int | None:
    """The status `value` stands for; None when none is given (None or a blank string).

    Raises NotAStatus for anything that is not one (see the module docstring).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= 6:
            number = int(digits)
    if number is None or number not in STATUSES:
        raise NotAStatus(f"{_shown(value)} is not a Storeden status (a whole number 0-8)")
    return number


def status_or_none(value: object) -> int | None:
    """parse_status, with None for anything that is not a status."""
    try:
        return parse_status(value)
    except NotAStatus:
        return None


def order_status(details: object, summary: object) -> int:
    """The status of an order from its details and its list entry (either may be None).

    Raises NotAStatus with a reason fit for the quarantine when there is no usable one.
    """
    for source, where in ((details, "order.json"), (summary, "the order list")):
        if isinstance(source, dict) and source.get("status") is not None:
            try:
                status = parse_status(source["status"])
            except NotAStatus as exc:
                raise NotAStatus(f"status in {where} {exc}") from None
            if status is not None:
                return status
    raise NotAStatus("status is missing in order.json and in the order list")


# -- the request rate --------------------------------------------------------------

class Rate(NamedTuple):
    """At most `requests` requests in any `seconds`-second window."""

    requests: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


STOREDEN_RATE = Rate(5, 60.0)
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def parse_rate(text: str) -> Rate:
    """`5/60` → Rate(5, 60.0); ValueError saying what is wrong otherwise."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"expected REQUESTS/SECONDS such as 5/60, got {text!r}")
    rate = Rate(int(match.group(1)), float(match.group(2)))
    if rate.requests < 1 or rate.seconds <= 0:
        raise ValueError(f"both numbers must be positive, got {text!r}")
    return rate


def limit_header(left: int, quota: int) -> str:
    """The value of `X-Storeden-Limit`: requests left in the window / the window's quota."""
    return f"{left}/{quota}"


def parse_limit_header(value: str | None) -> tuple[int, int] | None:
    """(left, quota) from `X-Storeden-Limit`, or None when it is missing or malformed."""
    if not value:
        return None
    left_text, _, quota_text = value.partition("/")
    try:
        left, quota = int(left_text.strip()), int(quota_text.strip())
    except ValueError:
        return None
    if quota < 1 or left < 0 or left > quota:
        return None
    return left, quota


# -- cash on delivery ----------------------------------------------------------------

# The payment code Storeden's checkout uses for cash on delivery.
COD_METHOD_CODES = frozenset({"mark"})
# "Cash on delivery" in the languages of Retino's and Storeden's markets, folded
# (lower case, no accents, separators as single spaces).
COD_PHRASES = ("cash on delivery", "contrassegno", "nachnahme", "dobirka", "dobierka",
               "contre remboursement", "contra reembolso", "contrareembolso", "pobranie", "pobraniem",
               "utanvet", "rembours", "ramburs", "pouzece", "pago contra entrega", "cobro a la entrega")
COD_ABBREVIATIONS = ("cod", "c o d")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", plain).strip()


def looks_like_cod(label: str) -> bool:
    """True when a payment label or code says cash on delivery, in any of several languages."""
    folded = _fold(label)
    if not folded:
        return False
    if folded in COD_ABBREVIATIONS or "cod" in folded.split(" "):
        return True
    return any(phrase in folded for phrase in COD_PHRASES)
