"""The build's cache of rendered <ORDER> fragments: what is kept of one, and when it may be reused.

`CachedFragment` is what the store keeps of a published order: its bytes and
what the build needs to know without parsing them. A fragment is reused only
when its key (`source_key`) matches, and the key covers everything
the bytes and the order's own findings depend on: the stored Storeden texts of
the order (details, tracking, list entry), the mapping context (settings and
reference data), and the source of the mapping, rendering and rule code and
of the XSD. Editing any of those (an upgrade, a new FEEDSVC_VAT_RATE) makes
every key change, so the next build renders and checks every order again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import feedsvc

_PACKAGE = Path(feedsvc.__file__).resolve().parent
# The code whose output ends up in a fragment or in its findings.
_RENDERING_SOURCES = ("retino/*.py", "storeden/payload.py", "storeden/vocabulary.py", "jsonutil.py",
                      "data/*.json")


@dataclass
class CachedFragment:
    """A published order's <ORDER> bytes and what the build needs to know about it without parsing them."""

    source_key: str
    xml: bytes
    code: str
    order_ref: str
    date: str
    packages: tuple[str, ...]
    notes: list[tuple[str, str, str]]  # (rule, severity, message): mapping warnings and its own findings


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    from feedsvc.retino.validate import PACKAGED_SCHEMA  # the validator loads only when a build needs it

    digest = hashlib.blake2b(digest_size=16)
    paths = sorted({path for pattern in _RENDERING_SOURCES for path in _PACKAGE.glob(pattern)})
    for path in [*paths, PACKAGED_SCHEMA]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def context_key(mapping_fingerprint: str) -> bytes:
    """The part of every order's key that is the same for the whole build."""
    return hashlib.blake2b(f"{code_fingerprint()}\0{mapping_fingerprint}".encode(), digest_size=16).digest()


def source_key(build_key: bytes, stored) -> str:
    """The key of one order's fragment: the build's key and the order's stored texts."""
    digest = hashlib.blake2b(build_key, digest_size=16)
    for part in (stored.raw_text, stored.tracking_text, stored.summary_text, stored.short_id, stored.locale):
        # A length prefix keeps ("ab", "c") and ("a", "bc") apart; None differs from "".
        data = b"\xff" if part is None else part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()
