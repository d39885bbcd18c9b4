"""The store on a real SQLite file: one rule for which orders are in the window, and how statuses are kept."""

import pytest

from feedsvc import jsonutil
from feedsvc.store import Store

NOW = 1_790_000_000
DAY = 86400


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "feedsvc.sqlite3") as opened:
        yield opened


def _order(store, order_id, *, status, age_days=1, details=True):
    ts = NOW - age_days * DAY
    store.upsert_summary(order_id, status=status, order_ts=ts, short_id=order_id, locale=None,
                         summary={"orderID": order_id, "status": status})
    if details:
        store.save_order_raw(order_id, jsonutil.dumps({"orderID": order_id, "status": status}), status=status,
                             order_ts=ts)
    store.db.execute("UPDATE orders SET code = ? WHERE order_id = ?", (order_id, order_id))


def test_every_window_query_agrees_on_the_orders_it_holds(store):
    for order_id, status, age in [("open", 1, 1), ("sent", 3, 2), ("archived", 6, 1), ("aborted", 7, 3),
                                  ("unknown", None, 1), ("old", 3, 9), ("old-archived", 6, 9)]:
        _order(store, order_id, status=status, age_days=age)
    since = NOW - 7 * DAY
    expected = {"open", "sent", "unknown"}  # an order without a usable status stays in, to be quarantined
    assert {o.order_id for o in store.iter_window_orders(since, {6, 7})} == expected
    assert {o.order_id for o, _ in store.iter_window_with_fragments(since, {6, 7})} == expected
    rows, total = store.search_orders(since_ts=since, exclude_statuses={6, 7})
    assert {r["order_id"] for r in rows} == expected and total == 3
    assert sum(store.orders_per_day(since, 0, {6, 7}).values()) == 3
    assert {o.order_id for o in store.iter_window_orders(since)} == expected | {"archived", "aborted"}


def test_the_status_read_with_the_details_is_not_overwritten_by_a_list_entry(store):
    _order(store, "A", status=3)
    store.upsert_summary("A", status=6, order_ts=NOW, short_id="A", locale=None, summary={"status": 6})
    assert store.get_order("A").status == 3  # until the details are read again
    store.save_order_raw("A", "{}", status=6, order_ts=NOW)
    assert store.get_order("A").status == 6


def test_a_list_entry_sets_the_status_before_any_details_and_details_without_one_clear_it(store):
    _order(store, "B", status=2, details=False)
    store.upsert_summary("B", status=None, order_ts=NOW, short_id="B", locale=None, summary={})
    assert store.get_order("B").status == 2  # an entry without a status says nothing
    store.upsert_summary("B", status=4, order_ts=NOW, short_id="B", locale=None, summary={})
    assert store.get_order("B").status == 4
    store.save_order_raw("B", "{}", status=None, order_ts=NOW)
    known = store.get_known("B")
    assert (known["status"], known["raw_status"]) == (None, None)
