"""The request headers the feed and its guards read, as werkzeug parses them: conditional requests,
Accept-Encoding, and the Authorization schemes (Flask's test client; the real server is in integration)."""

import base64
import gzip
from email.utils import formatdate

import pytest

from tests.helpers.data import FEED, publish_feed
from tests.helpers.servers import TOKEN, USER, base_env

PASSWORD = "correct horse: battery staple"  # a colon in the password: only the first one splits
CREATED = 1_790_000_000


@pytest.fixture
def env(data_dir):
    return base_env(data_dir, FEEDSVC_FEED_PASSWORD=PASSWORD)


@pytest.fixture(autouse=True)
def snapshot(settings):
    return publish_feed(settings.data_dir, created_ts=CREATED)


def basic(user=USER, password=PASSWORD, scheme="Basic"):
    return f"{scheme} {base64.b64encode(f'{user}:{password}'.encode()).decode()}"


def fetch(client, **headers):
    return client.get(f"/feed/{TOKEN}.xml", headers={"Accept-Encoding": "identity", **headers})


@pytest.mark.parametrize("value, modified", [
    ("{etag}", False), ("W/{etag}", False), ("*", False), ('"other", {etag}', False),
    ('"other"', True), ("", True), ('W/"other"', True),
])
def test_if_none_match_uses_the_weak_comparison(client, value, modified):
    etag = fetch(client).headers["ETag"]
    answer = fetch(client, **{"If-None-Match": value.format(etag=etag)})
    assert answer.status_code == (200 if modified else 304)
    assert answer.headers["ETag"] == etag


@pytest.mark.parametrize("since, modified", [
    (CREATED, False), (CREATED + 60, False), (CREATED - 1, True), (None, True),
])
def test_if_modified_since(client, since, modified):
    value = formatdate(since, usegmt=True) if since is not None else "not a date"
    assert fetch(client, **{"If-Modified-Since": value}).status_code == (200 if modified else 304)


def test_if_none_match_wins_over_if_modified_since(client):
    answer = fetch(client, **{"If-None-Match": '"other"', "If-Modified-Since": formatdate(CREATED, usegmt=True)})
    assert answer.status_code == 200


@pytest.mark.parametrize("value, compressed", [
    ("gzip", True), ("GZIP", True), ("x-gzip", True), ("deflate, gzip;q=0.5", True), ("br, gzip;q=0.001", True),
    ("*", True),  # RFC 9110 §12.5.3: any coding (the hand-written parser said no)
    ("gzip;q=0", False), ("identity", False), ("", False), ("gzip;q=nonsense", False),
])
def test_accept_encoding(client, value, compressed):
    answer = client.get(f"/feed/{TOKEN}.xml", headers={"Accept-Encoding": value})
    assert (answer.headers.get("Content-Encoding") == "gzip") == compressed
    assert (gzip.decompress(answer.data) if compressed else answer.data) == FEED


@pytest.mark.parametrize("header, status", [
    (basic(), 200), (basic(scheme="basic"), 200), (basic(password="wrong password!!"), 401),
    (basic(user="other"), 401), ("Basic !!!", 401), ("Basic", 401), (f"Bearer {TOKEN}", 401), (None, 401),
])
def test_basic_auth_of_the_feed(client, header, status):
    headers = {"Accept-Encoding": "identity", **({"Authorization": header} if header else {})}
    answer = client.get("/feed.xml", headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert answer.status_code == status
    if status == 200:
        assert answer.data == FEED
