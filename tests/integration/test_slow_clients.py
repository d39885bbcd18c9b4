"""Slow and idle connections against real gunicorn over TLS: the feed and /healthz are still served, and a
connection that has not sent its request headers by FEEDSVC_HEADER_TIMEOUT is closed."""

import select
import socket
import ssl
import time

import httpx
import pytest

from feedsvc.tls import ensure_self_signed
from tests.helpers.data import FEED, publish_feed
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env
from tests.helpers.slow_clients import SlowCrowd, open_slow, wait_closed_by_server

SLOW_CONNECTIONS = 200  # 25 held the old threaded worker down; the benchmark opens 1,000
PROBES = 20


def big_feed(megabytes: int) -> bytes:
    head, _, rest = FEED.partition(b"<ORDER>")
    order, _, tail = rest.partition(b"</ORDER>")
    one = b"<ORDER>" + order + b"</ORDER>"
    return head + one * (megabytes * 1_000_000 // len(one) + 1) + tail.split(b"</ORDER>")[-1]


def test_feed_and_health_are_served_while_200_slow_connections_are_held(tmp_path):
    publish_feed(tmp_path)
    cert = ensure_self_signed(tmp_path)
    # A long deadline, so the slow connections are certainly still held while the probes run.
    env = base_env(tmp_path, FEEDSVC_HEADER_TIMEOUT=300)
    with GunicornServer(env, tls=cert, workers=2) as server:
        with SlowCrowd(server.port, SLOW_CONNECTIONS, cafile=str(cert[0])) as crowd:
            # Fresh connections each time: a kept-alive one could dodge a blocked accept path.
            with server.client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
                health = [client.get("/healthz").status_code for _ in range(PROBES)]
                feeds = [client.get(f"/feed/{TOKEN}.xml", headers={"Accept-Encoding": "identity"})
                         for _ in range(5)]
                by_basic = client.get("/feed.xml", auth=(USER, PASSWORD), headers={"Accept-Encoding": "identity"})
            held = crowd.still_waiting()
    assert health == [200] * PROBES
    assert all(r.status_code == 200 and r.content == FEED for r in feeds + [by_basic])
    assert held == SLOW_CONNECTIONS


@pytest.mark.parametrize("kind", ["hello", "idle", "half"])
def test_a_connection_without_request_headers_is_closed_at_the_deadline(tmp_path, kind):
    publish_feed(tmp_path)
    cert = ensure_self_signed(tmp_path)
    with GunicornServer(base_env(tmp_path, FEEDSVC_HEADER_TIMEOUT=1), tls=cert, workers=1) as server:
        sock = open_slow(server.port, kind, cafile=str(cert[0]))
        with sock:
            wait_closed_by_server(sock, limit=60)
        with server.client() as client:
            assert client.get("/healthz").status_code == 200


def test_headers_trickled_a_byte_at_a_time_are_cut_off(tmp_path):
    publish_feed(tmp_path)
    cert = ensure_self_signed(tmp_path)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Padding: " + b"a" * 400 + b"\r\n\r\n"
    with GunicornServer(base_env(tmp_path, FEEDSVC_HEADER_TIMEOUT=1), tls=cert, workers=1) as server:
        context = ssl.create_default_context(cafile=str(cert[0]))
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=30),
                                 server_hostname="127.0.0.1") as sock:
            sent = 0
            try:
                for byte in request:  # about 45 s at this pace; the deadline is 1 s
                    sock.sendall(bytes([byte]))
                    sent += 1
                    readable, _, _ = select.select([sock], [], [], 0.1)
                    if readable:
                        break
                answer = sock.recv(4096)
            except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
                answer = b""
    assert sent < len(request)
    assert answer == b""  # closed, not answered


def test_a_slow_reader_keeps_its_download_and_blocks_nobody(tmp_path):
    body = big_feed(8)
    publish_feed(tmp_path, body)
    cert = ensure_self_signed(tmp_path)
    with GunicornServer(base_env(tmp_path, FEEDSVC_HEADER_TIMEOUT=1), tls=cert, workers=1) as server:
        context = ssl.create_default_context(cafile=str(cert[0]))
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=30),
                                 server_hostname="127.0.0.1") as reader:
            reader.sendall(f"GET /feed/{TOKEN}.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                           "Accept-Encoding: identity\r\n\r\n".encode())
            received = reader.recv(65536)
            # The reader stops reading with most of 8 MB unsent; one worker must still answer others,
            # for longer than the header deadline.
            with server.client(timeout=30) as client:
                probes = [client.get("/healthz").status_code for _ in range(10)]
                wait_until = time.monotonic() + 2.0
                while time.monotonic() < wait_until:
                    probes.append(client.get("/healthz").status_code)
            while chunk := reader.recv(1 << 20):
                received += chunk
    head, _, content = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert content == body
    assert set(probes) == {200}


@pytest.mark.parametrize("kind", ["idle", "half"])
def test_plain_http_has_the_same_deadline(tmp_path, kind):
    publish_feed(tmp_path)
    with GunicornServer(base_env(tmp_path, FEEDSVC_HEADER_TIMEOUT=1), workers=1) as server:
        with open_slow(server.port, kind, cafile=None) as sock:
            wait_closed_by_server(sock, limit=60)


@pytest.mark.slow
def test_a_full_worker_stops_accepting_and_the_deadline_frees_it(tmp_path):
    """The accept path is bounded: beyond FEEDSVC_WORKER_CONNECTIONS the kernel's backlog waits, and
    connections closed at the deadline make room for the ones that do send a request."""
    psutil = pytest.importorskip("psutil")
    publish_feed(tmp_path)
    env = base_env(tmp_path, FEEDSVC_WORKER_CONNECTIONS=64, FEEDSVC_HEADER_TIMEOUT=2)
    with GunicornServer(env, workers=1) as server:
        worker = psutil.Process(server.process.pid).children()[0]
        with SlowCrowd(server.port, 200, cafile=None, kinds=("idle",)):
            held = [c for c in worker.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED
                    and c.laddr.port == server.port]
            with server.client(timeout=60) as client:
                health = client.get("/healthz").status_code
    assert len(held) <= 64
    assert health == 200


def test_a_client_that_stops_reading_is_let_go_after_the_send_timeout(tmp_path):
    psutil = pytest.importorskip("psutil")
    body = big_feed(8)
    publish_feed(tmp_path, body)
    cert = ensure_self_signed(tmp_path)
    with GunicornServer(base_env(tmp_path, FEEDSVC_SEND_TIMEOUT=1), tls=cert, workers=1) as server:
        worker = psutil.Process(server.process.pid).children()[0]
        context = ssl.create_default_context(cafile=str(cert[0]))
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=30),
                                 server_hostname="127.0.0.1") as reader:
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # buffers must not absorb 8 MB
            reader.sendall(f"GET /feed/{TOKEN}.xml HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Accept-Encoding: identity\r\n\r\n".encode())
            mine = reader.getsockname()[1]

            def server_holds_it():
                return any(c.raddr and c.raddr.port == mine for c in worker.net_connections("tcp")
                           if c.status == psutil.CONN_ESTABLISHED)

            give_up = time.monotonic() + 60
            while server_holds_it() and time.monotonic() < give_up:  # the server's close is the event
                time.sleep(0.05)
            let_go = not server_holds_it()
            # (not read to the end: through a 4 KB window the kernel's leftovers would take minutes)
        with server.client() as client:
            assert client.get("/healthz").status_code == 200
    assert let_go
