"""JSON with exact money: numbers with a fraction load as Decimal and dump back unchanged.

Storeden sends prices as JSON numbers; a float would turn 0.1 + 0.2 into
0.30000000000000004. Every module that reads or writes Storeden JSON goes
through these two functions.
"""

from __future__ import annotations

from typing import Any

import simplejson


def loads(text: str | bytes) -> Any:
    """Parse JSON; numbers with a fraction or exponent become Decimal, integers stay int."""
    return simplejson.loads(text, use_decimal=True)


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Serialise JSON, writing Decimal values as exact numbers.

    Non-ASCII text stays readable; a lone surrogate (which no UTF-8 file or
    database can hold) makes the whole text fall back to \\u escapes.
    """
    text = simplejson.dumps(value, use_decimal=True, ensure_ascii=False, indent=indent,
                            sort_keys=indent is not None)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = simplejson.dumps(value, use_decimal=True, ensure_ascii=True, indent=indent,
                                sort_keys=indent is not None)
    return text
