"""The store on a real SQLite file: which orders are in the window, how statuses and raw texts are kept,
migrations, transactions, a build's outcome, the dashboard's search, bookmarks, reference data, sync runs
and the publish state."""

import sqlite3
import time
from decimal import Decimal

import pytest

from feedsvc import jsonutil
from feedsvc import store as store_module
from feedsvc.fragments import CachedFragment
from feedsvc.store import MIGRATIONS, SearchColumns, Store

NOW = 1_790_000_000
DAY = 86400


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


# -- the file and its schema ------------------------------------------------------------------------------

def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_store_has_every_migration_and_opening_it_again_changes_nothing(tmp_path):
    path = tmp_path / "feedsvc.sqlite3"
    with Store(path) as first:
        assert first.schema_version == len(MIGRATIONS)
        first.set_bookmark("kept", "yes")
        tables = _tables(first.db)
    with Store(path) as again:
        assert again.schema_version == len(MIGRATIONS) and _tables(again.db) == tables
        assert again.get_bookmark("kept") == "yes"
    assert {"orders", "fragments", "quarantine", "findings", "sync_runs", "bookmarks"} <= tables


def test_a_store_of_the_first_schema_is_migrated_and_keeps_its_orders(tmp_path):
    path = tmp_path / "feedsvc.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(MIGRATIONS[0])
        old.execute("INSERT INTO orders (order_id, status, order_ts, raw_json, first_seen, updated_at)"
                    " VALUES ('A', 3, ?, '{}', 0, 0)", (NOW,))
        old.execute("PRAGMA user_version=1")
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert "fragments" in _tables(store.db)
        assert store.get_order("A").status == 3


def test_a_failing_migration_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "feedsvc.sqlite3"
    with Store(path) as store:
        store.set_bookmark("kept", "yes")
    broken = [*MIGRATIONS, "CREATE TABLE half (x); CREATE TABLE orders (y)"]  # the second statement fails
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        Store(path)
    monkeypatch.undo()
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert "half" not in _tables(store.db) and store.get_bookmark("kept") == "yes"


def test_a_transaction_keeps_everything_or_nothing(store):
    with pytest.raises(RuntimeError), store.transaction():
        _order(store, "lost", status=1)
        raise RuntimeError("killed halfway")
    assert store.get_order("lost") is None
    with store.transaction():
        _order(store, "kept", status=1)
    assert store.get_order("kept") is not None


# -- orders ----------------------------------------------------------------------------------------------

def test_raw_texts_are_kept_exactly_as_storeden_sent_them(store):
    text = '{"orderID": "R",  "total": 10.10, "z": 1, "a": "\\u00e8"}'  # odd spacing, key order, escapes
    store.upsert_summary("R", status=1, order_ts=NOW, short_id="R1", locale="it_IT", summary={"orderID": "R"})
    store.save_order_raw("R", text, status=1, order_ts=NOW)
    store.save_tracking_raw("R", '[ {"tracking": "X"} ]', status=1)
    stored = store.get_order("R")
    assert stored.raw_text == text and stored.tracking_text == '[ {"tracking": "X"} ]'
    assert stored.raw["total"] == Decimal("10.10")  # money stays exact
    assert stored.summary == {"orderID": "R", "short_id": "R1", "locale": "it_IT"}


def test_a_later_list_entry_keeps_what_it_does_not_say(store):
    store.upsert_summary("E", status=1, order_ts=NOW, short_id="E1", locale="it_IT", summary={}, event_ts=NOW + 50)
    store.upsert_summary("E", status=None, order_ts=None, short_id=None, locale=None, summary={"x": 1},
                         event_ts=NOW + 10)
    known = store.get_known("E")
    stored = store.get_order("E")
    assert (stored.short_id, stored.locale, stored.order_ts, stored.status) == ("E1", "it_IT", NOW, 1)
    assert known["event_ts"] == NOW + 50  # the latest event seen stays
    assert jsonutil.loads(stored.summary_text) == {"x": 1}  # the entry itself is the newest one


def test_an_order_is_found_by_its_code_its_id_or_its_short_id(store):
    _order(store, "ID-1", status=1)
    store.db.execute("UPDATE orders SET code = 'CODE-1', short_id = 'S-1' WHERE order_id = 'ID-1'")
    for key in ("CODE-1", "ID-1", "S-1"):
        assert store.find_order_by_code(key).order_id == "ID-1"
    assert store.find_order_by_code("nothing") is None


# -- a build's outcome -------------------------------------------------------------------------------------

def _fragment(code: str, **changes) -> CachedFragment:
    values = {"source_key": "k", "xml": f"<ORDER><CODE>{code}</CODE></ORDER>".encode(), "code": code,
              "order_ref": code, "date": "2026-09-21 10:00:00", "packages": ("P1", "P2"),
              "notes": [("MAP:country", "warning", "guessed")]}
    return CachedFragment(**{**values, **changes})


def _columns(code: str, total_cents: int = 1000, email: str = "a@example.com", customer: str = "Ada",
             is_cod: int = 0, packages: str = "") -> SearchColumns:
    return SearchColumns(code=code, email=email, customer=customer, country="IT", total=f"{total_cents / 100:.2f}",
                         total_cents=total_cents, payment="stripe", is_cod=is_cod, package_numbers=packages)


def test_a_build_outcome_replaces_quarantine_and_findings_and_caches_fragments(store):
    for order_id in ("A", "B", "C"):
        _order(store, order_id, status=1)
    store.save_build_outcome(fragments=[("A", _fragment("A")), ("B", _fragment("B"))],
                             columns=[("A", _columns("A")), ("B", _columns("B"))],
                             quarantined={"C": ("no e-mail", "{}")},
                             findings={"A": [("MAP:country", "warning", "guessed")]}, since_ts=NOW - 7 * DAY)
    assert store.count_fragments() == 2 and store.quarantine_reason("C") == "no e-mail"
    assert store.list_findings("A") == [("MAP:country", "warning", "guessed")]
    cached = {o.order_id: f for o, f in store.iter_window_with_fragments(0)}
    assert cached["A"] == _fragment("A") and cached["C"] is None  # packages and notes come back as they went in

    # The next build: B is quarantined now, C is published; what the previous build said is gone.
    store.save_build_outcome(fragments=[("C", _fragment("C"))], columns=[("C", _columns("C"))],
                             quarantined={"B": ("duplicate CODE", "")}, findings={}, since_ts=NOW - 7 * DAY)
    assert [q.order_id for q in store.list_quarantine()] == ["B"]
    assert store.list_findings("A") == [] and store.count_findings() == 0
    assert {o.order_id for o, f in store.iter_window_with_fragments(0) if f} == {"A", "C"}


def test_fragments_of_orders_that_left_the_window_are_forgotten(store):
    _order(store, "old", status=1, age_days=8)
    _order(store, "new", status=1, age_days=1)
    store.save_build_outcome(fragments=[("old", _fragment("old")), ("new", _fragment("new"))], columns=[],
                             quarantined={}, findings={}, since_ts=0)
    store.save_build_outcome(fragments=[], columns=[], quarantined={}, findings={}, since_ts=NOW - 7 * DAY)
    assert {o.order_id for o, f in store.iter_window_with_fragments(0) if f} == {"new"}


def test_a_build_outcome_interrupted_while_saving_keeps_the_previous_one(store):
    _order(store, "A", status=1)
    _order(store, "B", status=1)
    store.save_build_outcome(fragments=[], columns=[], quarantined={"A": ("bad", "")}, findings={}, since_ts=0)

    def fragments_then_death():
        yield "B", _fragment("B")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.save_build_outcome(fragments=fragments_then_death(), columns=[("B", _columns("B"))],
                                 quarantined={}, findings={}, since_ts=0)
    assert store.quarantine_reason("A") == "bad" and store.count_fragments() == 0
    assert store.db.execute("SELECT email FROM orders WHERE order_id = 'B'").fetchone()[0] is None  # nor columns


# -- the dashboard's search --------------------------------------------------------------------------------

@pytest.fixture
def searchable(store):
    rows = [("A", _columns("10001", 1500, "ada@example.com", "Ada Lovelace", 0, "P1")),
            ("B", _columns("10002", 990, "bob@example.org", "Bob Stone", 1, "")),
            ("C", _columns("10003", 25000, "cy@example.com", "Cy Young", 0, "P9 P10"))]
    for age, (order_id, _) in enumerate(rows, start=1):
        _order(store, order_id, status=3 if order_id != "B" else 1, age_days=age)
    _order(store, "unpublished", status=1)
    store.save_build_outcome(fragments=[], columns=rows, quarantined={}, findings={}, since_ts=0)
    store.db.execute("UPDATE orders SET code = NULL WHERE order_id = 'unpublished'")
    return store


def _codes(result) -> list[str]:
    return [row["code"] for row in result[0]]


@pytest.mark.parametrize("query, expected", [
    ("10002", ["10002"]), ("B", ["10002"]), ("example.com", ["10001", "10003"]), ("lovelace", ["10001"]),
    ("1000", []),  # a CODE matches whole, never in part
])
def test_search_finds_by_code_id_email_and_customer(searchable, query, expected):
    assert sorted(_codes(searchable.search_orders(since_ts=0, query=query))) == expected


def test_search_filters_sorts_and_pages(searchable):
    assert _codes(searchable.search_orders(since_ts=0)) == ["10001", "10002", "10003"]  # newest first
    assert _codes(searchable.search_orders(since_ts=0, sort="total", descending=False)) == \
        ["10002", "10001", "10003"]
    assert _codes(searchable.search_orders(since_ts=0, status=3)) == ["10001", "10003"]
    assert _codes(searchable.search_orders(since_ts=0, cod=True)) == ["10002"]
    assert _codes(searchable.search_orders(since_ts=0, has_package=False)) == ["10002"]
    assert _codes(searchable.search_orders(since_ts=0, has_package=True)) == ["10001", "10003"]
    page, total = searchable.search_orders(since_ts=0, per_page=2, page=2)
    assert [row["code"] for row in page] == ["10003"] and total == 3


def test_an_unknown_sort_is_the_date_and_never_reaches_the_sql(searchable):
    rows, total = searchable.search_orders(since_ts=0, sort="code; DROP TABLE orders")
    assert _codes((rows, total)) == ["10001", "10002", "10003"] and total == 3
    assert searchable.count_orders() == 4


# -- bookmarks, reference data, sync runs, publish state ---------------------------------------------------

def test_a_bookmark_holds_its_last_value(store):
    assert store.get_bookmark("last_ok") is None
    store.set_bookmark("last_ok", "1")
    store.set_bookmark("last_ok", "2")
    assert store.get_bookmark("last_ok") == "2"


def test_reference_data_is_too_old_past_its_max_age(store, monkeypatch):
    store.set_reference("couriers", {"1": {"name": "BRT"}})
    assert store.get_reference("couriers", max_age=60) == {"1": {"name": "BRT"}}
    later = time.time() + 120
    monkeypatch.setattr(store_module.time, "time", lambda: later)
    assert store.get_reference("couriers", max_age=60) is None
    assert store.get_reference("couriers") == {"1": {"name": "BRT"}}  # still there for whoever has no limit
    assert store.get_reference("countries") is None


def test_sync_runs_are_recorded_and_the_last_good_one_found(store):
    first = store.start_sync_run("backfill")
    store.update_sync_run(first, requests=12, progress="3/10 orders", id=99, bogus="x")  # unknown names ignored
    assert store.last_sync_run().status == "running" and store.last_sync_run().progress == "3/10 orders"
    assert store.last_sync_run().duration is None
    store.finish_sync_run(first, status="ok", requests=20, progress=None)
    second = store.start_sync_run("incremental")
    store.finish_sync_run(second, status="failed", error="Storeden answered 500")
    assert [run.id for run in store.list_sync_runs()] == [second, first]
    assert store.last_sync_run().status == "failed" and store.last_sync_run().error == "Storeden answered 500"
    good = store.last_successful_sync()
    assert good.id == first and good.requests == 20 and good.kind == "backfill" and good.duration >= 0


def test_the_last_publish_error_is_kept_until_a_publish_succeeds(store):
    assert store.last_publish_error() is None
    store.record_publish_error("disk full")
    store.record_publish_error("read-only file system")
    assert store.last_publish_error() == "read-only file system"
    store.clear_publish_error()
    assert store.last_publish_error() is None
