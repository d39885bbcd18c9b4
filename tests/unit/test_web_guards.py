"""The web app's guards on their own: log redaction, trusted proxies,
query-parameter parsing, and relative Location headers."""

import base64

import pytest
from flask import Flask, redirect

from feedsvc.config import ConfigError, load_settings
from feedsvc.web import create_app
from feedsvc.web.params import BadParameter, Exact, Number, OneOf, Text
from feedsvc.web.proxy import TrustedProxies
from feedsvc.web.redact import Redactor, fully_decoded

TOKEN = "0123456789abcdef" * 4
PASSWORD = "correct horse battery staple"


def pct(text: str) -> str:
    return "".join(f"%{ord(c):02x}" for c in text)


# -- redaction -----------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    (f'1.2.3.4 "GET /feed/{TOKEN}.xml HTTP/1.1" 200', '1.2.3.4 "GET /feed/<redacted>.xml HTTP/1.1" 200'),
    (f'"GET /{pct("feed")}/{pct(TOKEN)}.xml HTTP/1.1"', '"GET /feed/<redacted>.xml HTTP/1.1"'),
    (f'"GET /feed/{pct(TOKEN).upper()}.xml.gz HTTP/1.1"', '"GET /feed/<redacted>.xml.gz HTTP/1.1"'),
    (f'"GET /%2566eed/{pct(pct(TOKEN))}.xml HTTP/1.1"', '"GET /feed/<redacted>.xml HTTP/1.1"'),
    (f'"GET /feed.xml?token={TOKEN} HTTP/1.1"', '"GET /feed.xml?<redacted> HTTP/1.1"'),
    (f'"GET /other/{TOKEN.upper()[:20]}x HTTP/1.1"', '"GET <redacted> HTTP/1.1"'),
    (f"Invalid request line: 'GET /feed/{TOKEN}.xml HTTP/9'",
     "Invalid request line: 'GET /feed/<redacted>.xml HTTP/9'"),
    (f'ua "curl {pct(PASSWORD)}"', 'ua "curl <redacted>"'),
    (f'1.2.3.4 "GET /feed.xml HTTP/1.1" 401 "curl {PASSWORD} x"',
     '1.2.3.4 "GET /feed.xml HTTP/1.1" 401 "curl <redacted> x"'),
    (f'ua "{PASSWORD.upper()}"', 'ua "<redacted>"'),
    ('"GET /horse/battery HTTP/1.1" 200 "correct staple"', '"GET /horse/battery HTTP/1.1" 200 "correct staple"'),
    (f'ref https://x.example/feed/{TOKEN}.xml', 'ref https://x.example/feed/<redacted>.xml'),
    ('"GET /orders?page=2 HTTP/1.1" 200 "Mozilla/5.0"', '"GET /orders?page=2 HTTP/1.1" 200 "Mozilla/5.0"'),
])
def test_redaction_judges_what_a_word_means_after_decoding(line, expected):
    assert Redactor([TOKEN, PASSWORD]).line(line) == expected


def test_full_decoding_stops_on_its_own():
    assert fully_decoded("%25252541") == "A"
    assert fully_decoded("%zz%") == "%zz%"


# -- trusted proxies -------------------------------------------------------------

def proxies(*networks):
    import ipaddress
    return TrustedProxies(lambda environ, start: environ, [ipaddress.ip_network(n) for n in networks])


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("10.0.0.1", "203.0.113.5", "203.0.113.5"),
    ("10.0.0.1", "198.51.100.1, 203.0.113.5", "203.0.113.5"),            # left of the client is the client's
    ("10.0.0.1", "203.0.113.5, 10.0.0.7", "203.0.113.5"),                 # trusted hops are skipped
    ("10.0.0.1", "203.0.113.5, garbage, 10.0.0.7", "10.0.0.7"),           # not an address: stop there
    ("10.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
    ("10.0.0.1", "203.0.113.5:5123", "203.0.113.5"),
    ("10.0.0.1", "10.0.0.9, 10.0.0.8", "10.0.0.9"),
    ("192.0.2.1", "203.0.113.5", "192.0.2.1"),                            # the peer is no proxy of ours
])
def test_forwarded_for_is_read_right_to_left_from_trusted_peers(peer, forwarded, expected):
    environ = proxies("10.0.0.0/8")({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded,
                                     "wsgi.url_scheme": "http"}, None)
    assert environ["REMOTE_ADDR"] == expected


def test_forwarded_proto_only_from_trusted_peers():
    app = proxies("10.0.0.0/8")
    trusted = app({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_PROTO": "http, https", "wsgi.url_scheme": "http"}, None)
    untrusted = app({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_PROTO": "https", "wsgi.url_scheme": "http"}, None)
    odd = app({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_PROTO": "javascript", "wsgi.url_scheme": "http"}, None)
    assert trusted["wsgi.url_scheme"] == "https"
    assert untrusted["wsgi.url_scheme"] == odd["wsgi.url_scheme"] == "http"


def test_proxy_settings(tmp_path):
    base = {"FEEDSVC_DATA_DIR": str(tmp_path)}
    assert load_settings(base).proxy_networks == ()
    assert [str(n) for n in load_settings({**base, "FEEDSVC_TRUST_PROXY": "1"}).proxy_networks] == \
        ["127.0.0.0/8", "::1/128"]
    listed = load_settings({**base, "FEEDSVC_TRUSTED_PROXIES": "10.1.2.3, 192.168.0.0/16"})
    assert listed.trust_proxy and [str(n) for n in listed.proxy_networks] == ["10.1.2.3/32", "192.168.0.0/16"]
    for bad in ({"FEEDSVC_TRUSTED_PROXIES": "proxy.example"},
                {"FEEDSVC_TRUSTED_PROXIES": "10.0.0.1", "FEEDSVC_TRUST_PROXY": "0"}):
        with pytest.raises(ConfigError):
            load_settings({**base, **bad})


def test_password_shorter_than_16_characters_is_refused(tmp_path):
    base = {"FEEDSVC_DATA_DIR": str(tmp_path), "FEEDSVC_FEED_USER": "retino"}
    with pytest.raises(ConfigError) as caught:
        load_settings({**base, "FEEDSVC_FEED_PASSWORD": "x" * 15})
    assert caught.value.variable == "FEEDSVC_FEED_PASSWORD" and "x" * 15 not in str(caught.value)
    assert load_settings({**base, "FEEDSVC_FEED_PASSWORD": "x" * 16}).basic_auth_enabled


# -- query parameters ---------------------------------------------------------------

@pytest.mark.parametrize("kind, raw", [
    (Number(1, 100), "²"), (Number(1, 100), "101"), (Number(1, 100), "0"), (Number(1, 100), "9" * 30),
    (Number(1, 100), "+5"), (Number(1, 100), "５"), (OneOf(("a", "b")), "c"), (Text(5), "abcdef"),
    (Text(5), "a\x00"), (Exact(3), "abcd"),
])
def test_parameter_kinds_refuse_nonsense(kind, raw):
    with pytest.raises(BadParameter):
        kind.parse("p", raw)


def test_parameter_kinds_accept_sense():
    assert Number(1, 100).parse("p", "007") == 7
    assert Text(10).parse("p", "  ab ") == "ab"
    assert Exact(10).parse("p", " ../ ") == " ../ "


# -- the app ------------------------------------------------------------------------

def test_a_redirect_never_names_the_host(app):
    app.add_url_rule("/go", "go", lambda: redirect("https://evil.example//elsewhere?x=1"))
    app.add_url_rule("/slash/", "slash", lambda: "")  # werkzeug redirects /slash to /slash/ with the Host
    client = app.test_client()
    assert client.get("/go").headers["Location"] == "/elsewhere?x=1"
    assert client.get("/slash", headers={"Host": "evil.example"}).headers["Location"] == "/slash/"


def test_session_key_is_the_same_for_every_worker(settings):
    assert create_app(settings).secret_key == create_app(settings).secret_key
    assert (settings.data_dir / "session.key").stat().st_mode & 0o777 == 0o600
    assert not list(settings.data_dir.glob("*.tmp"))


def test_basic_auth_helper_round_trip():
    encoded = base64.b64encode(f"retino:{PASSWORD}".encode()).decode()
    app = Flask(__name__)
    with app.test_request_context(headers={"Authorization": f"Basic {encoded}"}):
        from feedsvc.web.auth import basic_credentials
        assert basic_credentials() == ("retino", PASSWORD)
