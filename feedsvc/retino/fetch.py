"""Reading a feed to check: a file, standard input or an http(s) URL, always under a size cap.

Remote feeds are fetched as Retino fetches them: 60-second timeout, at most 5
redirects, Basic auth when given. gzip is undone whether it came as a
Content-Encoding or as a `.gz` body, and the cap applies to the decompressed
bytes too, so a small gzip bomb is stopped like a large file.
"""

from __future__ import annotations

import ssl
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from feedsvc.retino.validate import UnreadableFeed

RETINO_TIMEOUT = 60.0
MAX_REDIRECTS = 5
_CHUNK = 1 << 16


@dataclass
class FetchedFeed:
    path: Path
    size: int
    seconds: float | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)  # (severity, message) for rule H1
    temporary: bool = False

    def cleanup(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


class _CappedWriter:
    """Writes to a temp file, undoing gzip on the fly, refusing to pass max_bytes."""

    def __init__(self, max_bytes: int, label: str):
        self.max_bytes = max_bytes
        self.label = label
        self.file = tempfile.NamedTemporaryFile(prefix="feedsvc-validate-", suffix=".xml", delete=False)
        self.size = 0
        self.decompressor = None
        self.first = True

    def write(self, chunk: bytes) -> None:
        if self.first and chunk:
            self.first = False
            if chunk[:2] == b"\x1f\x8b":
                self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.decompressor is not None:
            try:
                chunk = self.decompressor.decompress(chunk, self.max_bytes + 1 - self.size)
            except zlib.error as exc:
                raise UnreadableFeed(f"{self.label}: corrupt gzip data ({exc})") from None
        self._keep(chunk)

    def _keep(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.abort()
            raise UnreadableFeed(f"{self.label} is over the limit of {self.max_bytes} bytes (--max-bytes)")
        self.file.write(chunk)

    def close(self) -> FetchedFeed:
        if self.decompressor is not None:
            self._keep(self.decompressor.flush())
        self.file.close()
        return FetchedFeed(Path(self.file.name), self.size, temporary=True)

    def abort(self) -> None:
        self.file.close()
        Path(self.file.name).unlink(missing_ok=True)


def read_local(source: str, max_bytes: int) -> FetchedFeed:
    if source == "-":
        writer = _CappedWriter(max_bytes, "standard input")
        while chunk := sys.stdin.buffer.read(_CHUNK):
            writer.write(chunk)
        return writer.close()
    path = Path(source)
    if not path.exists():
        raise UnreadableFeed(f"{source}: no such file")
    if path.is_dir():
        raise UnreadableFeed(f"{source} is a directory")
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if not gzipped:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableFeed(f"{source} is {size} bytes, over the limit of {max_bytes} (--max-bytes)")
        return FetchedFeed(path, size)
    writer = _CappedWriter(max_bytes, source)
    try:
        with open(path, "rb") as raw:
            while chunk := raw.read(_CHUNK):
                writer.write(chunk)
    except OSError as exc:
        writer.abort()
        raise UnreadableFeed(f"cannot read {source}: {exc}") from None
    return writer.close()


def _explain(exc: httpx.HTTPError, url: str) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"{url}: no complete answer within {RETINO_TIMEOUT:.0f} s (Retino gives up after 60 s)"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"{url}: more than {MAX_REDIRECTS} redirects"
    if isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
            return f"{url}: TLS failure ({text}); use --ca-cert for a private CA"
        if "name or service" in lowered or "nodename" in lowered or "getaddrinfo" in lowered or "resolution" in lowered:
            return f"{url}: the host name could not be resolved (DNS): {text}"
        return f"{url}: cannot connect ({text})"
    return f"{url}: {text}"


def fetch_url(url: str, *, user: str | None, password: str | None, ca_cert: str | None,
              max_bytes: int) -> FetchedFeed:
    auth = (user, password or "") if user else None
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_cert) if ca_cert else True
    started = time.monotonic()
    writer = _CappedWriter(max_bytes, url)
    notes: list[tuple[str, str]] = []
    try:
        with httpx.Client(timeout=RETINO_TIMEOUT, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                          verify=verify, auth=auth, headers={"User-Agent": "feedsvc-validate"}) as client:
            with client.stream("GET", url) as response:
                if response.status_code != 200:
                    writer.abort()
                    reason = {401: "Unauthorized: wrong or missing credentials (--user/--password)",
                              403: "Forbidden", 404: "Not Found: check the URL or the token"}
                    raise UnreadableFeed(f"{url}: HTTP {response.status_code} "
                                         f"{reason.get(response.status_code, response.reason_phrase)}")
                content_type = response.headers.get("content-type", "")
                if content_type and "xml" not in content_type and "gzip" not in content_type:
                    notes.append(("warning", f"Content-Type is {content_type!r}, not XML"))
                for chunk in response.iter_bytes(_CHUNK):
                    writer.write(chunk)
                    if time.monotonic() - started > RETINO_TIMEOUT:
                        raise httpx.ReadTimeout("total time over 60 s")
    except httpx.HTTPError as exc:
        writer.abort()
        raise UnreadableFeed(_explain(exc, url)) from None
    except UnreadableFeed:
        writer.abort()
        raise
    feed = writer.close()
    feed.seconds = time.monotonic() - started
    if feed.seconds > 30:
        notes.append(("warning", f"the download took {feed.seconds:.0f} s; Retino gives up at 60 s"))
    feed.notes = notes
    return feed
