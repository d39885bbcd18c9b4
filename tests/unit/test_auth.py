"""Who may read the feed (feedsvc/web/auth.py) and the failure counts behind it (feedsvc/auth_failures.py):
credentials compared whole, the guard's answers, the limiter's windows on a fake clock, and the client
address failures are counted under."""

import base64

import pytest
from flask import Flask

from feedsvc.auth_failures import AuthFailures
from feedsvc.web import auth
from feedsvc.web.auth import FailureLimiter, bearer_token, check_token, client_address, credentials_match
from tests.helpers.servers import PASSWORD, TOKEN, USER


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- credentials ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, right", [
    (TOKEN, True), (TOKEN.upper(), False), (TOKEN[:-1], False), (TOKEN + "0", False), ("", False),
    ("\udcff" + TOKEN[1:], False),  # a lone surrogate from a percent-decoded path: refused, not a crash
])
def test_only_the_whole_token_opens_the_feed(settings, given, right):
    assert check_token(given, settings) is right


def test_without_a_token_configured_no_token_matches(settings):
    assert not check_token("", settings.with_overrides(feed_token=""))


@pytest.mark.parametrize("given, right", [
    ((USER, PASSWORD), True), ((USER, PASSWORD + " "), False), ((USER.upper(), PASSWORD), False),
    (("", PASSWORD), False), (None, False),
])
def test_basic_credentials_match_only_both_whole(settings, given, right):
    assert credentials_match(given, settings) is right


def test_basic_credentials_never_match_when_basic_auth_is_off(settings):
    assert not credentials_match(("", ""), settings.with_overrides(feed_user="", feed_password=""))


@pytest.mark.parametrize("header, token", [
    (f"Bearer {TOKEN}", TOKEN), (f"bearer {TOKEN}", TOKEN), ("Bearer", None), (basic(USER, PASSWORD), None),
    (None, None),
])
def test_bearer_token(header, token):
    with Flask(__name__).test_request_context(headers={"Authorization": header} if header else {}):
        assert bearer_token() == token


# -- the client address failures count under -----------------------------------------------------------

@pytest.mark.parametrize("remote, counted_as", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one subscriber's block
    ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),          # IPv4 seen through an IPv6 socket
    ("not an address" * 10, ("not an address" * 10)[:64]),
])
def test_client_address(remote, counted_as):
    with Flask(__name__).test_request_context(environ_base={"REMOTE_ADDR": remote}):
        assert client_address() == counted_as


# -- the guard on a view -------------------------------------------------------------------------------

@pytest.fixture
def guarded(settings, tmp_path):
    """An app with one view behind require_basic_auth, a limiter of 3 failures per user on a fake clock."""
    clock = Clock()
    app = Flask(__name__)
    limiter = FailureLimiter(tmp_path / "auth.sqlite3", per_user=3, per_address=10, window=60, clock=clock)
    app.config.update(FEEDSVC_SETTINGS=settings, FEEDSVC_LIMITER=limiter)
    app.add_url_rule("/secret", "secret", auth.require_basic_auth(lambda: "the secret"))
    app.add_url_rule("/off", "off", auth.require_basic_auth(disabled_message="the dashboard is off\n")(lambda: "x"))
    return app, limiter, clock


def test_the_guard_lets_the_right_credentials_through(guarded):
    app, _, _ = guarded
    response = app.test_client().get("/secret", headers={"Authorization": basic(USER, PASSWORD)})
    assert response.status_code == 200 and response.text == "the secret"


def test_a_request_without_credentials_is_asked_for_them_and_not_counted(guarded):
    app, limiter, _ = guarded
    client = app.test_client()
    answers = [client.get("/secret") for _ in range(5)]
    assert all(a.status_code == 401 and a.headers["WWW-Authenticate"] == auth.REALM_HEADER for a in answers)
    assert limiter.blocked_for("127.0.0.1", "") == 0


def test_wrong_guesses_are_counted_then_refused_until_the_window_ends(guarded):
    app, _, clock = guarded
    client = app.test_client()
    wrong = {"Authorization": basic(USER, "guess")}
    assert [client.get("/secret", headers=wrong).status_code for _ in range(4)] == [401, 401, 401, 429]
    clock.now += 20
    refused = client.get("/secret", headers=wrong)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "41"  # 40 s left, rounded up
    assert client.get("/secret", headers={"Authorization": basic(USER, PASSWORD)}).status_code == 200
    clock.now += 41
    assert client.get("/secret", headers=wrong).status_code == 401


def test_without_basic_auth_configured_the_view_is_not_there(guarded):
    app, _, _ = guarded
    app.config["FEEDSVC_SETTINGS"] = app.config["FEEDSVC_SETTINGS"].with_overrides(feed_user="", feed_password="")
    client = app.test_client()
    off = client.get("/off", headers={"Authorization": basic(USER, PASSWORD)})
    assert off.status_code == 404 and off.text == "the dashboard is off\n"
    assert client.get("/secret", headers={"Authorization": basic("", "")}).status_code == 404


# -- the limiter and its file ------------------------------------------------------------------------

def test_limiter_counts_per_address_and_user_and_forgets_after_the_window(tmp_path):
    clock = Clock()
    limiter = FailureLimiter(tmp_path / "auth.sqlite3", per_user=3, per_address=5, window=60, clock=clock)
    for _ in range(3):
        assert limiter.blocked_for("1.2.3.4", "retino") == 0
        limiter.fail("1.2.3.4", "retino")
    assert limiter.blocked_for("1.2.3.4", "retino") == pytest.approx(60)
    assert limiter.blocked_for("1.2.3.4", "other") == 0          # another user from the same address
    assert limiter.blocked_for("5.6.7.8", "retino") == 0         # the same user from elsewhere
    limiter.fail("1.2.3.4", "other")
    limiter.fail("1.2.3.4", "third")
    assert limiter.blocked_for("1.2.3.4", "fourth") > 0           # the address as a whole is over
    clock.now += 61
    assert limiter.blocked_for("1.2.3.4", "retino") == 0


def test_limiter_is_shared_through_its_file(tmp_path):
    clock = Clock()
    one = FailureLimiter(tmp_path / "auth.sqlite3", per_user=2, clock=clock)
    two = FailureLimiter(tmp_path / "auth.sqlite3", per_user=2, clock=clock)
    one.fail("1.2.3.4", "u")
    two.fail("1.2.3.4", "u")
    assert one.blocked_for("1.2.3.4", "u") > 0 and two.blocked_for("1.2.3.4", "u") > 0


def test_a_forked_worker_opens_its_own_connection(tmp_path, monkeypatch):
    limiter = FailureLimiter(tmp_path / "auth.sqlite3", per_user=1, clock=Clock())
    limiter.fail("1.2.3.4", "u")
    parents = limiter._failures()
    monkeypatch.setattr(auth.os, "getpid", lambda: -1)
    assert limiter._failures() is not parents
    assert limiter.blocked_for("1.2.3.4", "u") > 0  # the same counts, read through the new connection


def test_an_unusable_limiter_lets_requests_through(tmp_path, caplog):
    limiter = FailureLimiter(tmp_path / "missing-dir" / "auth.sqlite3")
    limiter.fail("1.2.3.4", "u")
    assert limiter.blocked_for("1.2.3.4", "u") == 0
    assert "failure limiter unavailable" in caplog.text


def test_a_failure_after_the_window_starts_a_new_one(tmp_path):
    failures = AuthFailures(tmp_path / "auth.sqlite3")
    failures.add(["k"], now=1000.0, window=60)
    failures.add(["k"], now=1030.0, window=60)
    assert failures.counts(["k"], now=1030.0, window=60) == {"k": (2, 1000.0)}
    assert failures.counts(["k"], now=1061.0, window=60) == {}  # ended
    failures.add(["k"], now=1061.0, window=60)
    assert failures.counts(["k"], now=1061.0, window=60) == {"k": (1, 1061.0)}


def test_the_failure_table_stays_bounded(tmp_path):
    failures = AuthFailures(tmp_path / "auth.sqlite3", capacity=100)
    for i in range(1000):
        failures.add([f"a 10.0.{i // 256}.{i % 256}"], now=1000.0 + i * 0.01, window=60)
    failures.prune(now=1010.0, window=60)
    assert failures.size() == 100
    failures.prune(now=2000.0, window=60)
    assert failures.size() == 0


def test_ended_windows_are_pruned_as_new_failures_come_in(tmp_path):
    failures = AuthFailures(tmp_path / "auth.sqlite3")
    for i in range(AuthFailures.PRUNE_EVERY):
        failures.add([f"old {i}"], now=1000.0, window=60)
    failures.add(["new"], now=5000.0, window=60)  # the next write prunes
    assert failures.size() == 1
