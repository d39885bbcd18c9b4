"""Reading an untrusted XML feed in bounded memory, one <ORDER> at a time.

The parsers never resolve entities, load a DTD or touch the network, and drop
comments and processing instructions as they read them. What they see
decides, not a window of bytes:

- The prolog is read first by a parser that builds nothing. A DOCTYPE stops
  everything right there (refusal S1), before its internal subset, where
  entity bombs and external entities live, is even read; so does a prolog
  longer than `MAX_PROLOG_BYTES` (S2).
- The tree then holds only the root, the <ORDER> being read and what the
  last chunk added: each finished ORDER (a child of the root) is handed out
  and dropped, and after every chunk anything else the root has gathered is
  noted (`strays`, for the schema check) and pruned, however deep.
- Hostile shapes are refused before they cost memory: a tag with more than
  `MAX_TAG_ATTRIBUTES` attributes (counted in the raw bytes, since libxml2
  builds a start tag's attributes all at once), an ORDER over
  `MAX_ORDER_BYTES`, `MAX_ORDER_NODES` nodes or `MAX_ORDER_ATTRIBUTES`
  attributes. libxml2's own limits (depth 256, 10 MB per text) stay on.
- Some growth happens inside libxml2 where no tree shows it (every distinct
  element name is kept in a dictionary; prefixed namespace declarations grow
  a table), so the process's resident memory is watched too: a pass that
  grows it by more than `MAX_EXTRA_MEMORY` stops (S2) instead of growing on.

Errors: `Refused` (S1/S2), `TooLarge` (over max_bytes: could not be read),
`etree.XMLSyntaxError` (not well-formed, including a document that ends early).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from lxml import etree

ORDER = "ORDER"
CHUNK = 1 << 16
MAX_PROLOG_BYTES = 1 << 20
MAX_TAG_ATTRIBUTES = 1000
MAX_ORDER_BYTES = 16 << 20
MAX_ORDER_NODES = 100_000
MAX_ORDER_ATTRIBUTES = 1000
MAX_EXTRA_MEMORY = 128 << 20
KEPT_STRAYS = 20  # root-level elements described for the schema check; the rest are only counted
KEPT_TEXT = 200

# The second wall behind the prolog check: even if a DTD got through, nothing would be resolved or loaded.
PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
                  "remove_comments": True, "remove_pis": True, "collect_ids": False}

_COUNT_NODES = etree.XPath("count(descendant::node())")
_COUNT_ATTRIBUTES = etree.XPath("count(descendant-or-self::*/@*)")
_COUNT_ORDERS = etree.XPath(f"count({ORDER})")
_FIRST_STRAYS = etree.XPath(f"*[not(self::{ORDER})][position() <= $n]")
_TEXTS = etree.XPath("text()[normalize-space()]")


class Refused(Exception):
    """The document is not processed past this point (rule S1: a DOCTYPE; S2: a safety limit)."""

    def __init__(self, code: str, line: int | None, message: str):
        super().__init__(message)
        self.code, self.line, self.message = code, line, message


class TooLarge(Exception):
    """More bytes than max_bytes were read."""


@dataclass
class Stray:
    """An element directly under the root that is not an ORDER (the schema check reports it)."""

    tag: str
    line: int | None
    attributes: dict[str, str] = field(default_factory=dict)


class _PrologSeen(Exception):
    def __init__(self, what: str, tag: str | None = None):
        super().__init__(what)
        self.what, self.tag = what, tag


class _PrologTarget:
    """Builds nothing; stops the prolog parser at the DOCTYPE or at the root's start tag."""

    def doctype(self, name, public_id, system_url):
        raise _PrologSeen("doctype")

    def start(self, tag, attributes):
        raise _PrologSeen("root", tag)

    def close(self):
        return None


class _AttributeGuard:
    """Counts '=' signs between two '<' in the raw bytes: every attribute of a start tag has one,
    and a start tag cannot hold a '<', so no tag can carry more attributes than that count."""

    def __init__(self, limit: int):
        self.limit = limit
        self.pending = 0  # '=' since the last '<'

    def check(self, chunk: bytes) -> int | None:
        """None, or the offset in `chunk` of the '<' whose tag (or text) holds too many '='."""
        last = chunk.rfind(b"<")
        if last < 0:
            self.pending += chunk.count(b"=")
            return 0 if self.pending > self.limit else None
        first = chunk.find(b"<")
        if self.pending + chunk.count(b"=", 0, first) > self.limit:
            return 0
        if chunk.count(b"=", first, last) > self.limit:  # rare: look at each tag of the chunk
            position = first
            for piece in chunk[first:last].split(b"<"):
                if piece.count(b"=") > self.limit:
                    return position
                position += len(piece) + 1
        self.pending = chunk.count(b"=", last)
        return None


class FeedReader:
    """One pass over a document: `orders()` yields each <ORDER> child of the root, then drops it.

    After the pass: `root_tag`, `root_line`, `root_attributes`, `root_text` (non-whitespace text
    directly in the root, cut short), `strays` (the first root-level elements that are not ORDERs)
    and `stray_count`, `bytes_read`, `complete` (the whole document was read).
    """

    def __init__(self, stream: BinaryIO, *, max_bytes: int | None = None):
        self.stream = stream
        self.max_bytes = max_bytes
        self.bytes_read = 0
        self.lines_before = 0  # newlines before the chunk being parsed
        self.head = b""
        self.root: Any = None  # the document element (lxml) once its start tag is read
        self.root_tag: str | None = None
        self.root_line: int | None = None
        self.root_attributes: dict[str, str] = {}
        self.root_text = ""
        self.strays: list[Stray] = []
        self.stray_count = 0
        self.complete = False
        self._guard = _AttributeGuard(MAX_TAG_ATTRIBUTES)
        self._pending: list[bytes] = []
        self._open = None
        self._open_since = 0
        self._memory_at_start = _resident_bytes()

    # -- bytes ---------------------------------------------------------------
    def read_head(self, size: int = 4096) -> bytes:
        """The first bytes (for the checks on the declaration and the encoding); they are parsed later."""
        while len(self.head) < size:
            chunk = self._read()
            if not chunk:
                break
            self._pending.append(chunk)
            self.head += chunk[:size - len(self.head)]
        return self.head

    def _read(self) -> bytes:
        chunk = self.stream.read(CHUNK)
        if not chunk:
            return b""
        self.bytes_read += len(chunk)
        if self.max_bytes is not None and self.bytes_read > self.max_bytes:
            raise TooLarge(f"the document is over the limit of {self.max_bytes} bytes (--max-bytes)")
        if self._memory_at_start and _resident_bytes() - self._memory_at_start > MAX_EXTRA_MEMORY:
            raise Refused("S2", self.lines_before + 1 or None,
                          f"reading the document took over {MAX_EXTRA_MEMORY >> 20} MiB of memory (millions of "
                          "distinct element names or namespace declarations?); it was not checked further")
        flooded = self._guard.check(chunk)
        if flooded is not None:
            line = self.lines_before + sum(c.count(b"\n") for c in self._pending) + chunk.count(b"\n", 0, flooded) + 1
            raise Refused("S2", line, f"a tag near line {line} has more than {MAX_TAG_ATTRIBUTES} attributes "
                                      f"(or as many '=' between two tags); the document was not checked further")
        return chunk

    def _chunks(self) -> Iterator[bytes]:
        while self._pending:
            yield self._pending.pop(0)
        while chunk := self._read():
            yield chunk

    # -- the prolog ----------------------------------------------------------
    def _read_prolog(self) -> None:
        """Parse up to the root's start tag with a parser that builds nothing; keep the bytes for the tree."""
        self.read_head()
        sniffer = etree.XMLParser(target=_PrologTarget(), **PARSER_OPTIONS)
        index = 0
        try:
            while True:
                if index == len(self._pending):
                    chunk = self._read()
                    if not chunk:
                        sniffer.close()  # raises: no root element
                        return
                    self._pending.append(chunk)
                sniffer.feed(self._pending[index])
                index += 1
                if sum(map(len, self._pending)) > MAX_PROLOG_BYTES:
                    raise Refused("S2", None, f"no root element in the first {MAX_PROLOG_BYTES} bytes; "
                                              "the document was not checked")
        except _PrologSeen as seen:
            if seen.what == "doctype":
                line = _doctype_line(b"".join(self._pending))
                raise Refused("S1", line, "the document has a DOCTYPE; it was not processed (entity "
                                          "expansion and external files are refused)") from None
            self.root_tag = seen.tag

    # -- the tree ------------------------------------------------------------
    def orders(self) -> Iterator[etree._Element]:
        """Each ORDER child of the root, complete; it is cleared once the caller asks for the next one."""
        self._read_prolog()
        parser = etree.XMLPullParser(events=("start", "end"), tag=(self.root_tag, ORDER), **PARSER_OPTIONS)
        chunks = self._chunks()
        for chunk in chunks:
            parser.feed(chunk)
            yield from self._events(parser)
            self._prune()
            self.lines_before += chunk.count(b"\n")
        parser.close()
        yield from self._events(parser)
        if self.root is not None:
            self._note_root_level(everything=True)
        self.complete = True

    def _events(self, parser) -> Iterator[etree._Element]:
        root = self.root
        for event, element in parser.read_events():
            if root is None:
                root = self.root = element
                self.root_line = element.sourceline
                self.root_attributes = dict(element.attrib)
            elif element.getparent() is not root or element.tag != ORDER:
                continue
            elif event == "start":
                self._open, self._open_since = element, self.bytes_read
            else:
                self._open = None
                yield element
                element.clear(keep_tail=True)  # removed from the root by _prune, after this chunk

    def _note_root_level(self, everything: bool) -> None:
        """Note what the finished children of the root tell the schema check, before they are removed.

        XPath does the counting, so that a flood of millions of elements costs no Python object each.
        """
        root = self.root
        finished = len(root) if everything else len(root) - 1
        unfinished_order = not everything and root[-1].tag == ORDER
        strays = finished - (int(_COUNT_ORDERS(root)) - unfinished_order)
        if strays and len(self.strays) < KEPT_STRAYS:
            for element in _FIRST_STRAYS(root, n=KEPT_STRAYS - len(self.strays)):
                if element.getnext() is None and not everything:
                    break  # still being read
                tag = element.tag if isinstance(element.tag, str) else str(element.tag)
                self.strays.append(Stray(tag, element.sourceline, dict(element.attrib)))
        self.stray_count += strays
        if len(self.root_text) < KEPT_TEXT:
            for text in _TEXTS(root):
                self.root_text = (self.root_text + " " + text.strip())[:KEPT_TEXT].strip()
                if len(self.root_text) >= KEPT_TEXT:
                    break

    def _prune(self) -> None:
        """Keep the tree small whatever the document holds (called after every chunk)."""
        root = self.root
        if root is None or not len(root):
            return
        if len(root) > 1:
            self._note_root_level(everything=False)
            del root[:-1]
        last = root[-1]
        if last is self._open:
            self._check_order_size(last)
            return
        # A stray, open or not: only its last descendants can still be growing.
        node = last
        while len(node):
            del node[:-1]
            node = node[-1]

    def _check_order_size(self, order) -> None:
        line = order.sourceline
        if self.bytes_read - self._open_since > MAX_ORDER_BYTES:
            raise Refused("S2", line, f"the ORDER on line {line} is over {MAX_ORDER_BYTES >> 20} MiB; "
                                      "the document was not checked further")
        if _COUNT_NODES(order) > MAX_ORDER_NODES:
            raise Refused("S2", line, f"the ORDER on line {line} holds over {MAX_ORDER_NODES} elements and "
                                      "texts; the document was not checked further")
        if _COUNT_ATTRIBUTES(order) > MAX_ORDER_ATTRIBUTES:
            raise Refused("S2", line, f"the ORDER on line {line} carries over {MAX_ORDER_ATTRIBUTES} "
                                      "attributes; the document was not checked further")


_PROLOG_ITEM = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->)", re.DOTALL)


def _doctype_line(prolog: bytes) -> int:
    """The line of the DOCTYPE: the first markup of the prolog that is not a declaration, PI or comment."""
    position = 3 if prolog.startswith(b"\xef\xbb\xbf") else 0
    while match := _PROLOG_ITEM.match(prolog, position):
        position = match.end()
    while position < len(prolog) and prolog[position:position + 1].isspace():
        position += 1
    return prolog.count(b"\n", 0, position) + 1


def _resident_bytes() -> int:
    """This process's resident memory (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
