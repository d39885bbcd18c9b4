"""Settings: defaults from one table, every value checked at start-up naming its variable, the README in step,
secrets out of repr()."""

import ast
import re
from decimal import Decimal
from pathlib import Path

import pytest

from feedsvc import config
from feedsvc.config import ConfigError, load_settings
from feedsvc.storeden.vocabulary import COD_METHOD_CODES, DEFAULT_EXCLUDED_STATUSES, STOREDEN_RATE

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
    for variable, value in (("FEEDSVC_MAX_FETCH_AGE", "30"), ("FEEDSVC_MAX_FETCH_AGE", "-5"),
                            ("FEEDSVC_MAX_FETCH_AGE", "13h"), ("FEEDSVC_METRICS_TOKEN", "short"),
                            ("FEEDSVC_METRICS_TOKEN", "k" * 20 + " " + "k" * 20),
                            ("FEEDSVC_METRICS_TOKEN", "k" * 31)):
        with pytest.raises(ConfigError) as error:
            settings(tmp_path, **{variable: value})
        assert error.value.variable == variable
        if variable == "FEEDSVC_METRICS_TOKEN":
            assert value not in str(error.value)  # a secret, even a bad one, is never echoed


# -- every setting checked at start-up ------------------------------------------------------------

@pytest.mark.parametrize("variable, value, problem", [
    ("FEEDSVC_CURRENCY", "ABC", "ISO 4217"),
    ("FEEDSVC_CURRENCY", "XXX", "ISO 4217"),
    ("FEEDSVC_DEFAULT_COUNTRY", "XX", "ISO 3166-1"),
    ("FEEDSVC_ORDER_URL", "admin.example.com/orders/{order_id}", "http(s) URL pattern"),
    ("FEEDSVC_ORDER_URL", "https://admin example.com/{code}", "http(s) URL pattern"),
    ("FEEDSVC_STOREDEN_URL", "connect.storeden.com/v1.1", "http(s) URL"),
    ("FEEDSVC_STOREDEN_URL", "ftp://connect.storeden.com", "http(s) URL"),
    ("FEEDSVC_BIND", "127.0.0.1:99999", "HOST:PORT"),
    ("FEEDSVC_BIND", "local host:80", "HOST:PORT"),
    ("PORT", "http", "whole number"),
    ("PORT", "70000", "at most 65535"),
    ("FEEDSVC_WORKERS", "0", "at least 1"),
    ("FEEDSVC_WORKERS", "many", "whole number"),
    ("FEEDSVC_LOG_LEVEL", "loud", "one of debug, info"),
    ("FEEDSVC_MAX_SNAPSHOT_AGE", "30", "at least 60"),
])
def test_values_that_would_fail_later_are_refused_at_start_up(tmp_path, variable, value, problem):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, **{variable: value})
    assert caught.value.variable == variable and problem in str(caught.value)


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ('["IT"]', "must hold a JSON object"),
    ('{"118": "Italy"}', "not an ISO 3166-1 alpha-2 code"),
    (b"\xff\xfe{}", "not valid JSON"),
])
def test_an_unusable_country_map_is_refused_at_start_up(tmp_path, content, problem):
    path = tmp_path / "countries.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, FEEDSVC_COUNTRY_MAP=str(path))
    assert caught.value.variable == "FEEDSVC_COUNTRY_MAP" and problem in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        settings(tmp_path, FEEDSVC_COUNTRY_MAP=str(tmp_path))  # a directory


def test_a_tls_pair_must_be_a_pem_certificate_and_its_key(tmp_path):
    from feedsvc.tls import ensure_self_signed

    cert, key = ensure_self_signed(tmp_path / "one")
    _other_cert, other_key = ensure_self_signed(tmp_path / "two")
    assert settings(tmp_path, FEEDSVC_TLS_CERT=str(cert), FEEDSVC_TLS_KEY=str(key)).tls_enabled
    for wrong_cert, wrong_key in ((cert, other_key), (key, cert)):
        with pytest.raises(ConfigError) as caught:
            settings(tmp_path, FEEDSVC_TLS_CERT=str(wrong_cert), FEEDSVC_TLS_KEY=str(wrong_key))
        assert caught.value.variable == "FEEDSVC_TLS_KEY"
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, FEEDSVC_TLS_CERT=str(cert))
    assert caught.value.variable == "FEEDSVC_TLS_KEY"


def test_values_are_normalised_once(tmp_path):
    s = settings(tmp_path, FEEDSVC_CURRENCY=" czk ", FEEDSVC_DEFAULT_COUNTRY="uk", FEEDSVC_LOG_LEVEL="DEBUG",
                 FEEDSVC_STOREDEN_URL="https://connect.storeden.com/v1.1/", FEEDSVC_EXCLUDE_STATUSES="",
                 FEEDSVC_COD_METHODS=" mark , contrassegno ", FEEDSVC_WORKERS="3", FEEDSVC_BIND="localhost")
    assert (s.currency, s.default_country, s.log_level) == ("CZK", "GB", "debug")
    assert s.storeden_url == "https://connect.storeden.com/v1.1"
    assert s.exclude_statuses == frozenset() and s.cod_methods == frozenset({"mark", "contrassegno"})
    assert (s.workers, s.bind) == (3, "localhost")


def test_defaults_are_the_tables_and_written_once(tmp_path):
    data_dir = tmp_path / "data"
    assert settings(tmp_path) == config.defaults(data_dir=data_dir)
    assert config.defaults().storeden_rate == STOREDEN_RATE
    assert config.defaults().exclude_statuses == DEFAULT_EXCLUDED_STATUSES
    assert config.defaults().cod_methods == COD_METHOD_CODES


# -- the table and the README agree --------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\|\s*(`[^|]+`)\s*\|\s*([^|]*?)\s*\|")


def readme_settings() -> dict[str, str]:
    """{variable: its default cell} from the README's configuration table(s) ("" for a row of several)."""
    section = README.read_text(encoding="utf-8").split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            names = re.findall(r"`([A-Z][A-Z0-9_]*)`", match.group(1))
            for name in names:
                found[name] = match.group(2) if len(names) == 1 else ""
    return found


def test_every_setting_is_in_the_readme_and_the_readme_names_no_other():
    documented = readme_settings()
    variables = {setting.variable for setting in config.SETTINGS}
    assert sorted(variables - set(documented)) == [], "settings missing from the README's table"
    assert sorted(set(documented) - variables) == [], "the README names variables that are not settings"


def test_the_readmes_defaults_are_the_tables():
    for setting in config.SETTINGS:
        cell = readme_settings()[setting.variable]
        if not cell:
            continue  # a row of several variables
        if cell.startswith("`"):
            assert cell.strip("`") == setting.default, setting.variable
        else:  # "—" (unset) or words for a computed default
            assert setting.default == "", setting.variable


# Variables feedsvc reads that are not settings: no one sets them by hand.
NOT_SETTINGS = {"FEEDSVC_PIPELINE_LOCK_FD": "the locked descriptor Sync now hands to its child",
                "FEEDSVC_FAULT_KILL_AT": "test-only fault injection",
                "NO_COLOR": "the convention for plain output (feedsvc validate)"}


def environment_reads(source: str) -> set[str]:
    """The variables a module reads from os.environ or os.getenv, by literal name or by a module constant."""
    tree = ast.parse(source)
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}

    def name_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return constants.get(node.id) if isinstance(node, ast.Name) else None

    def is_environ(node: ast.AST) -> bool:  # os.environ (a WSGI `environ` is another thing)
        return isinstance(node, ast.Attribute) and node.attr == "environ" and \
            isinstance(node.value, ast.Name) and node.value.id == "os"

    found = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            if (node.func.attr in ("get", "pop") and is_environ(node.func.value)) or node.func.attr == "getenv":
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and len(node.comparators) == 1 and is_environ(node.comparators[0]):
            key = node.left
        if key is not None and (name := name_of(key)):
            found.add(name)
    return found


def test_the_environment_reader_sees_every_form():
    source = ('import os\nVAR = "FEEDSVC_B"\nos.environ.get("FEEDSVC_A")\nos.environ.pop(VAR, "")\n'
              'os.getenv("FEEDSVC_C")\nos.environ["FEEDSVC_D"]\n"FEEDSVC_E" in os.environ\n')
    assert environment_reads(source) == {"FEEDSVC_A", "FEEDSVC_B", "FEEDSVC_C", "FEEDSVC_D", "FEEDSVC_E"}


def test_only_the_config_reads_settings_from_the_environment():
    package = Path(config.__file__).resolve().parent
    for path in [*package.rglob("*.py"), package.parent / "gunicorn.conf.py", package.parent / "wsgi.py"]:
        if path == Path(config.__file__).resolve():
            continue
        for name in environment_reads(path.read_text(encoding="utf-8")):
            assert name in NOT_SETTINGS, f"{path.name} reads {name} itself; make it a row of config.SETTINGS"
