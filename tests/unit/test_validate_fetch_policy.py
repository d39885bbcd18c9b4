"""Where `feedsvc validate URL` may connect: the address rules, and the check on the socket itself.

DNS is replaced here (the only fake): a name that looks public to the lookup
must still be refused when the connection lands on the loopback.
"""

import socket
import threading

import pytest

from feedsvc.retino import fetch
from feedsvc.retino.fetch import _is_public, _Policy, _Watchdog, fetch_url
from feedsvc.retino.validate import UnreadableFeed


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("8.8.8.8", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("127.9.9.9", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("224.0.0.1", False), ("255.255.255.255", False), ("::1", False), ("::", False), ("fe80::1", False),
    ("fd12:3456::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("::ffff:93.184.216.34", True), ("2002:7f00:1::", False), ("64:ff9b::a00:1", False), ("fe80::1%eth0", False),
])
def test_public_addresses(address, public):
    assert _is_public(address) is public


def test_the_url_the_user_typed_may_name_a_private_host_literally():
    for typed in ("http://127.0.0.1:8000/feed.xml", "http://localhost:8000/feed.xml", "https://[::1]/feed.xml"):
        policy = _Policy(typed, allow_private=False)
        host = "::1" if "[::1]" in typed else "127.0.0.1"
        assert policy.allowed(typed.replace("feed.xml", "other.xml"), host)
        assert not policy.allowed("http://127.0.0.1:9/feed.xml", "127.0.0.1")  # another origin
    named = _Policy("https://feeds.example.com/feed.xml", allow_private=False)
    assert not named.allowed("https://feeds.example.com/feed.xml", "10.0.0.5")
    assert named.allowed("https://feeds.example.com/feed.xml", "93.184.216.34")
    assert _Policy("https://feeds.example.com/", allow_private=True).allowed("http://10.0.0.5/", "10.0.0.5")


def test_the_socket_s_own_peer_is_checked():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())

    class Stream:
        def get_extra_info(self, name):
            return client if name == "socket" else None

    watchdog = _Watchdog(30, _Policy("https://feeds.example.com/feed.xml", allow_private=False))
    watchdog.url = "https://feeds.example.com/feed.xml"
    with pytest.raises(fetch._Blocked):
        watchdog.trace("connection.connect_tcp.complete", {"return_value": Stream()})
    assert client.fileno() == -1  # closed before a byte was sent
    watchdog.trace("connection.start_tls.complete", {"return_value": Stream()})  # other events pass
    listener.close()


@pytest.fixture
def redirecting_server():
    """127.0.0.1:A answering every request with a redirect to `target[0]`; records the requests."""
    listener = socket.create_server(("127.0.0.1", 0))
    target, requests = [""], []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                requests.append(connection.recv(65536))
                connection.sendall(f"HTTP/1.1 302 Found\r\nLocation: {target[0]}\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n".encode())

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", target, requests
    listener.close()


def test_a_name_that_looks_public_is_refused_when_it_connects_to_the_loopback(redirecting_server, monkeypatch):
    url, target, requests = redirecting_server
    inside = socket.create_server(("127.0.0.1", 0))
    inside.settimeout(5)
    target[0] = f"http://localhost:{inside.getsockname()[1]}/feed.xml"
    monkeypatch.setattr(fetch, "_resolve", lambda url, seconds: ["93.184.216.34"])  # DNS lies (rebinding)
    with pytest.raises(UnreadableFeed, match="refusing to connect to localhost"):
        fetch_url(f"{url}/feed.xml", user=None, password=None, ca_cert=None, max_bytes=1 << 20, timeout=10)
    connection, _ = inside.accept()  # the lookup said "public"; the socket reached the loopback...
    with connection:
        connection.settimeout(5)
        assert connection.recv(1) == b""  # ...and was closed before a byte of the request was sent
    inside.close()
    assert len(requests) == 1


def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(redirecting_server, monkeypatch):
    url, target, _requests = redirecting_server
    target[0] = "http://feeds.intranet.example/feed.xml"
    monkeypatch.setattr(fetch, "_resolve", lambda url, seconds: ["10.0.0.7"])
    with pytest.raises(UnreadableFeed, match=r"feeds.intranet.example \(10.0.0.7\)"):
        fetch_url(f"{url}/feed.xml", user=None, password=None, ca_cert=None, max_bytes=1 << 20, timeout=10)


def test_only_http_urls_are_fetched():
    for url in ("file:///etc/passwd", "ftp://example.com/feed.xml", "http:///feed.xml"):
        with pytest.raises(UnreadableFeed, match="not an http"):
            fetch_url(url, user=None, password=None, ca_cert=None, max_bytes=1 << 20)
