"""Simulator → sync → render → validate over real sockets, with the real CLI and the real SQLite file."""

import signal
import sqlite3
import time
from pathlib import Path

from lxml import etree

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.publish import current_snapshot
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import SHIPPED, Shop
from feedsvc.store import Store
from feedsvc.sync import run_sync
from tests.integration.servers import ROOT, USER, PASSWORD, GunicornServer, base_env, feedsvc

SCHEMA = etree.XMLSchema(etree.parse(str(ROOT / "schema" / "retino-feed.xsd")))
FAST = (1000, 1.0)


def sandbox_env(sandbox: SandboxServer, data_dir: Path, rate=FAST) -> dict[str, str]:
    return base_env(data_dir, FEEDSVC_STOREDEN_URL=sandbox.url, FEEDSVC_STOREDEN_KEY=sandbox.key,
                    FEEDSVC_STOREDEN_EXCHANGE=sandbox.exchange, FEEDSVC_STOREDEN_RATE=f"{rate[0]}/{rate[1]:g}")


def window_codes(shop: Shop, days: int = 7) -> set[str]:
    start = time.time() - days * 86400
    return {o.short_id for o in shop.orders.values() if o.ts >= start and o.status not in (6, 7)}


def feed_codes(path: Path) -> list[str]:
    return [e.text for e in etree.parse(str(path)).getroot().iterfind("ORDER/CODE")]


def test_cli_sync_and_render_publish_every_window_order(tmp_path):
    with SandboxServer(orders=120, seed=3, rate=FAST) as sandbox:
        env = sandbox_env(sandbox, tmp_path / "data")
        synced = feedsvc(["sync"], env)
        assert synced.returncode == 0, synced.stderr
        assert "sync ok (backfill)" in synced.stdout and "0x429" in synced.stdout
        rendered = feedsvc(["render", "-o", str(tmp_path / "feed.xml")], env)
        assert rendered.returncode == 0, rendered.stderr
        expected = window_codes(sandbox.shop)
    document = etree.parse(str(tmp_path / "feed.xml"))
    assert SCHEMA.validate(document), SCHEMA.error_log
    codes = feed_codes(tmp_path / "feed.xml")
    assert len(codes) == len(set(codes))
    assert set(codes) == expected
    assert (tmp_path / "feed.xml").read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    status = feedsvc(["status"], env)
    assert status.returncode == 0 and f"{len(expected)} orders" in status.stdout


def test_incremental_sync_sends_exactly_the_requests_needed(tmp_path):
    # The shop's last events are a few seconds old, as in a real shop: an event in the very second of a
    # fetch is refetched on purpose (timestamps compare with >=), which would blur the count.
    with SandboxServer(Shop(seed=4, orders=150, now=time.time() - 5), rate=FAST) as sandbox:
        settings = load_settings(sandbox_env(sandbox, tmp_path))
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


def test_sync_killed_halfway_resumes_to_the_same_store_and_feed(tmp_path):
    now = time.time()
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    with SandboxServer(Shop(seed=5, orders=90, now=now, days=6), rate=FAST) as sandbox:
        reference = load_settings(sandbox_env(sandbox, reference_dir))
        run_sync(reference, progress=False)
        build_and_publish(reference, now=now)
        wanted = _raw_orders(reference_dir / "feedsvc.sqlite3")
    with SandboxServer(Shop(seed=5, orders=90, now=now, days=6), rate=FAST) as sandbox:
        env = sandbox_env(sandbox, killed_dir)
        # killed at the 40th answer from Storeden: after the reference data, the list and some details
        # (shipped orders come first, each with its tracking: two answers an order)
        killed = feedsvc(["sync", "--quiet"], {**env, "FEEDSVC_FAULT_KILL_AT": "storeden-response:40"})
        assert killed.returncode == -signal.SIGKILL
        stored_at_kill = _raw_orders(killed_dir / "feedsvc.sqlite3")
        assert 15 <= stored_at_kill < wanted  # really killed halfway
        sandbox.reset_stats()
        resumed = feedsvc(["sync", "--quiet"], env)
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


def test_hostile_orders_are_mapped_cleanly_or_quarantined(tmp_path):
    shop = Shop(seed=6, orders=80)
    recent = [o for o in shop.by_date() if o.status in (1, 2, 3, 4)][:len(CORRUPTIONS)]
    for order, kind in zip(recent, CORRUPTIONS):
        shop.corrupt(order.order_id, kind)
    with SandboxServer(shop, rate=FAST) as sandbox:
        settings = load_settings(sandbox_env(sandbox, tmp_path))
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


def test_storeden_outage_keeps_the_last_feed_served(tmp_path):
    with SandboxServer(orders=40, seed=7, rate=FAST) as sandbox:
        env = sandbox_env(sandbox, tmp_path)
        assert feedsvc(["sync"], env).returncode == 0
        assert feedsvc(["render"], env).returncode == 0
        with GunicornServer(env) as server, server.client(auth=(USER, PASSWORD)) as client:
            before = client.get("/feed.xml")
            sandbox.set_faults(error_rate=1.0)
            sandbox.shop.advance(new_orders=2)
            failed = feedsvc(["sync", "--quiet"], env, timeout=120)
            rendered = feedsvc(["render"], env)
            after = client.get("/feed.xml")
            health = client.get("/healthz").json()
    assert failed.returncode == 1 and "sync failed" in failed.stdout
    assert rendered.returncode == 0
    assert after.status_code == 200 and after.headers["etag"] == before.headers["etag"]
    assert health["last_sync"]["status"] == "failed" and "snapshot_age_seconds" in health
    assert any("last sync ended failed" in reason for reason in health["reasons"])
