"""The build's fragment cache, on a real SQLite store: reuse must never change what is published."""

from __future__ import annotations

import sqlite3
import time

import pytest

from feedsvc import jsonutil
from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.fragments import context_key, source_key
from feedsvc.publish import current_snapshot
from feedsvc.store import Store, StoredOrder
from feedsvc.storeden.shop import Shop
from tests.helpers.data import fill_store


def feed_bytes(settings) -> bytes:
    return current_snapshot(settings.snapshots_dir).xml_path.read_bytes()


def findings(settings) -> list[tuple]:
    with sqlite3.connect(settings.database_path) as db:
        return sorted(db.execute("SELECT order_id, rule, severity, message FROM findings"))


def change_orders(settings, count: int) -> list[str]:
    """Give `count` orders of the window a new customer message, as a re-fetched order would."""
    with Store.open(settings) as store:
        rows = list(store.iter_window_orders(int(time.time() - 6 * 86400)))[:count]
        for stored in rows:
            raw = stored.raw
            raw["billing"]["fullname"] = f"{raw['billing']['fullname']} Jr."
            store.save_order_raw(stored.order_id, jsonutil.dumps(raw), status=stored.status,
                                 order_ts=stored.order_ts)
    return [stored.order_id for stored in rows]


@pytest.fixture
def shop_settings(settings):
    """Settings whose store holds 120 simulated orders of the last 6 days, as a sync would leave them."""
    fill_store(settings, Shop(seed=5, orders=120, now=time.time() - 5, days=6))
    return settings


def test_unchanged_orders_come_from_the_cache_and_the_feed_is_identical(shop_settings):
    first = build_and_publish(shop_settings)
    assert first.rendered == first.orders > 80
    published, found = feed_bytes(shop_settings), findings(shop_settings)
    assert found, "the simulated shop has some warnings"

    second = build_and_publish(shop_settings)
    assert second.rendered == 0
    assert second.sha256 == first.sha256 and feed_bytes(shop_settings) == published
    assert findings(shop_settings) == found
    assert second.warnings == first.warnings


def test_changed_orders_are_rendered_again_and_match_a_build_without_cache(shop_settings):
    build_and_publish(shop_settings)
    changed = change_orders(shop_settings, 3)
    again = build_and_publish(shop_settings)
    assert again.rendered == 3
    published = feed_bytes(shop_settings)
    for order_id in changed:
        with Store.open(shop_settings) as store:
            name = store.get_order(order_id).raw["billing"]["fullname"]
        assert f"<NAME>{name}</NAME>".encode() in published

    cached_findings = findings(shop_settings)
    uncached = build_and_publish(shop_settings, full=True)
    assert uncached.rendered == uncached.orders
    assert feed_bytes(shop_settings) == published
    assert findings(shop_settings) == cached_findings


def test_a_settings_change_renders_every_order_again(shop_settings, env):
    first = build_and_publish(shop_settings)
    other = load_settings({**env, "FEEDSVC_VAT_RATE": "10"})
    again = build_and_publish(other)
    assert again.rendered == again.orders == first.orders
    assert b"<VAT_RATE>10" in feed_bytes(other)


def test_date_window_findings_are_recomputed_for_cached_orders(shop_settings):
    with Store.open(shop_settings) as store:
        newest = max(stored.order_ts for stored in store.iter_window_orders(0))
    # Built "three hours ago", the newest orders lie in the future: DT2 warnings.
    early = build_and_publish(shop_settings, now=newest - 3 * 3600)
    assert any(rule == "DT2" for _, rule, _, _ in findings(shop_settings))
    # Built now from the cache, they are ordinary orders again.
    later = build_and_publish(shop_settings, now=newest + 60)
    assert later.rendered < later.orders
    assert not any(rule == "DT2" for _, rule, _, _ in findings(shop_settings))
    assert later.warnings < early.warnings or later.orders > early.orders


def test_fragments_of_orders_that_left_the_window_are_pruned(shop_settings):
    build_and_publish(shop_settings)
    with Store.open(shop_settings) as store:
        before = store.count_fragments()
        oldest = min(stored.order_ts for stored in store.iter_window_orders(0))
    build_and_publish(shop_settings, now=oldest + shop_settings.days * 86400 + 3600)
    with Store.open(shop_settings) as store:
        assert 0 < store.count_fragments() < before


def test_source_key_tells_apart_every_stored_text():
    key = context_key("ctx")

    def order(**texts):
        base = {"order_id": "1", "status": 1, "order_ts": 0, "short_id": "A", "locale": "it", "raw_text": "{}",
                    "tracking_text": None, "summary_text": "{}"}
        base.update(texts)
        return StoredOrder(**base)

    keys = {
        source_key(key, order()),
        source_key(key, order(tracking_text="")),
        source_key(key, order(raw_text='{"a":1}')),
        source_key(key, order(summary_text='{"b":2}')),
        source_key(key, order(short_id="B")),
        source_key(key, order(locale="en")),
        source_key(key, order(raw_text="{}{", summary_text="}")),
        source_key(context_key("other"), order()),
    }
    assert len(keys) == 8
    assert source_key(key, order()) == source_key(key, order())


def test_render_full_ignores_the_cache_and_publishes_the_same_feed(shop_settings, runner):
    first = build_and_publish(shop_settings)
    outcome = runner.invoke("render", "--full")
    assert outcome.exit_code == 0, outcome.output
    assert f"{first.orders} rendered, 0 unchanged" in outcome.output
    assert current_snapshot(shop_settings.snapshots_dir).sha256 == first.sha256

    outcome = runner.invoke("render")
    assert outcome.exit_code == 0, outcome.output
    assert f"0 rendered, {first.orders} unchanged" in outcome.output
