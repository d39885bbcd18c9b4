"""Cleaning text for XML 1.0 and for Retino (specs/retino-feed.md §5, "Text").

lxml refuses characters that XML 1.0 forbids, so one stray control byte in a
product title would stop the whole feed. `clean` makes any text safe to put in
an element: entities decoded once, NFC, no forbidden characters, no C1
controls (legal, but always encoding damage), one line where the field is a
single line, single spaces, trimmed and cut to 255 characters.
"""

from __future__ import annotations

import html
import re
import unicodedata

MAX_TEXT = 255

# XML 1.0 forbids C0 controls except TAB, LF, CR; U+FFFE, U+FFFF; surrogates
# (only lone ones can occur in a Python str). DEL and C1 controls are legal but garbage.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]+")
_LINE_BREAKS = re.compile("[\r\n\t\u2028\u2029]")
_SPACES = re.compile(" {2,}")
_SPACES_AROUND_NEWLINE = re.compile(" *\n *")
_SAFE_ASCII = re.compile("[ -~]*")


def clean(value: object, *, max_len: int = MAX_TEXT, one_line: bool = True) -> str:
    """Text fit for an XML element (see the module docstring).

    `max_len=0` means no cut (for values whose length is checked, not cut:
    ORDER_ID, CODE). In multi-line text CR LF and CR become LF and tabs stay.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not text:
        return ""
    if _SAFE_ASCII.fullmatch(text):
        # Fast path for the common case: printable ASCII is already NFC and allowed.
        if "&" in text:
            text = html.unescape(text)
        else:
            if "  " in text:
                text = _SPACES.sub(" ", text)
            text = text.strip(" ")
            return text[:max_len].rstrip(" ") if max_len and len(text) > max_len else text
    elif "&" in text:
        text = html.unescape(text)
    text = _FORBIDDEN.sub("", text)
    text = unicodedata.normalize("NFC", text)
    if one_line:
        text = _LINE_BREAKS.sub(" ", text)
    else:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _SPACES_AROUND_NEWLINE.sub("\n", text)
    text = _SPACES.sub(" ", text).strip()
    if max_len and len(text) > max_len:
        text = text[:max_len].rstrip()
    return text
