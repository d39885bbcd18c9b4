"""The ISO codes an order carries besides countries (countries.py): currencies (ISO 4217)."""

from __future__ import annotations

import pycountry

# ISO 4217 codes that are not money an order can be paid in.
NOT_A_CURRENCY = frozenset({"XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XBA", "XBB", "XBC", "XBD",
                            "XDR", "XSU", "XUA"})


def is_currency(code: str) -> bool:
    """True for an ISO 4217 code an order can be paid in (upper case: `EUR`, `CZK`)."""
    return (len(code) == 3 and code.isascii() and code.isalpha() and code not in NOT_A_CURRENCY
            and pycountry.currencies.get(alpha_3=code) is not None)
