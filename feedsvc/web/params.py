"""Reading the dashboard's query parameters: one parser, and 400 with a plain reason for nonsense.

Every view that reads `request.args` names each parameter it takes with its
kind (a whole number in a range, one of a few words, text); anything else a
client adds is ignored and never reaches `url_for` or a link. An empty value
means "not given", as an HTML form sends it. A number is ASCII digits only
(`²` or `١` are not digits here), within its range; a parameter given twice
is refused rather than guessed at. Links back to a page are built from the
parsed values alone, relative to this server, never from the Host header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from flask import request, url_for
from werkzeug.exceptions import BadRequest

_DIGITS = re.compile(r"[0-9]{1,9}")


class BadParameter(BadRequest):
    """A query parameter that cannot mean anything; the message names it and says what is expected."""

    def __init__(self, name: str, expected: str):
        super().__init__(f"query parameter {name!r}: expected {expected}")


@dataclass(frozen=True)
class Number:
    minimum: int
    maximum: int
    default: int | None = None

    def parse(self, name: str, raw: str) -> int:
        if not _DIGITS.fullmatch(raw) or not self.minimum <= int(raw) <= self.maximum:
            raise BadParameter(name, f"a whole number from {self.minimum} to {self.maximum}")
        return int(raw)


@dataclass(frozen=True)
class OneOf:
    choices: tuple[str, ...]
    default: str | None = None

    def parse(self, name: str, raw: str) -> str:
        if raw not in self.choices:
            raise BadParameter(name, "one of " + ", ".join(self.choices))
        return raw


@dataclass(frozen=True)
class Text:
    max_length: int
    default: str | None = None

    def parse(self, name: str, raw: str) -> str:
        text = raw.strip()
        if len(text) > self.max_length or any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise BadParameter(name, f"text of at most {self.max_length} characters, no control characters")
        return text


@dataclass(frozen=True)
class Exact:
    """A value taken as sent (an order's CODE may hold anything), only its length bounded."""

    max_length: int
    default: str | None = None

    def parse(self, name: str, raw: str) -> str:
        if len(raw) > self.max_length:
            raise BadParameter(name, f"at most {self.max_length} characters")
        return raw


def query_values(spec: dict) -> dict:
    """The request's query parameters named in `spec`, parsed; a missing or empty one gets its default."""
    values = {}
    for name, kind in spec.items():
        given = request.args.getlist(name)
        if len(given) > 1:
            raise BadParameter(name, "at most one value")
        raw = given[0] if given else ""
        values[name] = kind.parse(name, raw) if raw != "" else kind.default
    return values


def link(endpoint: str, **params) -> str:
    """A relative link to `endpoint` with `params` in its query (None values left out)."""
    query = urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote)
    return url_for(endpoint) + ("?" + query if query else "")
