"""Syntax highlighting for XML and JSON on the server: escape first, then wrap tokens in spans."""

from __future__ import annotations

import re
from html import escape

_XML_TOKEN = re.compile(r"(&lt;/?)([A-Za-z_][\w.-]*)(.*?)(/?&gt;)")
_JSON_TOKEN = re.compile(r'("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)')


def highlight_xml(text: str) -> str:
    """HTML for an XML fragment: tags in one colour, text content plain (already escaped)."""
    return _XML_TOKEN.sub(lambda m: f'<span class="xt">{m.group(1)}{m.group(2)}{m.group(3)}{m.group(4)}</span>',
                          escape(text, quote=False))


def _json_span(match: re.Match) -> str:
    string, colon, literal, number = match.groups()
    if string is not None:
        css = "jk" if colon else "js"
        return f'<span class="{css}">{string}</span>{colon or ""}'
    if literal is not None:
        return f'<span class="jl">{literal}</span>'
    return f'<span class="jn">{number}</span>'


def highlight_json(text: str) -> str:
    return _JSON_TOKEN.sub(_json_span, escape(text, quote=False))
