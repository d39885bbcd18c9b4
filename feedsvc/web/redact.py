"""Taking the feed token and the other secrets out of log text, whatever encoding a client used.

A client may percent-encode any character of a path (`/%66eed/%35%66….xml`),
encode it twice (`%2566`), or write hex digits in either case, and the server
still answers or at least logs what it was sent. So every word of a log line
is decoded until it stops changing and judged on what it means:

- a path under `/feed/` becomes `/feed/<redacted>` plus its `.xml` / `.xml.gz`
  ending (a wrong token can be a near miss of the right one);
- a word whose decoded text holds a secret, or 16 characters in a row of one
  (compared without case, for hex tokens), becomes `<redacted>`; in a URL only
  the part that holds it (path or query) is replaced;
- a secret with spaces in it (a password can have some, and shows then only
  across words, in a user agent say) takes the run of words that holds it.
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
        secrets = list(secrets)
        self.secrets = [secret.lower() for secret in secrets]
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
        text = _WORD.sub(lambda match: self.word(match.group(0)), text)
        return self._across_words(text) if self.holds_secret(text) else text

    def _piece(self, word: str) -> bool:
        piece = fully_decoded(word).lower()
        return len(piece) >= 3 and any(piece in secret for secret in self.secrets)

    def _across_words(self, text: str, reach: int = 8) -> str:
        """A secret with spaces in it (a password may have some) shows only across words: each run of up
        to `reach` words that holds one becomes `<redacted>`."""
        words = list(_WORD.finditer(text))
        spans, i = [], 0
        while i < len(words):
            end = next((k for k in range(i, min(i + reach, len(words)))
                        if self.holds_secret(text[words[i].start():words[k].end()])), None)
            if end is None:
                i += 1
                continue
            start = next(j for j in range(end, i - 1, -1) if self.holds_secret(text[words[j].start():words[end].end()]))
            # and the words around it that are pieces of a secret too (the rest of the password)
            while start > 0 and self._piece(words[start - 1].group(0)):
                start -= 1
            while end + 1 < len(words) and self._piece(words[end + 1].group(0)):
                end += 1
            spans.append((words[start].start(), words[end].end()))
            i = end + 1
        for begin, finish in reversed(spans):
            text = text[:begin] + REDACTED + text[finish:]
        return text


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
