"""The feed over real HTTPS from real gunicorn: access modes, caching headers, consistency, health, refusals."""

import gzip
import hashlib
import socket
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from lxml import etree

from feedsvc.config import load_settings
from feedsvc.publish import SnapshotWriter
from feedsvc.store import Store
from feedsvc.tls import ensure_self_signed
from tests.integration.servers import (PASSWORD, TOKEN, USER, GunicornServer, base_env,
                                       run_gunicorn_expecting_failure)

FEED = (Path(__file__).resolve().parents[1] / "fixtures" / "retino" / "two_orders.xml").read_bytes()


def publish(data_dir: Path, body: bytes = FEED, created_ts: float | None = None):
    with SnapshotWriter(data_dir / "snapshots") as writer:
        writer.xml_path.write_bytes(body)
        return writer.commit({"orders": body.count(b"<ORDER>")}, created_ts=created_ts)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("served")
    cert = ensure_self_signed(data_dir)
    snapshot = publish(data_dir)
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


def test_wrong_token_looks_like_any_unknown_path(served):
    server, _ = served
    with server.client() as client:
        wrong = client.get(f"/feed/{'0' * 64}.xml")
        unknown = client.get("/no/such/page")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content == unknown.content


@pytest.mark.parametrize("auth", [None, (USER, "wrong"), ("someone", PASSWORD)])
def test_basic_auth_refusals(served, auth):
    server, _ = served
    with server.client() as client:
        response = client.get("/feed.xml", auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="feedsvc", charset="UTF-8"'
    assert b"ORDER" not in response.content


def test_conditional_requests(served):
    server, snapshot = served
    with server.client(auth=(USER, PASSWORD)) as client:
        first = client.get("/feed.xml", headers={"Accept-Encoding": "identity"})
        by_etag = client.get("/feed.xml", headers={"If-None-Match": first.headers["etag"],
                                                   "Accept-Encoding": "identity"})
        by_date = client.get("/feed.xml", headers={"If-Modified-Since": first.headers["last-modified"],
                                                   "Accept-Encoding": "identity"})
        stale = client.get("/feed.xml", headers={"If-None-Match": '"other"', "Accept-Encoding": "identity"})
    assert by_etag.status_code == 304 and by_etag.content == b""
    assert by_date.status_code == 304
    assert stale.status_code == 200 and stale.content == FEED


def test_gzip_variants_decompress_to_the_same_bytes(served):
    server, snapshot = served
    with server.client(auth=(USER, PASSWORD)) as client:
        negotiated = client.get("/feed.xml", headers={"Accept-Encoding": "gzip"})
        stored = client.get("/feed.xml.gz")
        by_token = client.get(f"/feed/{TOKEN}.xml.gz")
    assert negotiated.headers["content-encoding"] == "gzip"
    assert negotiated.content == FEED  # httpx undoes the Content-Encoding
    assert negotiated.headers["etag"] != snapshot.etag
    assert stored.headers["content-type"] == "application/gzip"
    assert gzip.decompress(stored.content) == FEED == gzip.decompress(by_token.content)


def test_head_has_headers_but_no_body(served):
    server, _ = served
    with server.client(auth=(USER, PASSWORD)) as client:
        response = client.head("/feed.xml", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(len(FEED))


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
    publish(tmp_path)
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


def test_health_is_ok_with_a_fresh_snapshot(served):
    server, _ = served
    with server.client() as client:
        response = client.get("/healthz", auth=(USER, PASSWORD))
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok" and body["orders"] == 2
    assert TOKEN not in response.text and PASSWORD not in response.text


def test_health_without_credentials_tells_status_and_ages_only(tmp_path):
    publish(tmp_path)
    with Store.open(load_settings(base_env(tmp_path))) as store:
        run = store.start_sync_run("backfill")
        store.finish_sync_run(run, status="ok", requests=7)
        store.record_publish_error(f"cannot write {tmp_path}/snapshots/new: No space left on device")
    with GunicornServer(base_env(tmp_path)) as server, server.client() as client:
        public = client.get("/healthz")
        by_basic = client.get("/healthz", auth=(USER, PASSWORD))
        by_token = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
        wrong_basic = client.get("/healthz", auth=(USER, "wrong password guess"))
        wrong_token = client.get("/healthz", headers={"Authorization": "Bearer " + "0" * 64})
    assert public.status_code == 503
    assert set(public.json()) == {"status", "snapshot_age_seconds", "last_sync_age_seconds",
                                  "last_fetch_age_seconds"}
    assert public.json()["status"] == "publish_failed" and public.json()["last_sync_age_seconds"] >= 0
    assert str(tmp_path) not in public.text
    for detailed in (by_basic, by_token):
        body = detailed.json()
        assert detailed.status_code == 503 and body["orders"] == 2 and body["last_sync"]["requests"] == 7
        assert any(str(tmp_path) in reason for reason in body["reasons"])
    assert wrong_basic.status_code == wrong_token.status_code == 401
    assert str(tmp_path) not in wrong_basic.text + wrong_token.text


def test_repeated_failures_are_slowed_but_the_right_password_is_not(tmp_path):
    publish(tmp_path)
    with GunicornServer(base_env(tmp_path), workers=1) as server, server.client() as client:
        codes = [client.get("/feed.xml", auth=(USER, f"guess-{i}")).status_code for i in range(12)]
        right = client.get("/feed.xml", auth=(USER, PASSWORD))
        wrong = client.get("/feed.xml", auth=(USER, "guess-again"))
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    assert right.status_code == 200
    assert wrong.status_code == 429 and "retry-after" in wrong.headers


def test_no_snapshot_yet_is_503_not_an_empty_feed(tmp_path):
    with GunicornServer(base_env(tmp_path)) as server, server.client(auth=(USER, PASSWORD)) as client:
        feed = client.get("/feed.xml")
        health = client.get("/healthz")
    assert feed.status_code == 503 and feed.headers["retry-after"] == "60" and b"<ORDERS" not in feed.content
    assert health.status_code == 503 and health.json()["status"] == "no_snapshot"


def test_every_body_matches_its_etag_while_snapshots_change(tmp_path):
    publish(tmp_path)
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
            publish(tmp_path, body)
            time.sleep(0.02)
        done.set()
        for thread in threads:
            thread.join()
    assert not problems
    assert len(results) >= 8 and len(set(results)) > 1  # readers saw several snapshots, each whole


def test_stale_snapshot_turns_health_red_but_keeps_serving(tmp_path):
    publish(tmp_path, created_ts=time.time() - 3600)
    env = base_env(tmp_path, FEEDSVC_MAX_SNAPSHOT_AGE=600)
    with GunicornServer(env) as server, server.client(auth=(USER, PASSWORD)) as client:
        feed = client.get("/feed.xml")
        health = client.get("/healthz")  # with the credentials: the details too
    assert feed.status_code == 200 and feed.content == FEED
    body = health.json()
    assert health.status_code == 503 and body["status"] == "stale" and body["snapshot_age_seconds"] >= 3600
    assert "old" in body["reasons"][0]


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


def test_token_only_mode_keeps_the_dashboard_shut(tmp_path):
    publish(tmp_path)
    env = base_env(tmp_path, FEEDSVC_FEED_USER="", FEEDSVC_FEED_PASSWORD="")
    with GunicornServer(env) as server, server.client() as client:
        dashboard = client.get("/")
        orders = client.get("/orders", auth=(USER, PASSWORD))
        feed = client.get(f"/feed/{TOKEN}.xml")
        basic = client.get("/feed.xml", auth=(USER, PASSWORD))
    assert dashboard.status_code == orders.status_code == 404 and "dashboard is off" in dashboard.text
    assert feed.status_code == 200 and basic.status_code == 404
