"""`feedsvc validate URL` against loopback servers that misbehave on purpose.

Each server is a plain socket on 127.0.0.1 whose answer the test writes byte
by byte: trickled bodies and headers, bodies shorter than announced, gzip cut
short, redirects into the machine's own network. The command runs as a real
process. No test waits for a clock to run out on the test's side: a stalling
server waits on an event that the test sets when it is done.
"""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "tests" / "fixtures" / "retino" / "two_orders.xml").read_bytes()


class Server:
    """Accepts connections on 127.0.0.1 and hands each to `answer(server, connection, request_head)`."""

    def __init__(self, answer):
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self.release = threading.Event()  # set by the test: every stalling answer gives up
        self.sent = 0
        self.got_request = threading.Event()
        self.client_gone = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection):
        with connection:
            head = b""
            connection.settimeout(30)
            try:
                while b"\r\n\r\n" not in head:
                    data = connection.recv(4096)
                    if not data:
                        return
                    head += data
                self.requests.append(head)
                self.got_request.set()
                self.answer(self, connection, head)
            except OSError:
                self.client_gone.set()

    def send(self, connection, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)

    def trickle(self, connection, data: bytes, pause: float = 0.05) -> None:
        """One byte at a time until done, the client leaves, or the test releases the server."""
        for index in range(len(data)):
            if self.release.is_set():
                return
            self.send(connection, data[index:index + 1])
            self.release.wait(pause)

    def close(self):
        self.release.set()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture
def servers():
    started = []

    def start(answer):
        server = Server(answer)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def response(body: bytes, status: str = "200 OK", **headers) -> bytes:
    fields = {"Content-Type": "application/xml", "Content-Length": str(len(body)), **headers}
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in fields.items())
    return head.encode() + b"Connection: close\r\n\r\n" + body


def serve(body: bytes, **headers):
    return lambda server, connection, head: server.send(connection, response(body, **headers))


def redirect_to(location: str):
    return lambda server, connection, head: server.send(
        connection, response(b"", status="302 Found", Location=location))


def validate(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "feedsvc.cli", "validate", *map(str, args), "--days", "100000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


# -- the deadline covers the whole fetch ------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_a_trickled_body_is_stopped_at_the_deadline(servers):
    def trickle(server, connection, head):
        server.send(connection, response(GOOD * 100)[:-len(GOOD) * 100])  # the headers at once
        server.trickle(connection, GOOD * 100)
    server = servers(trickle)
    done = validate(f"{server.url}/feed.xml", "--timeout", "1")
    assert done.returncode == 2 and "no complete answer within 1 s" in done.stderr
    assert server.sent < len(GOOD) * 100  # the client left long before the body's end
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(120)
def test_trickled_headers_are_stopped_at_the_deadline(servers):
    server = servers(lambda server, connection, head: server.trickle(connection, response(GOOD)))
    done = validate(f"{server.url}/feed.xml", "--timeout", "1", "--json")
    assert done.returncode == 2 and "within 1 s" in json.loads(done.stdout)["error"]
    assert server.sent < len(response(GOOD))


@pytest.mark.timeout(120)
def test_a_silent_server_is_stopped_at_the_deadline(servers):
    server = servers(lambda server, connection, head: server.release.wait(60))
    done = validate(f"{server.url}/feed.xml", "--timeout", "1")
    assert done.returncode == 2 and "within 1 s" in done.stderr and server.got_request.is_set()


# -- bodies that end early are never checked as if whole ---------------------------------------------------

def test_a_body_shorter_than_its_content_length_is_unreadable(servers):
    def short(server, connection, head):
        server.send(connection, response(GOOD)[:-500])  # Content-Length says 500 bytes more
    server = servers(short)
    done = validate(f"{server.url}/feed.xml")
    assert done.returncode == 2 and "broke off" in done.stderr


@pytest.mark.parametrize("cut", [1, 10, 300])
def test_a_gzip_transfer_cut_short_is_unreadable(servers, cut):
    packed = gzip.compress(GOOD)[:-cut]
    server = servers(serve(packed, Content_Encoding="gzip"))
    done = validate(f"{server.url}/feed.xml")
    assert done.returncode == 2 and ("ends early" in done.stderr or "corrupt" in done.stderr)


def test_gzip_transfer_and_gzip_body_are_both_undone(servers):
    server = servers(serve(gzip.compress(gzip.compress(GOOD)), Content_Encoding="gzip"))
    assert validate(f"{server.url}/feed.xml.gz").returncode == 0
    deflated = servers(serve(zlib.compress(GOOD), Content_Encoding="deflate"))
    assert validate(f"{deflated.url}/feed.xml").returncode == 0


@pytest.mark.timeout(120)
def test_a_gzip_bomb_over_http_stops_at_the_cap(servers):
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = packer.compress(b"<ORDERS>") + b"".join(packer.compress(b" " * (1 << 20)) for _ in range(64))
    bomb += packer.compress(b"</ORDERS>") + packer.flush()
    assert len(bomb) < 100_000
    server = servers(serve(bomb, Content_Encoding="gzip"))
    done = validate(f"{server.url}/feed.xml", "--max-bytes", str(8 << 20))
    assert done.returncode == 2 and "over the limit" in done.stderr


# -- where a fetch may go ------------------------------------------------------------------------------------

def test_a_redirect_to_another_loopback_port_is_refused_unless_allowed(servers):
    inside = servers(serve(GOOD))
    outside = servers(redirect_to(f"{inside.url}/admin/feed.xml"))
    done = validate(f"{outside.url}/feed.xml")
    assert done.returncode == 2 and "refusing to connect to 127.0.0.1" in done.stderr
    assert "--allow-private" in done.stderr and not inside.requests
    allowed = validate(f"{outside.url}/feed.xml", "--allow-private")
    assert allowed.returncode == 0 and len(inside.requests) == 1


def test_a_redirect_to_a_name_of_the_loopback_is_refused(servers):
    inside = servers(serve(GOOD))
    outside = servers(redirect_to(f"http://localhost:{inside.port}/feed.xml"))
    done = validate(f"{outside.url}/feed.xml")
    assert done.returncode == 2 and "refusing to connect to localhost (127.0.0.1)" in done.stderr
    assert not inside.requests


@pytest.mark.parametrize("target", [
    "http://10.0.0.1/feed.xml", "http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/feed.xml",
    "http://[::ffff:127.0.0.1]:8080/", "http://0.0.0.0:8080/", "http://192.168.1.1/", "http://172.16.0.1/",
    "http://100.64.0.1/", "http://[fe80::1]/", "http://[fd00::1]/", "http://127.1.2.3/", "http://[::ffff:a00:1]/",
])
def test_redirects_into_private_networks_are_refused_before_connecting(servers, target):
    outside = servers(redirect_to(target))
    done = validate(f"{outside.url}/feed.xml")
    assert done.returncode == 2 and "refusing to connect" in done.stderr and "Traceback" not in done.stderr


def test_a_redirect_chain_ends_after_five_hops(servers):
    hops = [servers(serve(GOOD))]
    for _ in range(6):
        hops.append(servers(redirect_to(f"{hops[-1].url}/feed.xml")))
    too_long = validate(f"{hops[-1].url}/feed.xml", "--allow-private")
    assert too_long.returncode == 2 and "more than 5 redirects" in too_long.stderr
    five = validate(f"{hops[-2].url}/feed.xml", "--allow-private")
    assert five.returncode == 0


def test_credentials_stay_with_the_origin_the_user_named(servers):
    elsewhere = servers(serve(GOOD))
    first = servers(redirect_to(f"{elsewhere.url}/feed.xml"))
    done = validate(f"{first.url}/feed.xml", "--allow-private", "--user", "retino", "--password", "s3cret")
    assert done.returncode == 0
    assert b"authorization: basic" in first.requests[0].lower()
    assert b"authorization" not in elsewhere.requests[0].lower()


# -- what is left behind --------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupted_download_leaves_no_temporary_file(servers, tmp_path, stop):
    def endless(server, connection, head):
        server.send(connection, b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n<ORDERS>")
        server.trickle(connection, b" " * 100_000)
    server = servers(endless)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    # A shell that starts the suite in the background (`make test &`) makes its children ignore SIGINT; the
    # child must get Ctrl-C as a terminal's user would.
    process = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "validate", f"{server.url}/feed.xml"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert server.got_request.wait(60)
        for _ in range(600):  # the download has begun once its file exists and bytes went out
            if list(scratch.iterdir()) and server.sent > 20:
                break
            server.release.wait(0.05)
        assert list(scratch.iterdir()), "the download never started"
        process.send_signal(stop)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (130, 143) and "Traceback" not in err.decode()
    assert list(scratch.iterdir()) == []


@pytest.mark.timeout(60)
def test_endless_local_sources_are_capped(tmp_path):
    done = validate("/dev/zero")
    assert done.returncode == 2 and "not XML" in done.stderr
    fifo = tmp_path / "feed.fifo"
    os.mkfifo(fifo)

    def writer():
        try:
            with open(fifo, "wb") as out:
                out.write(b"<ORDERS>")
                while True:
                    out.write(b" " * 65536)
        except (BrokenPipeError, OSError):
            pass

    feeding = threading.Thread(target=writer, daemon=True)
    feeding.start()
    started = time.monotonic()
    done = validate(fifo, "--max-bytes", str(1 << 20))
    feeding.join(timeout=30)
    assert done.returncode == 2 and "over the limit" in done.stderr
    assert time.monotonic() - started < 60
