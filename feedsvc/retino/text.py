"""Cleaning text for XML 1.0 and for Retino (specs/retino-feed.md §5, "Text").

lxml refuses characters that XML 1.0 forbids, so one stray control byte in a
product title would stop the whole feed. `clean` makes any text safe to put in
an element: character references decoded once, NFC, no forbidden characters,
no C1 controls (legal, but always encoding damage), one line where the field
is a single line, single spaces, trimmed and cut to 255 characters.

Only complete references are decoded: `&name;` (an HTML name, with its
semicolon, case as HTML spells it), `&#n;` and `&#xh;`. HTML's legacy forms
without the semicolon are left alone, so `Guitar&amplifier` and `Rossi&copy Srl`
stay as written (`html.unescape` would make them `Guitar&lifier`, `Rossi© Srl`).
A numeric reference to a character XML cannot carry (`&#0;`, a surrogate,
beyond U+10FFFF) is dropped like the raw character would be; `&#128;`–`&#159;`
are read as Windows-1252, as HTML does (`&#150;` is an en dash).
"""

from __future__ import annotations

import re
import unicodedata
from html.entities import html5 as _HTML5

MAX_TEXT = 255

# XML 1.0 forbids C0 controls except TAB, LF, CR; U+FFFE, U+FFFF; surrogates
# (only lone ones can occur in a Python str). DEL and C1 controls are legal but garbage.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]+")
_LINE_BREAKS = re.compile("[\r\n\t\u2028\u2029]")
_SPACES = re.compile(" {2,}")
_SPACES_AROUND_NEWLINE = re.compile(" *\n *")
_SAFE_ASCII = re.compile("[ -~]*")
_REFERENCE = re.compile(r"&(?:#([0-9]+)|#[xX]([0-9a-fA-F]+)|([A-Za-z][A-Za-z0-9]*));")
_NAMED = {name[:-1]: value for name, value in _HTML5.items() if name.endswith(";")}
_MAX_CODE_POINT = 0x10FFFF


def _code_point(number: int) -> str:
    """The character a numeric reference stands for; "" when there is none XML could carry."""
    if 0x80 <= number <= 0x9F:
        try:
            return bytes([number]).decode("cp1252")
        except UnicodeDecodeError:  # the five holes of Windows-1252
            return ""
    if number > _MAX_CODE_POINT or 0xD800 <= number <= 0xDFFF:
        return ""
    return _FORBIDDEN.sub("", chr(number))


def _decode(match: re.Match) -> str:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED.get(name, match.group(0))
    digits = decimal if decimal is not None else hexadecimal
    if len(digits.lstrip("0")) > 8:  # far beyond U+10FFFF; spares int() a huge number
        return ""
    return _code_point(int(digits, 10 if decimal is not None else 16))


def decode_references(text: str) -> str:
    """`text` with its complete character references decoded, once (see the module docstring)."""
    return _REFERENCE.sub(_decode, text) if "&" in text else text


def clean(value: object, *, max_len: int = MAX_TEXT, one_line: bool = True, references: bool = True) -> str:
    """Text fit for an XML element (see the module docstring).

    `max_len=0` means no cut (for values whose length is checked, not cut:
    ORDER_ID, CODE). In multi-line text CR LF and CR become LF and tabs stay.
    `references=False` is for text cleaned before (a street joined from two
    cleaned lines): its references were decoded once already, and `&amp;amp;`
    must end as `&amp;`, not `&`.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not text:
        return ""
    if _SAFE_ASCII.fullmatch(text):
        # Fast path for the common case: printable ASCII is already NFC and allowed.
        if "&" in text and references:
            text = decode_references(text)
        else:
            if "  " in text:
                text = _SPACES.sub(" ", text)
            text = text.strip(" ")
            return text[:max_len].rstrip(" ") if max_len and len(text) > max_len else text
    elif references:
        text = decode_references(text)
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
