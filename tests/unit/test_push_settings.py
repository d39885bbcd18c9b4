"""Push mode's settings, the status history the store keeps, and the keys that say whether an order changed."""

import sqlite3

import pytest

from feedsvc.config import ConfigError, load_settings
from feedsvc.push import carrier_of, push_key
from feedsvc.store import MIGRATIONS, ObservedStatus, Store

TOKEN = "rt_3f9a0c2e7b1d4f58"


def settings(tmp_path, **env):
    return load_settings({"FEEDSVC_DATA_DIR": str(tmp_path / "data"), **env})


def test_push_is_off_by_default_and_on_with_token_and_store_id(tmp_path):
    off = settings(tmp_path)
    assert not off.push_enabled and off.sync_interval == 3600
    assert off.retino_url == "https://app.retino.com/api/v2" and off.retino_shipments
    on = settings(tmp_path, FEEDSVC_RETINO_TOKEN=f"  {TOKEN} ", FEEDSVC_RETINO_STORE_ID="main-shop",
                  FEEDSVC_RETINO_URL="http://127.0.0.1:8091/api/v2/")
    assert on.push_enabled and on.retino_token == TOKEN and on.retino_url == "http://127.0.0.1:8091/api/v2"
    assert on.sync_interval == 60  # a change reaches Retino within about a minute
    assert TOKEN not in repr(on) and TOKEN in on.secrets()
    kept = settings(tmp_path, FEEDSVC_RETINO_TOKEN=TOKEN, FEEDSVC_RETINO_STORE_ID="s", FEEDSVC_SYNC_INTERVAL="900")
    assert kept.sync_interval == 900
    assert not settings(tmp_path, FEEDSVC_RETINO_TOKEN=TOKEN, FEEDSVC_RETINO_STORE_ID="s",
                        FEEDSVC_RETINO_SHIPMENTS="0").retino_shipments
    assert settings(tmp_path, FEEDSVC_RETINO_PICKUP="Abholung, Ritiro al banco ").pickup_phrases == \
        ("Abholung", "Ritiro al banco")


@pytest.mark.parametrize("env, variable, words", [
    ({"FEEDSVC_RETINO_TOKEN": TOKEN}, "FEEDSVC_RETINO_STORE_ID", "is missing: FEEDSVC_RETINO_TOKEN is set"),
    ({"FEEDSVC_RETINO_STORE_ID": "main-shop"}, "FEEDSVC_RETINO_TOKEN", "is missing: FEEDSVC_RETINO_STORE_ID is set"),
    ({"FEEDSVC_RETINO_TOKEN": f"Bearer {TOKEN}", "FEEDSVC_RETINO_STORE_ID": "s"}, "FEEDSVC_RETINO_TOKEN",
     "without a scheme word"),
    ({"FEEDSVC_RETINO_TOKEN": "ab\tcd", "FEEDSVC_RETINO_STORE_ID": "s"}, "FEEDSVC_RETINO_TOKEN", "white space"),
    ({"FEEDSVC_RETINO_TOKEN": TOKEN, "FEEDSVC_RETINO_STORE_ID": "a\x00b"}, "FEEDSVC_RETINO_STORE_ID", "store id"),
    ({"FEEDSVC_RETINO_URL": "app.retino.com/api/v2"}, "FEEDSVC_RETINO_URL", "http(s) URL"),
    ({"FEEDSVC_RETINO_URL": "ftp://app.retino.com"}, "FEEDSVC_RETINO_URL", "http(s) URL"),
    ({"FEEDSVC_RETINO_URL": "https://"}, "FEEDSVC_RETINO_URL", "http(s) URL"),
    ({"FEEDSVC_RETINO_URL": "https://app.retino.com/api v2"}, "FEEDSVC_RETINO_URL", "http(s) URL"),
    ({"FEEDSVC_RETINO_SHIPMENTS": "sometimes"}, "FEEDSVC_RETINO_SHIPMENTS", "expected 1/0"),
])
def test_wrong_push_settings_name_their_variable(tmp_path, env, variable, words):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, **env)
    assert caught.value.variable == variable and words in str(caught.value)


def test_push_refuses_to_run_when_off(tmp_path):
    with pytest.raises(ConfigError, match="FEEDSVC_RETINO_TOKEN: push mode is off"):
        settings(tmp_path).require_push()


def test_the_history_keeps_each_change_once_and_its_dates_never_go_back(tmp_path):
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.observe_status("A", 1, 1000.0, "order_date")
        assert not store.observe_status("A", 1, 2000.0, "sync")  # the same status again: nothing new
        assert not store.observe_status("A", None, 2000.0, "sync")  # no usable status says nothing
        assert store.observe_status("A", 3, 900.0, "event")  # an event dated before the last sighting
        assert store.observe_status("A", 2, 3000.0, "sync")  # moved back
        assert store.status_history("A") == [ObservedStatus(1, 1000.0, "order_date"),
                                             ObservedStatus(3, 1000.0, "event"), ObservedStatus(2, 3000.0, "sync")]


def test_an_older_store_gets_a_history_from_its_orders_current_statuses(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        db.executescript(script)
    db.execute("INSERT INTO orders (order_id, status, order_ts, first_seen, updated_at) VALUES"
               " ('A', 3, 1700000000, 0, 0), ('B', NULL, 1700000000, 0, 0)")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.status_history("A") == [ObservedStatus(3, 1700000000.0, "order_date")]
        assert store.status_history("B") == []


def test_the_push_key_changes_with_every_input_of_the_json():
    history = [ObservedStatus(1, 100.0, "order_date"), ObservedStatus(3, 200.0, "event")]
    key = push_key("k1", "main-shop", ("ritiro in negozio",), history)
    assert key == push_key("k1", "main-shop", ("ritiro in negozio",), list(history))
    for changed in (push_key("k2", "main-shop", ("ritiro in negozio",), history),
                    push_key("k1", "shop-uk", ("ritiro in negozio",), history),
                    push_key("k1", "main-shop", ("abholung",), history),
                    push_key("k1", "main-shop", ("ritiro in negozio",), history[:1]),
                    push_key("k1", "main-shop", ("ritiro in negozio",),
                             [history[0], history[1]._replace(seen_at=201.0)])):
        assert changed != key


def test_the_carrier_of_a_parcel_comes_from_its_own_tracking_entry():
    tracking = [{"courier": "BRT", "tracking": "111111, 222222"}, {"courier": " GLS ", "tracking": "abc333333"}]
    assert carrier_of(tracking, "222222") == "BRT" and carrier_of(tracking, "ABC333333") == "GLS"
    assert carrier_of({"tracking": "444444"}, "444444") is None and carrier_of(None, "1") is None
