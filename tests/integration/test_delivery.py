"""The delivery log over real gunicorn: every feed request recorded with its answer, nothing secret written
down, a storm of bad tokens kept to a few rows; what /healthz, the overview and `feedsvc status` make of it."""

import threading

import pytest

from feedsvc.config import load_settings
from feedsvc.delivery import DeliveryLog
from feedsvc.tls import ensure_self_signed
from tests.helpers.data import FEED, publish_feed
from tests.helpers.delivery import RETINO_AGENT, wait_for_requests
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env, run_feedsvc


def test_every_feed_request_is_logged_with_its_answer_and_nothing_secret(tmp_path):
    env = base_env(tmp_path, FEEDSVC_TRUST_PROXY=1)  # loopback is the proxy: X-Forwarded-For is believed
    cert = ensure_self_signed(tmp_path)
    sent = []
    with GunicornServer(env, tls=cert) as server, server.client() as client:
        def get(path, expected, method="GET", **kw):
            response = client.request(method, path, **kw)
            assert response.status_code == expected, (path, response.status_code)
            sent.append(response)
            return response

        get("/feed.xml", 503, auth=(USER, PASSWORD))  # nothing published yet
        snapshot = publish_feed(tmp_path)
        plain = {"Accept-Encoding": "identity"}
        get(f"/feed/{TOKEN}.xml", 200, headers=plain)
        get(f"/feed/{TOKEN}.xml.gz", 200)
        get("/feed.xml", 200, auth=(USER, PASSWORD), headers={**plain, "User-Agent": RETINO_AGENT,
                                                             "X-Forwarded-For": "203.0.113.50"})
        get("/feed.xml.gz", 200, auth=(USER, PASSWORD))
        get("/feed.xml", 304, auth=(USER, PASSWORD), headers={**plain, "If-None-Match": snapshot.etag,
                                                             "User-Agent": RETINO_AGENT})
        get("/feed.xml", 200, method="HEAD", auth=(USER, PASSWORD), headers=plain)
        get("/feed.xml", 401)
        get("/feed.xml", 401, auth=(USER, "a wrong password, long enough"))
        get(f"/feed/{TOKEN[:-1]}0.xml", 404, headers={"User-Agent": f"scanner {TOKEN} {PASSWORD}",
                                                     "X-Forwarded-For": "192.0.2.77"})
        guesses = 0
        while guesses < 40:  # the limiter's failures a minute per address and user, then 429
            guesses += 1
            if client.get("/feed/0123456789abcdef0123456789abcdef.xml").status_code == 429:
                break
        else:
            raise AssertionError("the limiter never answered 429")
        client.get("/healthz")  # not a feed request
        client.get("/", auth=(USER, PASSWORD))
        log = wait_for_requests(tmp_path / "delivery.sqlite3", len(sent) + guesses)
        rows, _ = log.page(per_page=100)
    by_kind = {(row.route, row.status) for row in rows}
    assert {("basic", 503), ("token", 200), ("token-gz", 200), ("basic", 200), ("basic-gz", 200), ("basic", 304),
            ("basic", 401), ("token", 404), ("token", 429)} <= by_kind
    assert sum(log.totals().values()) == len(sent) + guesses  # /healthz and the dashboard are not feed requests
    retino = next(r for r in rows if r.user_agent == RETINO_AGENT and r.status == 200)
    assert retino.client == "203.0.113.50" and retino.bytes == len(FEED) and retino.agent_name == "Retino"
    token_gz = next(r for r in rows if r.route == "token-gz")
    assert token_gz.bytes == snapshot.gzip_size and token_gz.client == "127.0.0.1"
    head = [r for r in rows if r.method == "HEAD"]
    assert [(r.route, r.status, r.bytes) for r in head] == [("basic", 200, 0)]
    assert all(r.duration >= 0 for r in rows)
    last = log.last_success()  # a HEAD is no download
    assert last.status == 304 and last.agent_name == "Retino" and last.bytes == 0
    scanner = next(r for r in rows if r.client == "192.0.2.77")
    assert (scanner.route, scanner.status) == ("token", 404)
    # the password has spaces: no word of it alone gives it away, the run of words does
    assert scanner.user_agent == "scanner <redacted> <redacted>"
    assert PASSWORD not in server.logs() and "battery staple" not in server.logs()  # nor in the access log
    for path in tmp_path.glob("delivery.sqlite3*"):
        written = path.read_bytes()
        assert TOKEN.encode() not in written and PASSWORD.encode() not in written, path.name
        assert TOKEN[:16].encode() not in written


@pytest.mark.slow
def test_ten_thousand_bad_token_requests_leave_a_bounded_log(tmp_path):
    env = base_env(tmp_path, FEEDSVC_TRUST_PROXY=1)
    publish_feed(tmp_path)
    addresses = [f"198.51.100.{i}" for i in range(1, 101)]
    per_thread, threads = 2500, 4
    with GunicornServer(env, workers=2) as server:
        def storm(offset: int) -> None:
            with server.client() as client:
                for i in range(per_thread):
                    client.get(f"/feed/{i:032x}.xml",
                               headers={"X-Forwarded-For": addresses[(offset + i) % len(addresses)]})

        workers = [threading.Thread(target=storm, args=(n * 25,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=240)
        assert not any(worker.is_alive() for worker in workers)
        with server.client() as client:
            assert client.get(f"/feed/{TOKEN}.xml").status_code == 200  # Retino is still served
        log = wait_for_requests(tmp_path / "delivery.sqlite3", per_thread * threads + 1)
    totals = log.totals()
    assert totals[200] == 1 and totals.get(404, 0) + totals.get(429, 0) == per_thread * threads
    rows, _ = log.page(per_page=1000, failed=True)
    assert len(rows) <= 2 * len(addresses)  # one row per address and status: 404 until the limiter, then 429
    assert sum(row.count for row in rows) == per_thread * threads
    sizes = {path.name: path.stat().st_size for path in tmp_path.glob("delivery.sqlite3*")}
    assert sum(sizes.values()) < 2_500_000, sizes


def test_health_overview_and_status_tell_the_last_download_and_warn_when_it_is_late(tmp_path):
    env = base_env(tmp_path, FEEDSVC_MAX_FETCH_AGE=3600)
    publish_feed(tmp_path)
    with GunicornServer(env) as server, server.client() as client:
        fresh = client.get("/healthz").json()
        overview = client.get("/", auth=(USER, PASSWORD)).text
        assert fresh["status"] == "ok" and fresh["last_fetch_age_seconds"] is None  # never fetched: still healthy
        assert "Nothing has downloaded the feed yet" in overview
        client.get("/feed.xml", auth=(USER, PASSWORD), headers={"User-Agent": RETINO_AGENT})
        wait_for_requests(tmp_path / "delivery.sqlite3", 1)
        fetched = client.get("/healthz").json()
        overview = client.get("/", auth=(USER, PASSWORD)).text
        status = run_feedsvc(["status"], env)
        assert fetched["status"] == "ok" and 0 <= fetched["last_fetch_age_seconds"] < 60
        assert "Retino, " in overview and " ago, 200 OK" in overview and "Nothing has downloaded" not in overview
        assert "last fetch:   Retino, " in status.stdout and "WARNING" not in status.stdout

    # The same service two hours later (FEEDSVC_MAX_FETCH_AGE is an hour here), with a wrong password since.
    with DeliveryLog(tmp_path / "delivery.sqlite3") as log:
        for name in ("deliveries", "delivery_last_success"):
            log._connection().execute(f"UPDATE {name} SET at = at - 7200")
        log.record(route="basic", status=401, sent=0, duration=0.001, user_agent=RETINO_AGENT, client="127.0.0.1")
    with GunicornServer(env) as server, server.client() as client:
        late = client.get("/healthz")
        detailed = client.get("/healthz", auth=(USER, PASSWORD)).json()
        overview = client.get("/", auth=(USER, PASSWORD)).text
        status = run_feedsvc(["status"], env)
    assert late.status_code == 503 and late.json()["status"] == "not_fetched"
    assert late.json()["last_fetch_age_seconds"] >= 7200
    assert any("nothing has downloaded the feed" in reason for reason in detailed["reasons"])
    assert "No successful download for 2 h" in overview and "401 wrong or missing password" in overview
    assert "WARNING: over FEEDSVC_MAX_FETCH_AGE" in status.stdout and "401" in status.stdout
    assert load_settings(env).max_fetch_age == 3600
