"""Settings: defaults, every refusal names its variable, secrets stay out of repr()."""

from decimal import Decimal

import pytest

from feedsvc.config import ConfigError, load_settings

TOKEN = "a" * 8 + "0123456789abcdef" * 2 + "b" * 8


def settings(tmp_path, **env):
    return load_settings({"FEEDSVC_DATA_DIR": str(tmp_path / "data"), **env})


def test_defaults(tmp_path):
    s = settings(tmp_path)
    assert (s.rate_requests, s.rate_seconds) == (5, 60.0)
    assert s.days == 7 and s.sync_interval == 3600
    assert s.vat_rate == Decimal("22") and s.currency == "EUR"
    assert s.cod_methods == frozenset({"mark"}) and s.exclude_statuses == frozenset({6, 7})
    assert s.storeden_url == "https://connect.storeden.com/v1.1"
    assert s.data_dir.is_dir()
    assert not s.tls_enabled


@pytest.mark.parametrize("variable, value", [
    ("FEEDSVC_STOREDEN_RATE", "5/0"),
    ("FEEDSVC_STOREDEN_RATE", "0/60"),
    ("FEEDSVC_STOREDEN_RATE", "five per minute"),
    ("FEEDSVC_DAYS", "-1"),
    ("FEEDSVC_DAYS", "seven"),
    ("FEEDSVC_SYNC_INTERVAL", "0"),
    ("FEEDSVC_VAT_RATE", "abc"),
    ("FEEDSVC_VAT_RATE", "120"),
    ("FEEDSVC_CURRENCY", "EURO"),
    ("FEEDSVC_DEFAULT_COUNTRY", "ITA"),
    ("FEEDSVC_TIMEZONE", "Mars/Olympus"),
    ("FEEDSVC_FEED_TOKEN", "abc123"),
    ("FEEDSVC_FEED_TOKEN", "z" * 40),
    ("FEEDSVC_EXCLUDE_STATUSES", "6,x"),
    ("FEEDSVC_TRUST_PROXY", "maybe"),
    ("FEEDSVC_TLS_CERT", "/nonexistent/cert.pem"),
])
def test_wrong_values_name_the_variable(tmp_path, variable, value):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, **{variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_unusable_data_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as caught:
        load_settings({"FEEDSVC_DATA_DIR": str(blocker / "sub")})
    assert caught.value.variable == "FEEDSVC_DATA_DIR"


def test_user_without_password_is_refused(tmp_path):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, FEEDSVC_FEED_USER="retino")
    assert caught.value.variable == "FEEDSVC_FEED_PASSWORD"


def test_feed_auth_required_for_serving(tmp_path):
    with pytest.raises(ConfigError, match="no way to protect the feed"):
        settings(tmp_path).require_feed_auth()
    settings(tmp_path, FEEDSVC_FEED_TOKEN=TOKEN).require_feed_auth()
    settings(tmp_path, FEEDSVC_FEED_USER="u", FEEDSVC_FEED_PASSWORD="p" * 16).require_feed_auth()


def test_secrets_never_in_repr(tmp_path):
    s = settings(tmp_path, FEEDSVC_FEED_TOKEN=TOKEN, FEEDSVC_FEED_USER="retino",
                 FEEDSVC_FEED_PASSWORD="hunter2-secret-phrase", FEEDSVC_STOREDEN_KEY="key-secret",
                 FEEDSVC_STOREDEN_EXCHANGE="exchange-secret")
    text = repr(s)
    for secret in (TOKEN, "hunter2-secret-phrase", "key-secret", "exchange-secret"):
        assert secret not in text
    assert set(s.secrets()) == {TOKEN, "hunter2-secret-phrase", "key-secret", "exchange-secret"}
    assert "retino" in text


def test_dotenv_is_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text(f"FEEDSVC_DAYS=3\nFEEDSVC_DATA_DIR={tmp_path / 'd'}\nFEEDSVC_CURRENCY=CZK\n")
    monkeypatch.setenv("FEEDSVC_CURRENCY", "USD")
    s = load_settings(dotenv_path=env_file)
    assert s.days == 3 and s.currency == "USD"


def test_port_sets_public_bind(tmp_path):
    assert settings(tmp_path, PORT="5000").bind == "0.0.0.0:5000"
    assert settings(tmp_path, PORT="5000", FEEDSVC_BIND="127.0.0.1:9").bind == "127.0.0.1:9"


def test_delivery_settings_have_their_defaults_and_refuse_nonsense(tmp_path):
    s = settings(tmp_path)
    assert s.max_fetch_age == 46800 and s.metrics_token == ""
    token = "k" * 32
    s = settings(tmp_path, FEEDSVC_MAX_FETCH_AGE="3600", FEEDSVC_METRICS_TOKEN=token)
    assert s.max_fetch_age == 3600 and s.metrics_token == token
    assert token not in repr(s) and token in s.secrets()
    for variable, value in (("FEEDSVC_MAX_FETCH_AGE", "0"), ("FEEDSVC_MAX_FETCH_AGE", "-5"),
                            ("FEEDSVC_MAX_FETCH_AGE", "13h"), ("FEEDSVC_METRICS_TOKEN", "short"),
                            ("FEEDSVC_METRICS_TOKEN", "k" * 20 + " " + "k" * 20),
                            ("FEEDSVC_METRICS_TOKEN", "k" * 31)):
        with pytest.raises(ConfigError) as error:
            settings(tmp_path, **{variable: value})
        assert error.value.variable == variable
        if variable == "FEEDSVC_METRICS_TOKEN":
            assert value not in str(error.value)  # a secret, even a bad one, is never echoed
