"""The sync's decisions, run against the Storeden simulator in process (httpx's WSGI transport, no socket)
on a fixed clock: what kind of run it makes, what it asks for, when the bookmark moves, and how a failing
order, a vanished one, wrong credentials or an interruption end a run."""

import logging

import httpx
import pytest

from feedsvc.pipeline import pipeline_running
from feedsvc.storeden.client import StoredenClient
from feedsvc.storeden.sandbox import SANDBOX_EXCHANGE, SANDBOX_KEY, create_sandbox_app
from feedsvc.storeden.sandbox.state import EXTENSION
from feedsvc.storeden.shop import SHIPPED, Shop
from feedsvc.sync import BOOKMARK_FULL_LIST, BOOKMARK_LAST_OK, run_sync

NOW = 1_790_000_000
DAY = 86400
EXCLUDED = (6, 7)


class Failing(httpx.BaseTransport):
    """The simulator behind `inner`, but `answer(request)` replaces its answer when it returns one."""

    def __init__(self, inner: httpx.BaseTransport, answer):
        self.inner, self.answer = inner, answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.answer(request) or self.inner.handle_request(request)


@pytest.fixture
def shop() -> Shop:
    return Shop(seed=12, orders=60, now=NOW, days=9)


@pytest.fixture
def simulator(shop):
    return create_sandbox_app(shop, rate=(1000, 1.0))


def stats(simulator) -> dict:
    return dict(simulator.extensions[EXTENSION].stats)


def reset(simulator) -> None:
    simulator.extensions[EXTENSION].stats.clear()


def client(simulator, *, key=SANDBOX_KEY, answer=None) -> StoredenClient:
    transport: httpx.BaseTransport = httpx.WSGITransport(app=simulator)
    if answer is not None:
        transport = Failing(transport, answer)
    return StoredenClient("http://storeden.test/v1.1", key, SANDBOX_EXCHANGE, rate_requests=1000, rate_seconds=1,
                          transport=transport, sleep=lambda seconds: None, backoff=0)


def sync(settings, simulator, store, now, **options):
    return run_sync(settings, client=client(simulator, **options), store=store, progress=False, now=now)


def in_window(shop: Shop, now: float):
    return [o for o in shop.orders.values() if o.ts >= now - 7 * DAY]


def test_a_first_run_lists_the_window_and_fetches_only_what_the_feed_needs(settings, store, shop, simulator):
    result = sync(settings, simulator, store, NOW)
    wanted = [o for o in in_window(shop, NOW) if o.status not in EXCLUDED]
    asked = stats(simulator)
    assert (result.kind, result.status, result.orders_new) == ("backfill", "ok", len(wanted))
    assert asked["/orders/order.json"] == len(wanted)
    assert asked["/orders/tracking.json"] == sum(1 for o in wanted if o.status in SHIPPED)
    assert result.requests == asked["requests"]
    for order in in_window(shop, NOW):
        stored = store.get_order(order.order_id)
        assert (stored.raw_text is not None) == (order.status not in EXCLUDED), order.order_id
    assert not [o for o in shop.orders.values() if o.ts < NOW - 7 * DAY and store.get_order(o.order_id)]
    assert store.get_bookmark(BOOKMARK_LAST_OK) == store.get_bookmark(BOOKMARK_FULL_LIST) == str(NOW)
    assert store.last_sync_run().status == "ok" and store.last_sync_run().requests == result.requests


def test_a_later_run_asks_only_what_changed(settings, store, shop, simulator):
    sync(settings, simulator, store, NOW)
    touched = shop.advance(new_orders=2, status_changes=3, now=NOW + 600)
    reset(simulator)
    result = sync(settings, simulator, store, NOW + 660)
    asked = stats(simulator)
    assert result.kind == "incremental" and result.status == "ok"
    assert asked["/orders/orders_filter.json"] == 1 and "/orders/list.json" not in asked
    assert "/orders/checkoutMethods.json" not in asked  # reference data is a day old at most
    changed = [i for i in touched["changed"] if shop.orders[i].ts >= NOW + 660 - 7 * DAY]  # in the window
    assert asked["/orders/order.json"] == len(touched["created"]) + len(changed)
    assert result.orders_new == 2 and result.orders_changed == len(changed) > 0
    for order_id in changed:
        assert store.get_order(order_id).status == shop.orders[order_id].status


@pytest.mark.parametrize("later, old_bookmark, kind", [
    (600, False, "incremental"),
    (DAY + 1, False, "backfill"),     # a full list once a day catches what the filter missed
    (600, True, "backfill"),          # the last good run is older than the window
])
def test_which_kind_of_run(settings, store, simulator, later, old_bookmark, kind):
    sync(settings, simulator, store, NOW)
    if old_bookmark:
        store.set_bookmark(BOOKMARK_LAST_OK, str(NOW - 8 * DAY))
    assert sync(settings, simulator, store, NOW + later).kind == kind


def test_a_failed_run_keeps_the_bookmark_so_the_next_one_asks_again(settings, store, shop, simulator):
    sync(settings, simulator, store, NOW)
    touched = shop.advance(new_orders=2, now=NOW + 600)
    simulator.extensions[EXTENSION].set_faults(error_rate=1.0)
    failed = sync(settings, simulator, store, NOW + 660)
    assert failed.status == "failed" and "500" in failed.errors[0]
    assert store.get_bookmark(BOOKMARK_LAST_OK) == str(NOW)
    assert store.last_sync_run().status == "failed" and store.last_sync_run().error
    simulator.extensions[EXTENSION].set_faults(error_rate=0.0)
    again = sync(settings, simulator, store, NOW + 720)
    assert again.status == "ok" and again.orders_new == 2
    assert all(store.get_order(order_id).raw_text for order_id in touched["created"])
    assert store.get_bookmark(BOOKMARK_LAST_OK) == str(NOW + 720)


def test_one_failing_order_makes_a_partial_run_that_keeps_the_others(settings, store, shop, simulator):
    victim = next(o for o in in_window(shop, NOW) if o.status in (1, 2))

    def broken_details(request):
        if request.url.path.endswith("/order.json") and request.url.params.get("orderID") == victim.order_id:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        return None

    partial = sync(settings, simulator, store, NOW, answer=broken_details)
    assert partial.status == "partial" and any(victim.order_id in error for error in partial.errors)
    assert store.get_order(victim.order_id).raw_text is None
    assert store.get_bookmark(BOOKMARK_LAST_OK) is None
    stored = sum(1 for o in in_window(shop, NOW) if store.get_order(o.order_id).raw_text)
    assert stored == sum(1 for o in in_window(shop, NOW) if o.status not in EXCLUDED) - 1
    reset(simulator)
    mended = sync(settings, simulator, store, NOW + 60)
    assert mended.status == "ok" and stats(simulator)["/orders/order.json"] == 1  # only the one it lacked
    assert store.get_order(victim.order_id).raw_text


def test_an_order_gone_before_its_details_are_read_is_left_out(settings, store, shop, simulator, caplog):
    gone = next(o for o in in_window(shop, NOW) if o.status in (1, 2))

    def vanished(request):
        if request.url.path.endswith("/order.json") and request.url.params.get("orderID") == gone.order_id:
            return httpx.Response(404, json={"error": {"message": "not found"}})
        return None

    with caplog.at_level(logging.WARNING, logger="feedsvc.sync"):
        result = sync(settings, simulator, store, NOW, answer=vanished)
    assert result.status == "ok" and not result.errors
    assert store.get_order(gone.order_id).raw_text is None
    assert f"order {gone.order_id} vanished" in caplog.text


def test_wrong_credentials_end_the_run_as_auth_failed(settings, store, simulator):
    result = sync(settings, simulator, store, NOW, key="wrong-key")
    assert result.status == "auth_failed" and result.orders_new == 0
    assert store.order_ids() == [] and store.get_bookmark(BOOKMARK_LAST_OK) is None
    assert store.last_sync_run().status == "auth_failed"


def test_an_interrupted_run_is_recorded_and_frees_the_lock(settings, store, simulator):
    seen = []

    def interrupt_at_the_fifth(request):
        seen.append(request.url.path)
        if len(seen) == 5:
            raise KeyboardInterrupt
        return None

    with pytest.raises(KeyboardInterrupt):
        sync(settings, simulator, store, NOW, answer=interrupt_at_the_fifth)
    run = store.last_sync_run()
    assert run.status == "failed" and run.error == "interrupted: KeyboardInterrupt" and run.ended_at
    assert not pipeline_running(settings)
    assert store.get_bookmark(BOOKMARK_LAST_OK) is None


def test_reference_data_is_read_again_once_a_day_old(settings, store, simulator):
    sync(settings, simulator, store, NOW)
    assert {"checkoutMethods", "couriers"} <= {name for name in ("checkoutMethods", "couriers", "countries")
                                               if store.get_reference(name) is not None}
    reset(simulator)
    sync(settings, simulator, store, NOW + 60)
    assert "/orders/checkoutMethods.json" not in stats(simulator)
    store.db.execute("UPDATE reference SET fetched_at = fetched_at - 86401")
    reset(simulator)
    sync(settings, simulator, store, NOW + 120)
    assert stats(simulator)["/orders/checkoutMethods.json"] == 1


def test_countries_refused_are_no_error_but_couriers_failing_is(settings, store, simulator):
    def refuse(request):
        if "/countries/" in request.url.path:
            return httpx.Response(403, json={"error": {"message": "no rights"}})
        if "couriers" in request.url.path:
            return httpx.Response(500, json={"error": {"message": "down"}})
        return None

    result = sync(settings, simulator, store, NOW, answer=refuse)
    assert result.status == "partial"
    assert [error for error in result.errors if error.startswith("couriers:")]
    assert not [error for error in result.errors if "countries" in error]
    assert store.get_reference("countries") == {} and store.get_reference("couriers") is None
