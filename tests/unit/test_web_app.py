"""The web app in process (Flask's test client, a real data dir): what the feed, /healthz and the dashboard
answer at their edges. Real gunicorn over TLS is in tests/integration/test_serve.py."""

import gzip
import time

from feedsvc.config import load_settings
from feedsvc.web import create_app
from tests.helpers.data import FEED, publish_feed
from tests.helpers.servers import PASSWORD, TOKEN, USER, base_env

IDENTITY = {"Accept-Encoding": "identity"}


def test_both_ways_in_serve_the_snapshot_with_its_headers(client, published):
    by_token = client.get(f"/feed/{TOKEN}.xml", headers=IDENTITY)
    by_basic = client.get("/feed.xml", auth=(USER, PASSWORD), headers=IDENTITY)
    for response in (by_token, by_basic):
        assert response.status_code == 200 and response.data == FEED
        assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
        assert response.headers["ETag"] == published.etag
        assert response.headers["Content-Length"] == str(len(FEED))
        assert response.headers["Cache-Control"] == "private, no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS


def test_a_wrong_token_looks_like_any_unknown_path(client, published):
    wrong = client.get(f"/feed/{'0' * 64}.xml")
    unknown = client.get("/no/such/page")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.data == unknown.data


def test_basic_auth_refusals_ask_for_credentials_and_show_no_order(client, published):
    for auth in (None, (USER, "wrong"), ("someone", PASSWORD)):
        response = client.get("/feed.xml", auth=auth)
        assert response.status_code == 401, auth
        assert response.headers["WWW-Authenticate"] == 'Basic realm="feedsvc", charset="UTF-8"'
        assert b"ORDER" not in response.data


def test_gzip_variants_decompress_to_the_same_bytes(client, published):
    negotiated = client.get("/feed.xml", auth=(USER, PASSWORD), headers={"Accept-Encoding": "gzip"})
    stored = client.get("/feed.xml.gz", auth=(USER, PASSWORD))
    by_token = client.get(f"/feed/{TOKEN}.xml.gz")
    assert negotiated.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(negotiated.data) == FEED
    assert negotiated.headers["ETag"] != published.etag  # another representation, another tag
    assert stored.headers["Content-Type"] == "application/gzip"
    assert gzip.decompress(stored.data) == FEED == gzip.decompress(by_token.data)


def test_head_has_the_headers_of_get_but_no_body(client, published):
    response = client.head("/feed.xml", auth=(USER, PASSWORD), headers=IDENTITY)
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Content-Length"] == str(len(FEED))


def test_no_snapshot_yet_is_503_not_an_empty_feed(client):
    feed = client.get("/feed.xml", auth=(USER, PASSWORD))
    health = client.get("/healthz")
    assert feed.status_code == 503 and feed.headers["Retry-After"] == "60" and b"<ORDERS" not in feed.data
    assert health.status_code == 503 and health.json["status"] == "no_snapshot"


def test_health_is_ok_with_a_fresh_snapshot_and_names_no_secret(client, published):
    response = client.get("/healthz", auth=(USER, PASSWORD))
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["orders"] == 2
    assert TOKEN not in response.text and PASSWORD not in response.text


def test_health_without_credentials_tells_status_and_ages_only(client, published, store, data_dir):
    run = store.start_sync_run("backfill")
    store.finish_sync_run(run, status="ok", requests=7)
    store.record_publish_error(f"cannot write {data_dir}/snapshots/new: No space left on device")
    public = client.get("/healthz")
    by_basic = client.get("/healthz", auth=(USER, PASSWORD))
    by_token = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    wrong_basic = client.get("/healthz", auth=(USER, "wrong password guess"))
    wrong_token = client.get("/healthz", headers={"Authorization": "Bearer " + "0" * 64})
    assert public.status_code == 503
    assert set(public.json) == {"status", "snapshot_age_seconds", "last_sync_age_seconds", "last_fetch_age_seconds"}
    assert public.json["status"] == "publish_failed" and public.json["last_sync_age_seconds"] >= 0
    assert str(data_dir) not in public.text
    for detailed in (by_basic, by_token):
        assert detailed.status_code == 503 and detailed.json["orders"] == 2
        assert detailed.json["last_sync"]["requests"] == 7
        assert any(str(data_dir) in reason for reason in detailed.json["reasons"])
    assert wrong_basic.status_code == wrong_token.status_code == 401
    assert str(data_dir) not in wrong_basic.text + wrong_token.text


def test_a_stale_snapshot_turns_health_red_but_keeps_being_served(data_dir):
    publish_feed(data_dir, created_ts=time.time() - 3600)
    client = create_app(load_settings(base_env(data_dir, FEEDSVC_MAX_SNAPSHOT_AGE=600))).test_client()
    feed = client.get("/feed.xml", auth=(USER, PASSWORD), headers=IDENTITY)
    health = client.get("/healthz", auth=(USER, PASSWORD))  # with the credentials: the details too
    assert feed.status_code == 200 and feed.data == FEED
    assert health.status_code == 503 and health.json["status"] == "stale"
    assert health.json["snapshot_age_seconds"] >= 3600 and "old" in health.json["reasons"][0]


def test_repeated_failures_are_slowed_but_the_right_password_is_not(client, published):
    codes = [client.get("/feed.xml", auth=(USER, f"guess-{i}")).status_code for i in range(12)]
    right = client.get("/feed.xml", auth=(USER, PASSWORD))
    wrong = client.get("/feed.xml", auth=(USER, "guess-again"))
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    assert right.status_code == 200
    assert wrong.status_code == 429 and int(wrong.headers["Retry-After"]) >= 1


def test_token_only_mode_keeps_the_dashboard_shut(data_dir):
    publish_feed(data_dir)
    settings = load_settings(base_env(data_dir, FEEDSVC_FEED_USER="", FEEDSVC_FEED_PASSWORD=""))
    client = create_app(settings).test_client()
    dashboard = client.get("/")
    orders = client.get("/orders", auth=(USER, PASSWORD))
    feed = client.get(f"/feed/{TOKEN}.xml")
    basic = client.get("/feed.xml", auth=(USER, PASSWORD))
    assert dashboard.status_code == orders.status_code == 404 and "dashboard is off" in dashboard.text
    assert feed.status_code == 200 and basic.status_code == 404
