"""Reading a feed to check: a file, standard input or an http(s) URL, always under a size cap.

Remote feeds are fetched as Retino fetches them, with at most 5 redirects and
Basic auth when given (sent only to the origin the user named), under one
wall-clock deadline (60 s, as Retino) for the whole fetch: DNS, connecting,
TLS, headers and body. A watchdog shuts the connection down when the deadline
passes, so a server that trickles a byte at a time cannot hold the check.

Where a fetch may go: the URL the user typed may name a loopback or private
address literally (or `localhost`); anything else (a redirect to another
origin, a host name) must resolve to and be connected to a public address,
unless `allow_private` (`--allow-private`). The address checked is the one
the socket actually connected to, so DNS rebinding does not get around it.

gzip is undone whether it came as a Content-Encoding or as a `.gz` body, in
bounded steps; the cap applies to the bytes read and to the decompressed
bytes, so a gzip bomb or an endless stream (`/dev/zero`, a FIFO) stops at
the cap. A gzip stream that ends early, or with bytes after it, is refused.
A download is written to a temporary file that is removed however the run ends.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from feedsvc.retino.validate import UnreadableFeed

RETINO_TIMEOUT = 60.0
MAX_REDIRECTS = 5
_CHUNK = 1 << 16
_REDIRECTS = (301, 302, 303, 307, 308)

if TYPE_CHECKING:
    import httpx


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


class _Gunzip:
    """Undoes gzip (several members allowed) in steps of at most `_CHUNK` bytes of output."""

    def __init__(self, label: str):
        self.label = label
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes):
        while data:
            try:
                out = self.inflater.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise UnreadableFeed(f"{self.label}: corrupt gzip data ({exc})") from None
            yield out
            data = self.inflater.unconsumed_tail
            if self.inflater.eof:
                rest = self.inflater.unused_data + data
                if not rest:
                    return
                if not rest.startswith(b"\x1f\x8b"):
                    raise UnreadableFeed(f"{self.label}: {len(rest)}+ bytes that are not gzip after the gzip data")
                self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest

    def finish(self) -> bytes:
        tail = self.inflater.flush()
        if not self.inflater.eof:
            raise UnreadableFeed(f"{self.label}: the gzip data ends early (the file or download was cut short)")
        return tail


class _Inflate:
    """Content-Encoding: deflate (zlib-wrapped, or raw as some servers send it)."""

    def __init__(self, label: str):
        self.label = label
        self.inflater: zlib._Decompress | None = None

    def feed(self, data: bytes):
        if self.inflater is None:
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self.inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        inflater = self.inflater
        while data:
            try:
                out = inflater.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise UnreadableFeed(f"{self.label}: corrupt deflate data ({exc})") from None
            yield out
            data = inflater.unconsumed_tail
            if inflater.eof and (data or inflater.unused_data):
                raise UnreadableFeed(f"{self.label}: bytes after the end of the deflate data")

    def finish(self) -> bytes:
        if self.inflater is None:
            return b""
        tail = self.inflater.flush()
        if not self.inflater.eof:
            raise UnreadableFeed(f"{self.label}: the deflate data ends early (the download was cut short)")
        return tail


class _CappedWriter:
    """Writes a document to a temporary file, undoing gzip on the fly, never past max_bytes.

    Every byte read counts against the cap (`count_read`), and so does every
    byte kept; a body starting with the gzip magic is decompressed in bounded steps.
    """

    def __init__(self, max_bytes: int, label: str):
        self.max_bytes = max_bytes
        self.label = label
        self.file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open while the body arrives; close() or abort())
            prefix="feedsvc-validate-", suffix=".xml", delete=False)
        self.size = 0
        self.read = 0
        self.decoder: _Gunzip | None = None
        self.first = True

    def count_read(self, size: int) -> None:
        self.read += size
        if self.read > self.max_bytes:
            raise UnreadableFeed(f"{self.label} is over the limit of {self.max_bytes} bytes (--max-bytes)")

    def write(self, chunk: bytes, *, counted: bool = False) -> None:
        """Take the next bytes of the body (`counted`: already counted as read, before a transport decoding)."""
        if not chunk:
            return
        if not counted:
            self.count_read(len(chunk))
        if self.first:
            self.first = False
            if chunk[:2] == b"\x1f\x8b":
                self.decoder = _Gunzip(self.label)
        if self.decoder is None:
            self._keep(chunk)
            return
        for piece in self.decoder.feed(chunk):
            self._keep(piece)

    def _keep(self, piece: bytes) -> None:
        if not piece:
            return
        if self.size == 0:
            _refuse_non_xml(piece, self.label)
        self.size += len(piece)
        if self.size > self.max_bytes:
            raise UnreadableFeed(f"{self.label} is over the limit of {self.max_bytes} bytes (--max-bytes)")
        self.file.write(piece)

    def close(self) -> FetchedFeed:
        if self.decoder is not None:
            self._keep(self.decoder.finish())
        self.file.close()
        return FetchedFeed(Path(self.file.name), self.size, temporary=True)

    def abort(self) -> None:
        self.file.close()
        Path(self.file.name).unlink(missing_ok=True)


def _refuse_non_xml(first: bytes, label: str) -> None:
    """Stop at once on bytes no XML document starts with (`/dev/zero`, a binary file), instead of
    reading on to the cap; an encoding problem (UTF-16, a BOM) is left to the checks that name it."""
    start = first.lstrip(b" \t\r\n")[:2]
    if start and start[:1] != b"<" and start not in (b"\xef\xbb", b"\xff\xfe", b"\xfe\xff", b"\x00<"):
        raise UnreadableFeed(f"{label} is not XML (it starts with {first[:8]!r})")


def read_local(source: str, max_bytes: int) -> FetchedFeed:
    """A file (plain or gzip), or '-' for standard input; anything that is not a regular file is
    read through the cap, since its size says nothing (a FIFO, /dev/zero)."""
    if source == "-":
        return _spool(sys.stdin.buffer, max_bytes, "standard input")
    path = Path(source)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UnreadableFeed(f"{source}: no such file") from None
    except OSError as exc:
        raise UnreadableFeed(f"cannot read {source}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFeed(f"{source} is a directory")
    try:
        if not stat.S_ISREG(info.st_mode):
            with open(path, "rb") as stream:
                return _spool(stream, max_bytes, source)
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        if not gzipped:
            if info.st_size > max_bytes:
                raise UnreadableFeed(f"{source} is {info.st_size} bytes, over the limit of {max_bytes} (--max-bytes)")
            return FetchedFeed(path, info.st_size)
        with open(path, "rb") as stream:
            return _spool(stream, max_bytes, source)
    except OSError as exc:
        raise UnreadableFeed(f"cannot read {source}: {exc.strerror or exc}") from None


def _spool(stream, max_bytes: int, label: str) -> FetchedFeed:
    writer = _CappedWriter(max_bytes, label)
    try:
        while chunk := stream.read(_CHUNK):
            writer.write(chunk)
        return writer.close()
    except BaseException:  # Ctrl-C included: no temporary file is left behind
        writer.abort()
        raise


# -- where a fetch may connect ------------------------------------------------

class _Blocked(Exception):
    pass


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def _literal_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host.lower().rstrip(".") == "localhost"


class _Policy:
    """Which addresses a fetch may connect to (see the module docstring)."""

    def __init__(self, url: str, allow_private: bool):
        parts = urlsplit(url)
        self.allow_private = allow_private
        self.trusted = _origin(url) if parts.hostname and _literal_host(parts.hostname) else None

    def allowed(self, url: str, address: str) -> bool:
        return self.allow_private or _origin(url) == self.trusted or _is_public(address)

    def refuse(self, url: str, address: str) -> str:
        host = urlsplit(url).hostname
        named = host if host == address else f"{host} ({address})"
        return (f"{url}: refusing to connect to {named}, a loopback, private or link-local address "
                f"(use --allow-private if this is intended)")


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower().rstrip("."), port


class _Watchdog:
    """Enforces the deadline and the address policy on every socket the fetch opens.

    httpx reports each new connection through its `trace` extension; the
    watchdog checks the peer address there, before a byte is sent, and at the
    deadline shuts every socket down, which wakes a read blocked in any phase.
    """

    def __init__(self, seconds: float, policy: _Policy):
        self.policy = policy
        self.expired = False
        self.url = ""
        self.refusal: str | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict) -> None:
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        address = sock.getpeername()[0]
        if not self.policy.allowed(self.url, address):
            self.refusal = self.policy.refuse(self.url, address)
            sock.close()
            raise _Blocked(self.refusal)
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _resolve(url: str, seconds: float) -> list[str]:
    """The addresses of a URL's host, looked up in a thread so the deadline bounds DNS too."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    found: list = []
    failure: list = []

    def lookup():
        try:
            found.extend(info[4][0] for info in socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM))
        except OSError as exc:
            failure.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if worker.is_alive():
        raise TimeoutError
    if failure:
        raise UnreadableFeed(f"{url}: the host name could not be resolved (DNS): {failure[0]}")
    return found


# -- fetching -----------------------------------------------------------------

def _explain(exc: httpx.HTTPError, url: str, timeout: float) -> str:
    import httpx

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"{url}: no complete answer within {timeout:g} s (Retino gives up after 60 s)"
    if isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
            return f"{url}: TLS failure ({text}); use --ca-cert for a private CA"
        if "name or service" in lowered or "nodename" in lowered or "getaddrinfo" in lowered or "resolution" in lowered:
            return f"{url}: the host name could not be resolved (DNS): {text}"
        return f"{url}: cannot connect ({text})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{url}: the server broke off the answer ({text})"
    return f"{url}: {text}"


def fetch_url(url: str, *, user: str | None, password: str | None, ca_cert: str | None,
              max_bytes: int, timeout: float = RETINO_TIMEOUT, allow_private: bool = False) -> FetchedFeed:
    """Download `url` to a temporary file within `timeout` seconds in all (see the module docstring)."""
    import httpx  # only URLs need it; a file's check starts faster without

    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise UnreadableFeed(f"{url}: not an http(s) URL")
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_cert) if ca_cert else True
    started = time.monotonic()
    policy = _Policy(url, allow_private)
    writer = _CappedWriter(max_bytes, url)
    notes: list[tuple[str, str]] = []
    try:
        with _Watchdog(timeout, policy) as watchdog:
            try:
                _download(url, user, password, verify, timeout, started, policy, watchdog, writer, notes)
            except _Blocked:
                raise UnreadableFeed(watchdog.refusal or f"{url}: refused") from None
            except (httpx.HTTPError, TimeoutError, OSError) as exc:
                if watchdog.expired or isinstance(exc, TimeoutError):
                    raise UnreadableFeed(f"{url}: no complete answer within {timeout:g} s "
                                         "(Retino gives up after 60 s)") from None
                if isinstance(exc, httpx.HTTPError):
                    raise UnreadableFeed(_explain(exc, watchdog.url or url, timeout)) from None
                raise UnreadableFeed(f"{url}: {exc}") from None
        feed = writer.close()
    except BaseException:  # errors, Ctrl-C: no temporary file is left behind
        writer.abort()
        raise
    feed.seconds = time.monotonic() - started
    if feed.seconds > 30:
        notes.append(("warning", f"the download took {feed.seconds:.0f} s; Retino gives up at 60 s"))
    feed.notes = notes
    return feed


def _download(url, user, password, verify, timeout, started, policy, watchdog, writer, notes) -> None:
    import httpx

    first_origin = _origin(url)
    auth = (user, password or "") if user else None
    with httpx.Client(verify=verify, follow_redirects=False, trust_env=False,
                      headers={"User-Agent": "feedsvc-validate", "Accept-Encoding": "gzip, deflate"}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            left = timeout - (time.monotonic() - started)
            for address in _resolve(url, left):
                if not policy.allowed(url, address):
                    raise UnreadableFeed(policy.refuse(url, address))
            left = timeout - (time.monotonic() - started)
            watchdog.url = url
            request = client.build_request("GET", url, timeout=httpx.Timeout(max(left, 0.001)),
                                           extensions={"trace": watchdog.trace})
            # Credentials never follow a redirect to another origin.
            response = client.send(request, stream=True, auth=auth if _origin(url) == first_origin else None)
            try:
                if response.status_code in _REDIRECTS and response.headers.get("location"):
                    url = urljoin(url, response.headers["location"])
                    if urlsplit(url).scheme not in ("http", "https"):
                        raise UnreadableFeed(f"{url}: a redirect to something other than http(s)")
                    continue
                _read_body(response, url, writer, notes, watchdog)
                return
            finally:
                response.close()
        raise UnreadableFeed(f"{url}: more than {MAX_REDIRECTS} redirects")


def _read_body(response: httpx.Response, url: str, writer: _CappedWriter, notes, watchdog) -> None:
    if response.status_code != 200:
        reason = {401: "Unauthorized: wrong or missing credentials (--user/--password)",
                  403: "Forbidden", 404: "Not Found: check the URL or the token"}
        raise UnreadableFeed(f"{url}: HTTP {response.status_code} "
                             f"{reason.get(response.status_code, response.reason_phrase)}")
    content_type = response.headers.get("content-type", "")
    if content_type and "xml" not in content_type and "gzip" not in content_type:
        notes.append(("warning", f"Content-Type is {content_type!r}, not XML"))
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    decoder: _Gunzip | _Inflate | None
    if encoding in ("gzip", "x-gzip"):
        decoder = _Gunzip(url)
    elif encoding == "deflate":
        decoder = _Inflate(url)
    elif encoding in ("identity", ""):
        decoder = None
    else:
        raise UnreadableFeed(f"{url}: unsupported Content-Encoding {encoding!r}")
    for raw in response.iter_raw(_CHUNK):
        if watchdog.expired:
            raise TimeoutError
        if decoder is None:
            writer.write(raw)
            continue
        writer.count_read(len(raw))
        for piece in decoder.feed(raw):
            writer.write(piece, counted=True)
    if decoder is not None:
        writer.write(decoder.finish(), counted=True)
    if watchdog.expired:
        raise TimeoutError
