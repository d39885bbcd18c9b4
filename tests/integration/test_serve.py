"""The feed over real HTTPS from real gunicorn: both ways in over TLS, what reaches gunicorn's logs, whole
snapshots while they change under several workers, and the configurations gunicorn refuses to start with.
The answers' edge cases are in tests/unit/test_web_app.py and test_feed_headers.py (Flask's test client)."""

import hashlib
import socket
import ssl
import threading
import time
from urllib.parse import unquote

import pytest
from lxml import etree

from feedsvc.tls import ensure_self_signed
from tests.helpers.data import FEED, publish_feed
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env, run_gunicorn_expecting_failure


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("served")
    cert = ensure_self_signed(data_dir)
    snapshot = publish_feed(data_dir)
    with GunicornServer(base_env(data_dir), tls=cert) as server:
        yield server, snapshot


def test_token_and_basic_auth_both_serve_the_feed(served):
    server, snapshot = served
    with server.client() as client:
        by_token = client.get(f"/feed/{TOKEN}.xml", headers={"Accept-Encoding": "identity"})
        by_basic = client.get("/feed.xml", auth=(USER, PASSWORD), headers={"Accept-Encoding": "identity"})
    for response in (by_token, by_basic):
        assert response.status_code == 200
        assert response.content == FEED
        assert response.headers["content-type"] == "application/xml; charset=utf-8"
        assert response.headers["etag"] == snapshot.etag
        assert response.headers["content-length"] == str(len(FEED))
        assert response.headers["cache-control"] == "private, no-cache"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "max-age" in response.headers["strict-transport-security"]
        assert "last-modified" in response.headers


def test_secrets_never_reach_the_logs(served):
    server, _ = served
    with server.client() as client:
        client.get(f"/feed/{TOKEN}.xml")
        client.get("/feed.xml", auth=(USER, PASSWORD))
    time.sleep(0.5)
    logs = server.logs()
    assert "/feed/<redacted>.xml" in logs
    assert TOKEN not in logs and PASSWORD not in logs


def _encoded(text: str, upper: bool = False) -> str:
    return "".join(f"%{ord(c):02X}" if upper else f"%{ord(c):02x}" for c in text)


def _traces_of(secret: str, text: str) -> list[str]:
    """Every 16 characters in a row of `secret` found in `text` once fully percent-decoded, ignoring case."""
    decoded = text
    while unquote(decoded) != decoded:
        decoded = unquote(decoded)
    decoded = decoded.lower()
    return [secret[i:i + 16] for i in range(len(secret) - 15) if secret[i:i + 16].lower() in decoded]


ENCODED_TOKEN_PATHS = [
    "/" + _encoded("feed") + "/" + _encoded(TOKEN) + ".xml",          # every character encoded
    "/feed/" + _encoded(TOKEN, upper=True) + ".xml",                  # upper-case hex
    "/feed/" + "".join(c if i % 2 else _encoded(c) for i, c in enumerate(TOKEN)) + ".xml",  # mixed
    "/feed/" + _encoded(TOKEN) + ".xml.gz",
    "/feed/" + TOKEN.upper() + ".xml",                                # wrong token, same hex
    "/%2566eed/" + _encoded(_encoded(TOKEN)) + ".xml",                # encoded twice
    "//feed/" + TOKEN + ".xml",
    "/elsewhere/" + TOKEN,
    "/feed.xml?token=" + TOKEN,
    "/healthz?t=" + _encoded(TOKEN) + "&x=1",
    "/feed/" + TOKEN[:40] + ".xml",                                   # a near miss
]


def test_the_token_in_any_encoding_never_reaches_the_logs(tmp_path):
    publish_feed(tmp_path)
    env = base_env(tmp_path, FEEDSVC_LOG_LEVEL="debug")  # debug: gunicorn's error log repeats request lines
    with GunicornServer(env, tls=ensure_self_signed(tmp_path), workers=1) as server:
        with server.client() as client:
            served = [client.get(path).status_code for path in ENCODED_TOKEN_PATHS[:4]]
            for path in ENCODED_TOKEN_PATHS[4:]:
                client.get(path)
            client.get("/nowhere", headers={"Referer": f"https://x.example/feed/{TOKEN}.xml",
                                            "User-Agent": f"agent {_encoded(TOKEN)}"})
        # a request line gunicorn refuses, logged by its error log
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            context = ssl.create_default_context(cafile=str(server.tls[0]))
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                sock.sendall(f"GET /feed/{_encoded(TOKEN)}.xml HTTP/9.9\r\n\r\n".encode())
                sock.recv(4096)
    logs = server.logs()
    assert served == [200] * 4
    assert logs.count("/feed/<redacted>.xml") >= 4 and "/feed/<redacted>.xml.gz" in logs
    assert _traces_of(TOKEN, logs) == []
    assert _traces_of(PASSWORD, logs) == []


def test_every_body_matches_its_etag_while_snapshots_change(tmp_path):
    publish_feed(tmp_path)
    bodies = [FEED.replace(b"10483", f"{20000 + n}".encode()) * 1 for n in range(50)]
    results, problems = [], []
    done = threading.Event()

    def fetch_loop():
        with server.client(auth=(USER, PASSWORD)) as client:
            deadline = time.monotonic() + 60
            while not done.is_set() and time.monotonic() < deadline:
                response = client.get("/feed.xml", headers={"Accept-Encoding": "identity"})
                if response.status_code != 200:
                    problems.append(response.status_code)
                    continue
                digest = hashlib.sha256(response.content).hexdigest()
                if f'"{digest}"' != response.headers["etag"]:
                    problems.append("etag mismatch")
                etree.fromstring(response.content)
                results.append(digest)

    with GunicornServer(base_env(tmp_path), workers=2) as server:
        threads = [threading.Thread(target=fetch_loop) for _ in range(8)]
        for thread in threads:
            thread.start()
        for body in bodies:
            publish_feed(tmp_path, body)
            time.sleep(0.02)
        done.set()
        for thread in threads:
            thread.join()
    assert not problems
    assert len(results) >= 8 and len(set(results)) > 1  # readers saw several snapshots, each whole


@pytest.mark.parametrize("change, message", [
    ({"FEEDSVC_FEED_TOKEN": "", "FEEDSVC_FEED_USER": "", "FEEDSVC_FEED_PASSWORD": ""}, "no way to protect the feed"),
    ({"FEEDSVC_FEED_TOKEN": "abc123"}, "FEEDSVC_FEED_TOKEN"),
    ({"FEEDSVC_FEED_PASSWORD": "abc123-fifteen!"}, "FEEDSVC_FEED_PASSWORD: must be at least 16 characters"),
    ({"FEEDSVC_TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"}, "FEEDSVC_TRUSTED_PROXIES"),
    ({"FEEDSVC_HEADER_TIMEOUT": "soon"}, "FEEDSVC_HEADER_TIMEOUT"),
])
def test_start_up_refusals(tmp_path, change, message):
    code, output = run_gunicorn_expecting_failure(dict(base_env(tmp_path), **change))
    assert code != 0
    assert message in output
    assert "abc123" not in output


