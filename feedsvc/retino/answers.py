"""Reading Retino's answers, whatever their shape: one line of error text, an order's id, bulk outcomes.

The Orders API document shows few answers, so the client is liberal in what
it accepts: an error body may be a string, a list or an object of field
messages (`error_text`); an upsert answer names the order's id at the top or
under `order`/`data`/`result` (`find_id`); the bulk answer's per-order
results may be anywhere (`read_bulk_answer`). Each order sent ends as
Confirmed(id), Rejected(message) or Unconfirmed (send it again next time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from feedsvc import jsonutil

# "Store ID 'xyz' does not exist" (the document's words), and its likely relatives.
_STORE_WORDS = re.compile(r"store[\s_-]*id", re.IGNORECASE)
_MISSING_WORDS = re.compile(r"does not exist|doesn't exist|not exist|not found|unknown|invalid|no such",
                            re.IGNORECASE)


# -- per-order outcomes ----------------------------------------------------------

@dataclass(frozen=True)
class Confirmed:
    """Retino accepted the order; `id` is its UUID when the answer named one."""

    id: str | None = None


@dataclass(frozen=True)
class Rejected:
    """Retino refused the order; `message` is Retino's reason."""

    message: str


@dataclass(frozen=True)
class Unconfirmed:
    """The answer neither confirmed nor rejected the order: send it again next time."""


UNCONFIRMED = Unconfirmed()
Outcome = Confirmed | Rejected | Unconfirmed


# -- reading answers -------------------------------------------------------------

_MESSAGE_KEYS = ("error", "errors", "message", "detail", "details", "non_field_errors", "msg", "reason",
                 "description", "title")
_ERROR_KEYS = ("error", "errors", "non_field_errors", "failure", "failures", "reason")


def _flatten(value: Any, limit: int = 20) -> list[str]:
    """Every text inside an error value: strings as they are, lists in order, dicts as `key: text`."""
    if value is None or value is False or value == "":
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, (int, float, Decimal, bool)):
        return [str(value)]
    texts: list[str] = []
    if isinstance(value, Mapping):
        for key, inner in value.items():
            for text in _flatten(inner, limit):
                generic = str(key) in _MESSAGE_KEYS or str(key).isdigit()
                texts.append(text if generic else f"{key}: {text}")
    elif isinstance(value, (list, tuple)):
        for inner in value:
            texts.extend(_flatten(inner, limit))
    return texts[:limit]


def error_text(body: Any, text: str = "", *, limit: int = 500) -> str:
    """One line saying what went wrong, from whatever error body Retino sent."""
    parts: list[str] = []
    if isinstance(body, Mapping):
        for key in _MESSAGE_KEYS:
            parts.extend(_flatten(body.get(key)))
        if not parts:
            parts = _flatten({k: v for k, v in body.items() if k not in ("status", "code", "status_code")})
    elif isinstance(body, (list, str)):
        parts = _flatten(body)
    message = "; ".join(dict.fromkeys(p for p in parts if p))  # ordered, without repeats
    if not message:
        message = " ".join(text.split())
    return message[:limit] or "no message"


def is_unknown_store_message(message: str) -> bool:
    """True when Retino's message says the store id does not exist."""
    return bool(_STORE_WORDS.search(message) and _MISSING_WORDS.search(message))


def json_body(response: httpx.Response) -> Any:
    text = response.text
    if not text.strip():
        return None
    try:
        return jsonutil.loads(text)
    except (ValueError, RecursionError):
        return None


_ID_KEYS = ("id", "uuid", "order_id", "orderId", "order_uuid", "pk")


def find_id(body: Any, depth: int = 0) -> str | None:
    """The order's id in an upsert answer: at the top or under `order`/`data`/`result`."""
    if not isinstance(body, Mapping) or depth > 3:
        return None
    for key in _ID_KEYS:
        value = body.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    for key in ("order", "data", "result", "object"):
        found = find_id(body.get(key), depth + 1)
        if found:
            return found
    return None


def _words(key: str) -> str:
    return re.sub(r"[^a-z]", "", key.lower())


def _context_of(key: Any, inherited: str | None) -> str | None:
    """'ok', 'failed' or the inherited context, from the name of the key a value sits under."""
    word = _words(str(key))
    if any(w in word for w in ("fail", "error", "reject", "invalid", "unprocess")):
        return "failed"
    if any(w in word for w in ("creat", "updat", "succe", "upsert", "saved", "accepted", "imported",
                               "processed")) or word == "ok":
        return "ok"
    return inherited


_FAIL_WORDS = ("fail", "error", "reject", "invalid")
_OK_WORDS = ("created", "updated", "ok", "success", "succeeded", "upserted", "saved", "accepted", "processed")


def _status_says(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        return "failed" if number >= 400 else "ok" if 200 <= number < 300 else None
    if isinstance(value, str):
        word = value.strip().lower()
        if any(w in word for w in _FAIL_WORDS):
            return "failed"
        if word in _OK_WORDS:
            return "ok"
    return None


def _validation_error(obj: Mapping) -> str | None:
    """A pydantic-style `{"loc": ["body", 3, "price", "with_vat"], "msg": …}` as `price.with_vat: …`."""
    loc, msg = obj.get("loc"), obj.get("msg")
    if not isinstance(loc, list) or not isinstance(msg, str) or not msg.strip():
        return None
    rest = loc[2:] if len(loc) > 1 and loc[0] == "body" and isinstance(loc[1], int) else loc
    where = ".".join(str(part) for part in rest)
    return f"{where}: {msg.strip()}" if where else msg.strip()


def _outcome_of(obj: Mapping, context: str | None) -> Outcome:
    """What one per-order object says: an error wins over an id; silence is Unconfirmed."""
    errors = [t for key in _ERROR_KEYS for t in _flatten(obj.get(key))]
    validation = _validation_error(obj)
    if validation:
        errors.append(validation)
    verdicts = [_status_says(obj.get(k)) for k in ("status", "result", "state", "outcome", "status_code")]
    for flag in ("success", "ok", "succeeded", "valid"):
        if isinstance(obj.get(flag), bool):
            verdicts.append("ok" if obj[flag] else "failed")
    failed = bool(errors) or "failed" in verdicts or (context == "failed" and "ok" not in verdicts)
    if failed:
        message = "; ".join(dict.fromkeys(errors)) or error_text(
            {k: obj.get(k) for k in ("message", "detail", "details", "msg", "description")})
        return Rejected(message if message != "no message" else "rejected by Retino without a message")
    found = find_id(obj)
    if found or "ok" in verdicts or context == "ok":
        return Confirmed(found)
    return UNCONFIRMED


def _merge(found: dict[str, Outcome], code: str, outcome: Outcome) -> None:
    """A rejection anywhere wins (it is recorded and resent), then a confirmation, then silence."""
    rank = {Rejected: 2, Confirmed: 1, Unconfirmed: 0}
    previous = found.get(code, UNCONFIRMED)
    if isinstance(outcome, Rejected) and isinstance(previous, Rejected):
        parts = dict.fromkeys(previous.message.split("; ") + outcome.message.split("; "))
        found[code] = Rejected("; ".join(parts))
    elif rank[type(outcome)] > rank[type(previous)] or (
            isinstance(outcome, Confirmed) and isinstance(previous, Confirmed) and not previous.id):
        found[code] = outcome


def _code_of(obj: Mapping, wanted: set[str], sent: Sequence[str]) -> str | None:
    for key in ("code", "order_code", "orderCode", "order_number"):
        value = obj.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) in wanted:
            return str(value)
    for key in ("order", "data", "result", "object", "input", "item"):
        inner = obj.get(key)
        if isinstance(inner, Mapping):
            code = _code_of(inner, wanted, ())
            if code is not None:
                return code
    loc = obj.get("loc")
    positions = [obj.get(key) for key in ("index", "position", "idx")]
    if isinstance(loc, list) and len(loc) > 1 and loc[0] == "body":
        positions.append(loc[1])
    for value in positions:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(sent):
            return sent[value]
    return None


def _walk(value: Any, context: str | None, wanted: set[str], sent: Sequence[str],
          found: dict[str, Outcome], depth: int = 0) -> None:
    if depth > 12:
        return
    if isinstance(value, Mapping):
        code = _code_of(value, wanted, sent)
        if code is not None:
            _merge(found, code, _outcome_of(value, context))
            return
        for key, inner in value.items():
            if isinstance(key, str) and key in wanted:  # {"errors": {"ORD-2": "Price mismatch…"}}
                _keyed(key, inner, context, found)
            else:
                _walk(inner, _context_of(key, context), wanted, sent, found, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            if isinstance(inner, (str, int)) and not isinstance(inner, bool) and str(inner) in wanted:
                # a bare code in a list: only its list's name says what happened
                if context == "failed":
                    _merge(found, str(inner), Rejected("rejected by Retino without a message"))
                elif context == "ok":
                    _merge(found, str(inner), Confirmed(None))
            else:
                _walk(inner, context, wanted, sent, found, depth + 1)


def _keyed(code: str, value: Any, context: str | None, found: dict[str, Outcome]) -> None:
    if isinstance(value, Mapping):
        _merge(found, code, _outcome_of(value, context))
    elif context == "failed":
        _merge(found, code, Rejected("; ".join(_flatten(value)) or "rejected by Retino without a message"))
    elif context == "ok":
        _merge(found, code, Confirmed(str(value).strip() if isinstance(value, (str, int)) and str(value).strip()
                                      and not isinstance(value, bool) else None))


def _counts_say_all_ok(answer: Any, count: int) -> bool:
    """`{"created": 2, "updated": 1, "failed": 0}`: no per-order detail, but nothing failed."""
    if not isinstance(answer, Mapping) or not count:
        return False
    succeeded, any_count = 0, False
    for key, value in answer.items():
        context = _context_of(key, None)
        if context == "failed":
            if value not in (0, None, [], {}, "", False):
                return False
        elif context == "ok" and isinstance(value, int) and not isinstance(value, bool):
            succeeded += value
            any_count = True
    return any_count and succeeded == count


def read_bulk_answer(answer: Any, sent_codes: Iterable[Any]) -> dict[str, Outcome]:
    """{code: Confirmed(id) | Rejected(message) | Unconfirmed} for every code sent, whatever the shape.

    Per-order objects are found anywhere (the answer a list, or lists or
    objects under any key, nested); an object names its order by `code` (or
    an `order` object's code, or an `index` into the request) and says
    success with an `id` or a success status, failure with `error`/`errors`
    (a string, a list or an object of field messages) or a failure status.
    The key a list sits under (`created`, `updated`, `failed`, `errors`, …)
    decides for objects and bare codes that say nothing themselves. An order
    the answer does not mention stays Unconfirmed.
    """
    sent = [str(code) for code in sent_codes]
    wanted = set(sent)
    found: dict[str, Outcome] = {}
    _walk(answer, None, wanted, sent, found)
    if not found and _counts_say_all_ok(answer, len(wanted)):
        return {code: Confirmed(None) for code in sent}
    return {code: found.get(code, UNCONFIRMED) for code in sent}
