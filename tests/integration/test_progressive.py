"""A first backfill at Storeden's real throttle, on simulated time: the feed is published within 3 minutes and
grows while the backfill runs, each snapshot passing the same checks as any other.

The simulator answers over real sockets as fast as it can; the client's throttle (5 requests per 60 s) and
the pipeline's publish cadence share one simulated clock that moves only when the throttle waits, so hours of
backfill take seconds and the times asserted are the ones a real shop would see, whatever this machine's speed.
"""

import itertools
import json
import time

import pytest
from lxml import etree

from feedsvc.backfill import urgency
from feedsvc.config import load_settings
from feedsvc.pipeline import run_pipeline
from feedsvc.progressive import EVERY
from feedsvc.retino.validate import validate_path
from feedsvc.store import Store
from feedsvc.storeden.client import StoredenClient
from feedsvc.storeden.shop import Shop
from tests.helpers.clocks import FakeTime
from tests.helpers.data import window_codes
from tests.helpers.servers import base_env, storeden_env

UNTHROTTLED = (1_000_000, 1.0)  # the simulator's own window; the client keeps to 5/60 on simulated time


def _codes(path) -> list[str]:
    return [e.text for e in etree.parse(str(path)).getroot().iterfind("ORDER/CODE")]


def test_a_slow_backfill_publishes_its_first_orders_within_three_minutes_then_grows(data_dir, start_storeden):
    shop = Shop(seed=23, orders=420, now=time.time() - 60, days=6)
    sandbox = start_storeden(shop, rate=UNTHROTTLED)
    settings = load_settings(base_env(data_dir, **storeden_env(sandbox, rate=(5, 60))))
    clock = FakeTime()
    client = StoredenClient.from_settings(settings, clock=clock.time, sleep=clock.sleep)
    published = []

    def check(elapsed, result):  # runs inside the pipeline, right after each publish
        report = validate_path(result.snapshot_dir / "feed.xml", days=settings.days)
        with Store.open(settings) as store:
            _listed, pending = store.count_window_pending(0, settings.exclude_statuses)
        published.append({"at": elapsed, "orders": result.orders, "valid": report.valid,
                          "codes": _codes(result.snapshot_dir / "feed.xml"), "pending": pending,
                          "quarantined": result.quarantined})

    outcome = run_pipeline(settings, client=client, clock=clock.time, on_publish=check, progress=False)
    expected = window_codes(shop)
    by_code = {o.short_id: o for o in shop.orders.values()}

    assert outcome.sync.status == "ok" and outcome.publish_error is None
    assert len(published) >= 4, published
    first = published[0]
    assert first["orders"] >= 1 and first["valid"] and first["at"] <= 180, first
    # the first orders out are the ones Retino needs soonest: delivered / after-sale before sent before the rest
    assert all(urgency(by_code[code].status) == 0 for code in first["codes"]), first["codes"]
    assert first["pending"] > 0 and first["quarantined"] == 0  # the rest is pending, not quarantined
    for before, after in itertools.pairwise(published):
        assert after["valid"] and after["orders"] >= before["orders"]
        assert set(before["codes"]) <= set(after["codes"])  # an order once out stays out
        assert after["at"] - before["at"] <= EVERY  # at least every 10 minutes
    assert published[-1]["orders"] > first["orders"]
    assert clock.now - published[-1]["at"] <= EVERY  # the end's publish (outcome.build) follows in time
    assert set(published[-1]["codes"]) < expected  # still growing when the backfill ended...
    final = outcome.build.snapshot_dir / "feed.xml"
    assert set(_codes(final)) == expected and outcome.build.pending == 0  # ...and complete at its end
    assert validate_path(final, days=settings.days).valid
    assert clock.now > 3600  # this really was an hour-long backfill at 5 requests a minute


def test_a_small_shop_finished_within_the_first_minute_is_published_once_at_the_end(data_dir, start_storeden):
    shop = Shop(seed=24, orders=6, now=time.time() - 60, days=6)
    sandbox = start_storeden(shop, rate=UNTHROTTLED)
    settings = load_settings(base_env(data_dir, **storeden_env(sandbox, rate=(20, 60))))
    clock = FakeTime()
    client = StoredenClient.from_settings(settings, clock=clock.time, sleep=clock.sleep)
    outcome = run_pipeline(settings, client=client, clock=clock.time, progress=False)
    expected = window_codes(shop)
    assert clock.now < 60 and outcome.progressive == []
    assert set(_codes(outcome.build.snapshot_dir / "feed.xml")) == expected


def test_orders_not_fetched_yet_are_pending_never_quarantined_nor_half_mapped(data_dir, start_storeden):
    """A sync killed between a shipped order's details and its tracking: the publish leaves that order out."""
    shop = Shop(seed=25, orders=40, now=time.time() - 60, days=6)
    sandbox = start_storeden(shop, rate=UNTHROTTLED)
    settings = load_settings(base_env(data_dir, **storeden_env(sandbox)))
    with Store.open(settings) as store:
        shipped = next(o for o in shop.by_date() if o.status == 4 and o.tracking)
        waiting = next(o for o in shop.by_date() if o.status in (1, 2))
        for order in (shipped, waiting):
            store.upsert_summary(order.order_id, status=order.status, order_ts=order.ts,
                                 short_id=order.short_id, locale=None, summary={"orderID": order.order_id})
        store.save_order_raw(shipped.order_id, json.dumps(shipped.order, default=str), status=4,
                             order_ts=shipped.ts)
    result = run_pipeline(settings, sync=False, publish=True).build
    with Store.open(settings) as store:
        quarantined = store.list_quarantine()
        listed, pending = store.count_window_pending(0, settings.exclude_statuses)
    assert result.orders == 0 and result.pending == 2 and pending == 2 and listed == 2
    assert quarantined == []


@pytest.mark.slow
def test_a_large_shop_with_nothing_shipped_still_publishes_within_three_minutes(data_dir, start_storeden):
    """No order is urgent, so the list does not take precedence for all its 12 pages: pages and orders alternate."""
    shop = Shop(seed=26, orders=1200, now=time.time() - 60, days=6)
    for order in shop.orders.values():
        order.order["status"] = 1  # a shop that never moves its orders past "paid" in Storeden
        order.tracking = None
    sandbox = start_storeden(shop, rate=UNTHROTTLED)
    settings = load_settings(base_env(data_dir, **storeden_env(sandbox, rate=(5, 60))))
    clock = FakeTime()
    client = StoredenClient.from_settings(settings, clock=clock.time, sleep=clock.sleep)
    published = []

    def check(elapsed, result):
        published.append((elapsed, result.orders, validate_path(result.snapshot_dir / "feed.xml").valid,
                          sandbox.stats()["/orders/list.json"]))

    outcome = run_pipeline(settings, client=client, clock=clock.time, on_publish=check, progress=False)
    elapsed, orders, valid, pages_by_then = published[0]
    assert elapsed <= 180 and orders >= 1 and valid
    assert pages_by_then < 12  # it did not read every page before fetching its first orders
    assert outcome.sync.status == "ok" and outcome.build.orders == len(window_codes(shop))
