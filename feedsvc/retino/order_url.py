"""ORDER_URL from the shop's pattern: `https://admin.example.com/orders/{order_id}` (`{code}` works too).

A pattern is an absolute http(s) URL once its placeholders are filled; each
placeholder is filled percent-encoded, and a URL over 2000 characters is not
used.
"""

from __future__ import annotations

import re
from urllib.parse import quote

URL = re.compile(r"https?://\S+")
MAX_LENGTH = 2000
EXAMPLE = "https://admin.example.com/orders/{order_id}"


def check_pattern(pattern: str) -> str:
    """The pattern stripped, or ValueError when it cannot give a URL ("" means no ORDER_URL)."""
    pattern = pattern.strip()
    if pattern and not URL.fullmatch(pattern.replace("{order_id}", "x").replace("{code}", "x")):
        raise ValueError(f"expected an absolute http(s) URL pattern such as {EXAMPLE}, got {pattern!r}")
    return pattern


def fill(pattern: str, *, order_id: str, code: str) -> str | None:
    """The order's URL, or None when the filled pattern is not a usable one."""
    url = pattern.replace("{order_id}", quote(order_id, safe="")).replace("{code}", quote(code, safe=""))
    return url if len(url) <= MAX_LENGTH and URL.fullmatch(url) else None
