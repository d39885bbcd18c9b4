"""Simulator → sync → render → validate over real sockets, with the real CLI and the real SQLite file."""

import signal
import sqlite3
import time
from pathlib import Path

import pytest
from lxml import etree

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.storeden.shop import SHIPPED, Shop
from feedsvc.sync import run_sync
from tests.helpers.data import window_codes
from tests.helpers.servers import PASSWORD, ROOT, USER, GunicornServer, base_env, run_feedsvc, storeden_env

SCHEMA = etree.XMLSchema(etree.parse(str(ROOT / "schema" / "retino-feed.xsd")))




def feed_codes(path: Path) -> list[str]:
    return [e.text for e in etree.parse(str(path)).getroot().iterfind("ORDER/CODE")]


@pytest.mark.shop(seed=3, orders=120)
def test_cli_sync_and_render_publish_every_window_order(tmp_path, storeden, storeden_env):
    synced = run_feedsvc(["sync"], storeden_env)
    assert synced.returncode == 0, synced.stderr
    assert "sync ok (backfill)" in synced.stdout and "0x429" in synced.stdout
    rendered = run_feedsvc(["render", "-o", str(tmp_path / "feed.xml")], storeden_env)
    assert rendered.returncode == 0, rendered.stderr
    expected = window_codes(storeden.shop)
    document = etree.parse(str(tmp_path / "feed.xml"))
    assert SCHEMA.validate(document), SCHEMA.error_log
    codes = feed_codes(tmp_path / "feed.xml")
    assert len(codes) == len(set(codes))
    assert set(codes) == expected
    assert (tmp_path / "feed.xml").read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    status = run_feedsvc(["status"], storeden_env)
    assert status.returncode == 0 and f"{len(expected)} orders" in status.stdout


# The shop's last events are a few seconds old, as in a real shop: an event in the very second of a
# fetch is refetched on purpose (timestamps compare with >=), which would blur the count.
@pytest.mark.shop(seed=4, orders=150)
def test_incremental_sync_sends_exactly_the_requests_needed(storeden, storeden_settings):
    sandbox, settings = storeden, storeden_settings
    first = run_sync(settings, progress=False)
    assert first.kind == "backfill" and first.status == "ok"
    backfill = sandbox.stats()
    in_window = [o for o in sandbox.shop.orders.values() if o.ts >= time.time() - 7 * 86400]
    fetched = [o for o in in_window if o.status not in (6, 7)]
    assert backfill["/orders/order.json"] == len(fetched)
    assert backfill["/orders/tracking.json"] == sum(1 for o in fetched if o.status in SHIPPED)
    assert backfill["/orders/list.json"] == len(in_window) // 100 + 2

    touched = sandbox.shop.advance(new_orders=3, status_changes=4, new_tracking=2)
    sandbox.reset_stats()
    second = run_sync(settings, progress=False)
    stats = sandbox.stats()
    start = time.time() - 7 * 86400
    ids = set(touched["created"] + touched["changed"] + touched["tracked"])
    wanted = [sandbox.shop.orders[i] for i in ids if sandbox.shop.orders[i].ts >= start]
    shipped = [o for o in wanted if o.status in SHIPPED]
    assert second.kind == "incremental" and second.status == "ok"
    assert stats.get("/orders/orders_filter.json") == 1
    assert stats.get("/orders/order.json", 0) == len(wanted)
    assert stats.get("/orders/tracking.json", 0) == len(shipped)
    assert stats["requests"] == 1 + len(wanted) + len(shipped)
    assert "/orders/list.json" not in stats and "/orders/checkoutMethods.json" not in stats


def _raw_orders(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM orders WHERE raw_json IS NOT NULL").fetchone()[0]


def test_sync_killed_halfway_resumes_to_the_same_store_and_feed(tmp_path, start_storeden):
    now = time.time()
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    sandbox = start_storeden(Shop(seed=5, orders=90, now=now, days=6))
    reference = load_settings(base_env(reference_dir, **storeden_env(sandbox)))
    run_sync(reference, progress=False)
    build_and_publish(reference, now=now)
    wanted = _raw_orders(reference_dir / "feedsvc.sqlite3")

    sandbox = start_storeden(Shop(seed=5, orders=90, now=now, days=6))
    env = base_env(killed_dir, **storeden_env(sandbox))
    # killed at the 40th answer from Storeden: after the reference data, the list and some details
    # (shipped orders come first, each with its tracking: two answers an order)
    killed = run_feedsvc(["sync", "--quiet"], {**env, "FEEDSVC_FAULT_KILL_AT": "storeden-response:40"})
    assert killed.returncode == -signal.SIGKILL
    stored_at_kill = _raw_orders(killed_dir / "feedsvc.sqlite3")
    assert 15 <= stored_at_kill < wanted  # really killed halfway
    sandbox.reset_stats()
    resumed = run_feedsvc(["sync", "--quiet"], env)
    assert resumed.returncode == 0, resumed.stderr
    # what was kept before the kill is not fetched again
    assert sandbox.stats()["/orders/order.json"] <= wanted - stored_at_kill + 1
    killed = load_settings(env)
    build_and_publish(killed, now=now)
    with Store.open(reference) as a, Store.open(killed) as b:
        assert a.raw_snapshot() == b.raw_snapshot()
    assert current_snapshot(reference.snapshots_dir).xml_path.read_bytes() == \
        current_snapshot(killed.snapshots_dir).xml_path.read_bytes()


CORRUPTIONS = ["missing_email", "control_chars", "float_price", "unknown_country", "huge_name", "bad_types",
               "empty_cart", "negative_price", "list_items"]


@pytest.mark.shop(seed=6, orders=80)
def test_hostile_orders_are_mapped_cleanly_or_quarantined(storeden_shop, storeden_settings):
    shop, settings = storeden_shop, storeden_settings
    recent = [o for o in shop.by_date() if o.status in (1, 2, 3, 4)][:len(CORRUPTIONS)]
    for order, kind in zip(recent, CORRUPTIONS):
        shop.corrupt(order.order_id, kind)
    run_sync(settings, progress=False)
    result = build_and_publish(settings)
    path = current_snapshot(settings.snapshots_dir).xml_path
    assert SCHEMA.validate(etree.parse(str(path)))
    codes = set(feed_codes(path))
    with Store.open(settings) as store:
        quarantined = {q.order_id: q.reason for q in store.list_quarantine()}
    for order, kind in zip(recent, CORRUPTIONS):
        in_feed = order.short_id in codes
        assert in_feed != (order.order_id in quarantined), kind
        if not in_feed:
            assert quarantined[order.order_id]
    for kind in ("missing_email", "bad_types", "empty_cart", "negative_price"):
        assert recent[CORRUPTIONS.index(kind)].order_id in quarantined, kind
    for kind in ("control_chars", "float_price", "unknown_country", "huge_name", "list_items"):
        assert recent[CORRUPTIONS.index(kind)].short_id in codes, kind
    assert result.quarantined == len(quarantined) >= 4


@pytest.mark.slow
@pytest.mark.shop(seed=7, orders=40)
def test_storeden_outage_keeps_the_last_feed_served(storeden, storeden_env):
    sandbox, env = storeden, storeden_env
    assert run_feedsvc(["sync"], env).returncode == 0
    assert run_feedsvc(["render"], env).returncode == 0
    with GunicornServer(env) as server, server.client(auth=(USER, PASSWORD)) as client:
        before = client.get("/feed.xml")
        sandbox.set_faults(error_rate=1.0)
        sandbox.shop.advance(new_orders=2)
        failed = run_feedsvc(["sync", "--quiet"], env, timeout=120)
        rendered = run_feedsvc(["render"], env)
        after = client.get("/feed.xml")
        health = client.get("/healthz").json()
    assert failed.returncode == 1 and "sync failed" in failed.stdout
    assert rendered.returncode == 0
    assert after.status_code == 200 and after.headers["etag"] == before.headers["etag"]
    assert health["last_sync"]["status"] == "failed" and "snapshot_age_seconds" in health
    assert any("last sync ended failed" in reason for reason in health["reasons"])
