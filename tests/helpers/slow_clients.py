"""Clients that connect and then stall, as an attacker would: for the slow-client test and benchmark.

Kinds, each one connection to 127.0.0.1:
- `hello`: sends the first 3 bytes of a TLS ClientHello and nothing more;
- `idle`: connects and sends nothing;
- `half`: completes the TLS handshake, sends half a request line, stalls.
Opening is bounded: at most `count` connections, each step with a timeout,
so a server that does not answer makes the helper fail, not hang.
"""

from __future__ import annotations

import socket
import ssl
import time

KINDS = ("hello", "idle", "half")
TLS_RECORD_START = b"\x16\x03\x01"  # handshake record, TLS 1.0 record version: the first 3 bytes of a ClientHello


def open_slow(port: int, kind: str, *, cafile: str | None, timeout: float = 20.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if kind == "hello":
        sock.sendall(TLS_RECORD_START)
    elif kind == "half":
        if cafile is not None:
            sock = ssl.create_default_context(cafile=cafile).wrap_socket(sock, server_hostname="127.0.0.1")
        sock.sendall(b"GET /feed.xml HT")
    elif kind != "idle":
        raise ValueError(kind)
    return sock


class SlowCrowd:
    """`with SlowCrowd(port, count, cafile=...) as crowd:` holds `count` stalled connections, kinds in turn."""

    def __init__(self, port: int, count: int, *, cafile: str | None, kinds=KINDS):
        self.port, self.count, self.cafile, self.kinds = port, count, cafile, kinds
        self.sockets: list[tuple[str, socket.socket]] = []

    def __enter__(self) -> SlowCrowd:
        try:
            for i in range(self.count):
                kind = self.kinds[i % len(self.kinds)]
                self.sockets.append((kind, open_slow(self.port, kind, cafile=self.cafile)))
        except BaseException:
            self.close()
            raise
        return self

    def still_waiting(self) -> int:
        """How many connections the server has neither closed nor answered (a peek at the raw socket)."""
        waiting = 0
        for _, sock in self.sockets:
            timeout = sock.gettimeout()
            sock.settimeout(0)  # with a timeout set, Python would wait for data before peeking
            try:
                if isinstance(sock, ssl.SSLSocket):
                    sock.recv(1)  # reads TLS 1.3 session tickets; raises while no application data came
                else:
                    sock.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, ssl.SSLWantReadError):
                waiting += 1
            except OSError:
                pass
            finally:
                sock.settimeout(timeout)
        return waiting

    def close(self) -> None:
        for _, sock in self.sockets:
            sock.close()
        self.sockets.clear()

    def __exit__(self, *exc) -> None:
        self.close()


def wait_closed_by_server(sock: socket.socket, limit: float) -> float:
    """Block until the server closes `sock` (end of file or reset); seconds waited. Fails after `limit`."""
    began = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for more than {limit} s") from None
    return time.monotonic() - began
