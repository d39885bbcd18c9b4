"""Taking the feed token and the other secrets out of log text, whatever encoding a client used.

A client may percent-encode any character of a path (`/%66eed/%35%66….xml`),
encode it twice (`%2566`), or write hex digits in either case, and the server
still answers or at least logs what it was sent. So every word of a log line
is decoded until it stops changing and judged on what it means:

- a path under `/feed/` becomes `/feed/<redacted>` plus its `.xml` / `.xml.gz`
  ending (a wrong token can be a near miss of the right one);
- a word whose decoded text holds a secret, or 16 characters in a row of one
  (compared without case, for hex tokens), becomes `<redacted>`; in a URL only
  the part that holds it (path or query) is replaced.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

REDACTED = "<redacted>"
WINDOW = 16  # this many characters in a row of a secret count as the secret
_WORD = re.compile(r"[^\s'\"]+")
_FEED_PATH = re.compile(r"^/+feed/", re.IGNORECASE)
_ENDING = re.compile(r"\.xml(\.gz)?$", re.IGNORECASE)


def fully_decoded(text: str, rounds: int = 8) -> str:
    """`text` percent-decoded until it stops changing (at most `rounds` times)."""
    for _ in range(rounds):
        decoded = unquote(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    return text


class Redactor:
    """Knows the secrets; `line(text)` returns the text with every trace of them replaced."""

    def __init__(self, secrets):
        self.windows: set[str] = set()
        for secret in secrets:
            lowered = secret.lower()
            size = min(WINDOW, len(lowered))
            self.windows.update(lowered[i:i + size] for i in range(len(lowered) - size + 1))
        self.window_sizes = sorted({len(w) for w in self.windows})

    def holds_secret(self, text: str) -> bool:
        lowered = fully_decoded(text).lower()
        for size in self.window_sizes:
            for i in range(len(lowered) - size + 1):
                if lowered[i:i + size] in self.windows:
                    return True
        return False

    def uri(self, raw: str) -> str:
        """A request target (path and query) as it may be logged."""
        path, mark, query = raw.partition("?")
        decoded_path = fully_decoded(path)
        if _FEED_PATH.match(decoded_path):
            ending = _ENDING.search(decoded_path)
            path = "/feed/" + REDACTED + (ending.group(0).lower() if ending else "")
        elif self.holds_secret(path):
            path = REDACTED
        if mark and self.holds_secret(query):
            query = REDACTED
        return path + mark + query

    def word(self, word: str) -> str:
        if word.startswith("/") or _FEED_PATH.match(fully_decoded(word)):
            return self.uri(word)
        if "://" in word:  # an absolute URL, e.g. in a Referer
            scheme, _, rest = word.partition("://")
            host, slash, target = rest.partition("/")
            return scheme + "://" + (REDACTED if self.holds_secret(host) else host) + (
                self.uri(slash + target) if slash else "")
        return REDACTED if self.holds_secret(word) else word

    def line(self, text: str) -> str:
        return _WORD.sub(lambda match: self.word(match.group(0)), text)


class RedactingFilter(logging.Filter):
    """A logging filter: every record's message and traceback text, with the secrets taken out."""

    _formatter = logging.Formatter()

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.line(record.getMessage())
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.line(record.exc_text)
        return True
