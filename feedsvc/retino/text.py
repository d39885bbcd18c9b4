"""Cleaning text for XML 1.0 and for Retino: one form, no forbidden characters, bounded length.

lxml refuses characters that XML 1.0 forbids, so one stray byte in a product
title would stop the whole feed; they are removed here, with C1 controls
(legal but always encoding damage).
"""

from __future__ import annotations

import html
import re
import unicodedata

MAX_TEXT = 255

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\r\n\t]+")
_SPACES = re.compile(r" {2,}")


def clean(value: object, *, max_len: int = MAX_TEXT, one_line: bool = True) -> str:
    """Text fit for an XML element: entities decoded once, NFC, no forbidden characters, trimmed."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if "&" in text:
        text = html.unescape(text)
    text = _FORBIDDEN.sub("", text)
    text = unicodedata.normalize("NFC", text)
    if one_line:
        text = _LINE_BREAKS.sub(" ", text)
        text = _SPACES.sub(" ", text)
    text = text.strip()
    if max_len and len(text) > max_len:
        text = text[:max_len].rstrip()
    return text
