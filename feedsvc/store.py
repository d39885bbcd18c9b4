"""The SQLite store: raw Storeden orders, sync bookmarks and runs, quarantine, findings, fragments.

WAL mode lets the web workers read while the sync writes. Every write commits
at once, so an order fetched is an order kept, whatever happens next. The raw
JSON is the exact text Storeden sent, so a mapping change re-renders without
refetching; a published order's rendered fragment is kept beside it so an
unchanged order is not mapped, rendered and checked again. The schema carries
its version in `PRAGMA user_version`; MIGRATIONS are applied in order, each in
its own transaction. The file holds customers' personal data: it is created
0600 (SQLite gives its -wal and -shm files the same mode), and a looser one
from an older version is tightened when opened. All of feedsvc's SQL is here,
but for the web's failure counts in their own file (auth_failures.py).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from feedsvc import jsonutil
from feedsvc.fragments import CachedFragment
from feedsvc.storeden.vocabulary import SHIPPED_STATUSES

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE orders (
        order_id TEXT PRIMARY KEY,
        status INTEGER,
        order_ts INTEGER,
        short_id TEXT,
        locale TEXT,
        summary_json TEXT,
        raw_json TEXT,
        raw_status INTEGER,
        raw_fetched_at REAL,
        tracking_json TEXT,
        tracking_status INTEGER,
        tracking_fetched_at REAL,
        event_ts INTEGER,
        first_seen REAL NOT NULL,
        updated_at REAL NOT NULL,
        code TEXT, email TEXT, customer TEXT, country TEXT, total TEXT, total_cents INTEGER,
        payment TEXT, is_cod INTEGER, package_numbers TEXT
    );
    CREATE INDEX orders_by_date ON orders(order_ts);
    CREATE INDEX orders_by_status ON orders(status, order_ts);
    CREATE INDEX orders_by_code ON orders(code);
    CREATE INDEX orders_by_email ON orders(email);
    CREATE TABLE bookmarks (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE quarantine (order_id TEXT PRIMARY KEY, reason TEXT NOT NULL, raw TEXT, at REAL NOT NULL);
    CREATE TABLE findings (order_id TEXT NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL,
                           message TEXT NOT NULL);
    CREATE INDEX findings_by_order ON findings(order_id);
    CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, ended_at REAL,
        kind TEXT NOT NULL, status TEXT NOT NULL, requests INTEGER DEFAULT 0,
        responses_429 INTEGER DEFAULT 0, orders_new INTEGER DEFAULT 0, orders_changed INTEGER DEFAULT 0,
        orders_unchanged INTEGER DEFAULT 0, progress TEXT, error TEXT
    );
    CREATE TABLE reference (name TEXT PRIMARY KEY, json TEXT NOT NULL, fetched_at REAL NOT NULL);
    CREATE TABLE publish_state (id INTEGER PRIMARY KEY CHECK (id = 1), error TEXT, at REAL);
    """,
    # 2: each published order's rendered <ORDER> and its own findings, reused while its source is unchanged
    """
    CREATE TABLE fragments (
        order_id TEXT PRIMARY KEY,
        source_key TEXT NOT NULL,
        xml BLOB NOT NULL,
        code TEXT NOT NULL,
        order_ref TEXT NOT NULL,
        date TEXT NOT NULL,
        packages TEXT NOT NULL,
        notes TEXT NOT NULL
    );
    """,
    # 3: push mode: each order's state in Retino, the statuses sync observed, and the push runs
    """
    CREATE TABLE status_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id TEXT NOT NULL,
        status INTEGER NOT NULL,
        seen_at REAL NOT NULL,
        source TEXT NOT NULL
    );
    CREATE INDEX status_history_by_order ON status_history(order_id, id);
    INSERT INTO status_history (order_id, status, seen_at, source)
        SELECT order_id, status, order_ts, 'order_date' FROM orders
        WHERE status IS NOT NULL AND order_ts IS NOT NULL ORDER BY order_ts;
    CREATE TABLE push_state (
        order_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        retino_code TEXT,
        retino_id TEXT,
        push_key TEXT,
        source_key TEXT,
        payload_hash TEXT,
        confirmed_at REAL,
        first_confirmed_at REAL,
        error TEXT,
        error_at REAL,
        error_hash TEXT,
        shipments TEXT NOT NULL DEFAULT '[]',
        shipment_error TEXT,
        left_status INTEGER,
        left_at REAL,
        unanswered INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX push_state_by_state ON push_state(state);
    CREATE TABLE push_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, ended_at REAL,
        status TEXT NOT NULL, sent INTEGER DEFAULT 0, confirmed INTEGER DEFAULT 0, rejected INTEGER DEFAULT 0,
        unconfirmed INTEGER DEFAULT 0, shipments INTEGER DEFAULT 0, calls INTEGER DEFAULT 0,
        requests INTEGER DEFAULT 0, responses_429 INTEGER DEFAULT 0, responses_5xx INTEGER DEFAULT 0, error TEXT
    );
    """,
]


@dataclass
class StoredOrder:
    order_id: str
    status: int | None
    order_ts: int | None
    short_id: str | None
    locale: str | None
    raw_text: str | None
    tracking_text: str | None
    summary_text: str | None

    @property
    def raw(self) -> Any:
        return jsonutil.loads(self.raw_text) if self.raw_text else None

    @property
    def tracking(self) -> Any:
        return jsonutil.loads(self.tracking_text) if self.tracking_text else None

    @property
    def summary(self) -> dict:
        data = jsonutil.loads(self.summary_text) if self.summary_text else {}
        data = data if isinstance(data, dict) else {}
        if self.short_id and "short_id" not in data:
            data["short_id"] = self.short_id
        if self.locale and "locale" not in data:
            data["locale"] = self.locale
        return data


class SearchColumns(NamedTuple):
    """The columns the build writes for each published order, which the dashboard searches and shows."""

    code: str
    email: str
    customer: str
    country: str
    total: str
    total_cents: int
    payment: str
    is_cod: int
    package_numbers: str


@dataclass
class SyncRun:
    id: int
    started_at: float
    ended_at: float | None
    kind: str
    status: str
    requests: int
    responses_429: int
    orders_new: int
    orders_changed: int
    orders_unchanged: int
    progress: str | None
    error: str | None

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass
class Quarantined:
    order_id: str
    reason: str
    raw: str | None
    at: float


class ObservedStatus(NamedTuple):
    """A Storeden status sync saw for an order, from when (UTC epoch), and where that date comes from."""

    status: int
    seen_at: float
    source: str  # event | sync | order_date


@dataclass
class PushCandidate:
    """A published order of the window with what the push knows about it (no texts)."""

    order_id: str
    status: int | None
    order_ts: int | None
    source_key: str  # its published fragment's key
    code: str
    packages: tuple[str, ...]
    state: str | None  # confirmed | rejected | unconfirmed | None (never sent)
    retino_id: str | None
    push_key: str | None
    payload_hash: str | None
    error_hash: str | None
    error_at: float | None
    shipments: tuple[str, ...]
    first_confirmed_at: float | None
    retino_code: str | None
    unanswered: bool  # a bulk answer passed over it in silence: it goes alone next time


@dataclass
class PushRun:
    id: int
    started_at: float
    ended_at: float | None
    status: str
    sent: int
    confirmed: int
    rejected: int
    unconfirmed: int
    shipments: int
    calls: int
    requests: int
    responses_429: int
    responses_5xx: int
    error: str | None


@dataclass
class PushCounts:
    confirmed: int
    pending: int
    rejected: int
    left_retino: int  # in Retino, then archived or aborted in Storeden (reported, not deleted)
    last_run: PushRun | None


_ORDER_COLUMNS = "order_id, status, order_ts, short_id, locale, raw_json, tracking_json, summary_json"
_ORDER_COLUMNS_O = ", ".join(f"o.{name.strip()}" for name in _ORDER_COLUMNS.split(","))  # with the "o." alias
SORTS = {"date": "order_ts", "code": "code", "total": "total_cents", "customer": "customer"}


def _private_files(database: Path) -> None:
    """Create the database file 0600 (before SQLite does it 0644), and tighten it and its companions."""
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError:
        return  # SQLite will say what is wrong
    for path in (database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm"))):
        try:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)
        except OSError:
            continue  # gone, or not ours to change


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_files(self.path)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    @classmethod
    def open(cls, settings) -> Store:
        return cls(settings.database_path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.db.execute("PRAGMA user_version").fetchone()[0] >= number:
                    self.db.execute("COMMIT")
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(self):
        """Group many writes into one commit (bulk loads); everything or nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    # -- orders ---------------------------------------------------------------
    def get_known(self, order_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT order_id, status, raw_status, tracking_status, event_ts, raw_json IS NOT NULL AS has_raw,"
            " tracking_json IS NOT NULL AS has_tracking, raw_fetched_at, tracking_fetched_at"
            " FROM orders WHERE order_id = ?", (order_id,)).fetchone()

    def upsert_summary(self, order_id: str, *, status: int | None, order_ts: int | None,
                       short_id: str | None, locale: str | None, summary: dict,
                       event_ts: int | None = None) -> None:
        """Keep an order's list or filter entry. Its status becomes the order's only while no details are
        stored: once they are, the status is the one read with them (save_order_raw)."""
        now = time.time()
        self.db.execute(
            """INSERT INTO orders (order_id, status, order_ts, short_id, locale, summary_json, event_ts,
                                   first_seen, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(order_id) DO UPDATE SET
                   status = CASE WHEN raw_json IS NULL THEN COALESCE(excluded.status, status) ELSE status END,
                   order_ts = COALESCE(excluded.order_ts, order_ts),
                   short_id = COALESCE(excluded.short_id, short_id),
                   locale = COALESCE(excluded.locale, locale),
                   summary_json = excluded.summary_json,
                   event_ts = MAX(COALESCE(excluded.event_ts, 0), COALESCE(event_ts, 0)),
                   updated_at = excluded.updated_at""",
            (order_id, status, order_ts, short_id, locale, jsonutil.dumps(summary), event_ts, now, now))

    def save_order_raw(self, order_id: str, raw_text: str, *, status: int | None,
                       order_ts: int | None) -> None:
        """Keep an order's details and the status read with them (None: no usable status, quarantined)."""
        now = time.time()
        self.db.execute(
            """INSERT INTO orders (order_id, status, order_ts, raw_json, raw_status, raw_fetched_at,
                                   first_seen, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(order_id) DO UPDATE SET raw_json = excluded.raw_json,
                   raw_status = excluded.raw_status, raw_fetched_at = excluded.raw_fetched_at,
                   status = excluded.status,
                   order_ts = COALESCE(excluded.order_ts, order_ts), updated_at = excluded.updated_at""",
            (order_id, status, order_ts, raw_text, status, now, now, now))

    def save_tracking_raw(self, order_id: str, tracking_text: str | None, *, status: int | None) -> None:
        self.db.execute(
            "UPDATE orders SET tracking_json = ?, tracking_status = ?, tracking_fetched_at = ?, updated_at = ?"
            " WHERE order_id = ?", (tracking_text, status, time.time(), time.time(), order_id))

    def get_order_fetch_time(self, order_id: str) -> float | None:
        row = self.db.execute("SELECT raw_fetched_at FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return row[0] if row else None

    def get_order(self, order_id: str) -> StoredOrder | None:
        row = self.db.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return StoredOrder(*row) if row else None

    def find_order_by_code(self, code: str) -> StoredOrder | None:
        row = self.db.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE code = ? OR order_id = ? "
                              "OR short_id = ? LIMIT 1", (code, code, code)).fetchone()
        return StoredOrder(*row) if row else None

    @staticmethod
    def _in_window(since_ts: int, exclude_statuses, table: str = "") -> tuple[str, list]:
        """THE condition for "this order belongs to the window's feed", as (SQL, parameters).

        Dated in the window, and a status not excluded. An order without a
        usable status (NULL: none given, or not a status) stays in, so the
        build can quarantine it with its reason rather than drop it unseen.
        """
        column = f"{table}." if table else ""
        excluded = sorted(int(s) for s in exclude_statuses)
        sql = f"{column}order_ts >= ?"
        if excluded:
            sql += f" AND ({column}status IS NULL OR {column}status NOT IN ({','.join('?' * len(excluded))}))"
        return sql, [since_ts, *excluded]

    def _window_rows(self, select: str, since_ts: int, exclude_statuses) -> sqlite3.Cursor:
        """`select` (over `orders o`) limited to the window's orders, oldest first, as a lazy cursor."""
        where, params = self._in_window(since_ts, exclude_statuses, "o")
        return self.db.execute(f"{select} WHERE {where} ORDER BY o.order_ts, o.order_id", params)

    def iter_window_orders(self, since_ts: int, exclude_statuses=frozenset()) -> Iterator[StoredOrder]:
        """The window's orders, oldest first, one row at a time (no fetchall)."""
        for row in self._window_rows(f"SELECT {_ORDER_COLUMNS_O} FROM orders o", since_ts, exclude_statuses):
            yield StoredOrder(*row)

    def iter_window_with_fragments(self, since_ts: int, exclude_statuses=frozenset()
                                   ) -> Iterator[tuple[StoredOrder, CachedFragment | None]]:
        """Like iter_window_orders, each order with its cached fragment (None when there is none)."""
        cursor = self._window_rows(
            f"SELECT {_ORDER_COLUMNS_O}, f.source_key, f.xml, f.code, f.order_ref, f.date, f.packages, f.notes"
            " FROM orders o LEFT JOIN fragments f ON f.order_id = o.order_id", since_ts, exclude_statuses)
        for row in cursor:
            fragment = None
            if row[8] is not None:
                fragment = CachedFragment(row[8], row[9], row[10], row[11], row[12],
                                          tuple(jsonutil.loads(row[13])),
                                          [tuple(note) for note in jsonutil.loads(row[14])])
            yield StoredOrder(*row[:8]), fragment

    def forget_fragments(self) -> None:
        """Drop every cached fragment, so the next build maps, renders and checks all orders."""
        with self.transaction():
            self.db.execute("DELETE FROM fragments")

    def count_fragments(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM fragments").fetchone()[0]

    def order_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT order_id FROM orders ORDER BY order_id")]

    def raw_snapshot(self) -> dict[str, tuple[str | None, str | None, int | None]]:
        """{order_id: (raw_json, tracking_json, status)} for comparing two stores in tests."""
        return {r[0]: (r[1], r[2], r[3]) for r in
                self.db.execute("SELECT order_id, raw_json, tracking_json, status FROM orders")}

    def count_orders(self, since_ts: int | None = None) -> int:
        if since_ts is None:
            return self.db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM orders WHERE order_ts >= ?", (since_ts,)).fetchone()[0]

    # -- build outcome --------------------------------------------------------
    def save_build_outcome(self, *, fragments: Iterable[tuple[str, CachedFragment]],
                           columns: Iterable[tuple[str, SearchColumns]],
                           quarantined: dict[str, tuple[str, str]], findings: dict[str, list[tuple[str, str, str]]],
                           since_ts: int) -> None:
        """Everything a build learnt, in one transaction.

        The fragments of the orders rendered now with their search columns, the
        quarantine and the findings; fragments of orders that left the window or
        were not published are forgotten. So a build killed at any point leaves a
        cached fragment only beside the columns it was mapped to.
        """
        now = time.time()
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO fragments (order_id, source_key, xml, code, order_ref, date, packages,"
                " notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((order_id, f.source_key, f.xml, f.code, f.order_ref, f.date, jsonutil.dumps(list(f.packages)),
                  jsonutil.dumps([list(note) for note in f.notes])) for order_id, f in fragments))
            self.db.executemany("UPDATE orders SET code = ?, email = ?, customer = ?, country = ?, total = ?,"
                                " total_cents = ?, payment = ?, is_cod = ?, package_numbers = ?"
                                " WHERE order_id = ?", ((*cols, order_id) for order_id, cols in columns))
            self.db.execute("DELETE FROM quarantine")
            self.db.executemany("INSERT INTO quarantine (order_id, reason, raw, at) VALUES (?, ?, ?, ?)",
                                [(oid, reason, raw, now) for oid, (reason, raw) in quarantined.items()])
            self.db.execute("DELETE FROM findings")
            self.db.executemany("INSERT INTO findings (order_id, rule, severity, message) VALUES (?, ?, ?, ?)",
                                [(oid, rule, sev, msg) for oid, items in findings.items()
                                 for rule, sev, msg in items])
            self.db.execute("DELETE FROM fragments WHERE order_id IN"
                            " (SELECT order_id FROM orders WHERE order_ts < ?)", (since_ts,))
            self.db.executemany("DELETE FROM fragments WHERE order_id = ?", ((i,) for i in quarantined))

    def list_quarantine(self) -> list[Quarantined]:
        return [Quarantined(*r) for r in
                self.db.execute("SELECT order_id, reason, raw, at FROM quarantine ORDER BY at DESC, order_id")]

    def quarantine_reason(self, order_id: str) -> str | None:
        row = self.db.execute("SELECT reason FROM quarantine WHERE order_id = ?", (order_id,)).fetchone()
        return row[0] if row else None

    def list_findings(self, order_id: str) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self.db.execute(
            "SELECT rule, severity, message FROM findings WHERE order_id = ?", (order_id,))]

    def list_warnings(self) -> list[tuple[str, str, str | None, str]]:
        """Every order's warnings as (rule, order_id, CODE, message), grouped by rule, then by order."""
        return [tuple(r) for r in self.db.execute(
            "SELECT f.rule, f.order_id, o.code, f.message FROM findings f LEFT JOIN orders o USING (order_id)"
            " WHERE f.severity = 'warning' ORDER BY f.rule, o.order_ts, f.order_id")]

    def count_findings(self, severity: str = "warning") -> int:
        return self.db.execute("SELECT COUNT(*) FROM findings WHERE severity = ?", (severity,)).fetchone()[0]

    # -- dashboard queries ----------------------------------------------------
    def search_orders(self, *, since_ts: int, exclude_statuses=frozenset(), query: str = "",
                      status: int | None = None, cod: bool | None = None, has_package: bool | None = None,
                      sort: str = "date", descending: bool = True, page: int = 1,
                      per_page: int = 50) -> tuple[list[sqlite3.Row], int]:
        in_window, params = self._in_window(since_ts, exclude_statuses)
        clauses = [in_window, "code IS NOT NULL"]
        if query:
            like = f"%{query.strip()}%"
            clauses.append("(code = ? OR order_id = ? OR email LIKE ? OR customer LIKE ?)")
            params += [query.strip(), query.strip(), like, like]
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if cod is not None:
            clauses.append("is_cod = ?")
            params.append(1 if cod else 0)
        if has_package is not None:
            clauses.append("package_numbers <> ''" if has_package
                           else "(package_numbers = '' OR package_numbers IS NULL)")
        where = " AND ".join(clauses)
        total = self.db.execute(f"SELECT COUNT(*) FROM orders WHERE {where}", params).fetchone()[0]
        column = SORTS.get(sort, "order_ts")
        direction = "DESC" if descending else "ASC"
        rows = self.db.execute(
            f"SELECT order_id, code, order_ts, customer, email, country, total, payment, is_cod, status,"
            f" package_numbers FROM orders WHERE {where} ORDER BY {column} {direction}, order_id"
            f" LIMIT ? OFFSET ?", [*params, per_page, max(page - 1, 0) * per_page]).fetchall()
        return rows, total

    def orders_per_day(self, since_ts: int, utc_offset_seconds: int = 0,
                       exclude_statuses=frozenset()) -> dict[int, int]:
        in_window, params = self._in_window(since_ts, exclude_statuses)
        rows = self.db.execute(
            f"SELECT (order_ts + ?) / 86400 AS day, COUNT(*) FROM orders WHERE {in_window} GROUP BY day",
            (utc_offset_seconds, *params))
        return {int(day): count for day, count in rows}

    # -- bookmarks and reference data --------------------------------------
    def get_bookmark(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM bookmarks WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_bookmark(self, name: str, value: str) -> None:
        self.db.execute("INSERT INTO bookmarks (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name)"
                        " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        (name, value, time.time()))

    def get_reference(self, name: str, *, max_age: float | None = None) -> Any:
        row = self.db.execute("SELECT json, fetched_at FROM reference WHERE name = ?", (name,)).fetchone()
        if row is None or (max_age is not None and time.time() - row[1] > max_age):
            return None
        return jsonutil.loads(row[0])

    def set_reference(self, name: str, value: Any) -> None:
        self.db.execute("INSERT INTO reference (name, json, fetched_at) VALUES (?, ?, ?) ON CONFLICT(name)"
                        " DO UPDATE SET json = excluded.json, fetched_at = excluded.fetched_at",
                        (name, jsonutil.dumps(value), time.time()))

    # -- sync runs ------------------------------------------------------------
    def start_sync_run(self, kind: str) -> int:
        cursor = self.db.execute("INSERT INTO sync_runs (started_at, kind, status) VALUES (?, ?, 'running')",
                                 (time.time(), kind))
        assert cursor.lastrowid is not None  # set by every INSERT
        return cursor.lastrowid

    def update_sync_run(self, run_id: int, **fields) -> None:
        allowed = {"kind", "status", "requests", "responses_429", "orders_new", "orders_changed",
                   "orders_unchanged", "progress", "error", "ended_at"}
        names = [name for name in fields if name in allowed]
        if names:
            self.db.execute(f"UPDATE sync_runs SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
                            [fields[n] for n in names] + [run_id])

    def finish_sync_run(self, run_id: int, *, status: str, **fields) -> None:
        self.update_sync_run(run_id, status=status, ended_at=time.time(), **fields)

    def list_sync_runs(self, limit: int = 50) -> list[SyncRun]:
        return [SyncRun(*r) for r in self.db.execute(
            "SELECT id, started_at, ended_at, kind, status, requests, responses_429, orders_new,"
            " orders_changed, orders_unchanged, progress, error FROM sync_runs ORDER BY id DESC LIMIT ?",
            (limit,))]

    def last_sync_run(self) -> SyncRun | None:
        runs = self.list_sync_runs(1)
        return runs[0] if runs else None

    def last_successful_sync(self) -> SyncRun | None:
        row = self.db.execute(
            "SELECT id, started_at, ended_at, kind, status, requests, responses_429, orders_new,"
            " orders_changed, orders_unchanged, progress, error FROM sync_runs WHERE status = 'ok'"
            " ORDER BY id DESC LIMIT 1").fetchone()
        return SyncRun(*row) if row else None

    # -- pending orders (listed, not complete yet) ----------------------------
    @staticmethod
    def _pending(table: str = "") -> str:
        """THE condition for "this order waits for Storeden": no details yet, or shipped and its tracking
        not read at this status yet. The build leaves such an order out (never half-mapped); it is not
        quarantined, and the next request for it brings it in."""
        c = f"{table}." if table else ""
        shipped = ",".join(str(s) for s in sorted(SHIPPED_STATUSES))
        return (f"({c}raw_json IS NULL OR ({c}status IN ({shipped}) AND {c}tracking_status IS NOT {c}status))")

    def pending_order_ids(self, since_ts: int, exclude_statuses=frozenset()) -> set[str]:
        in_window, params = self._in_window(since_ts, exclude_statuses)
        return {row[0] for row in self.db.execute(
            f"SELECT order_id FROM orders WHERE {in_window} AND {self._pending()}", params)}

    def count_window_pending(self, since_ts: int, exclude_statuses=frozenset()) -> tuple[int, int]:
        """(orders of the window the store knows, how many of them are pending)."""
        in_window, params = self._in_window(since_ts, exclude_statuses)
        listed, pending = self.db.execute(
            f"SELECT COUNT(*), COALESCE(SUM({self._pending()}), 0) FROM orders WHERE {in_window}", params).fetchone()
        return int(listed), int(pending)

    def sync_totals(self) -> tuple[int, int]:
        """(requests sent to Storeden, 429 answers) over every sync run kept."""
        requests, throttled = self.db.execute(
            "SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(responses_429), 0) FROM sync_runs").fetchone()
        return int(requests), int(throttled)

    def count_quarantine(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]

    # -- publish state --------------------------------------------------------
    def record_publish_error(self, message: str) -> None:
        self.db.execute("INSERT INTO publish_state (id, error, at) VALUES (1, ?, ?) ON CONFLICT(id)"
                        " DO UPDATE SET error = excluded.error, at = excluded.at", (message, time.time()))

    def clear_publish_error(self) -> None:
        self.db.execute("DELETE FROM publish_state")

    def last_publish_error(self) -> str | None:
        row = self.db.execute("SELECT error FROM publish_state WHERE id = 1").fetchone()
        return row[0] if row else None

    # -- push mode: observed statuses, each order's state in Retino, push runs ---------------------
    def observe_status(self, order_id: str, status: int | None, at: float, source: str) -> bool:
        """Append a status sync saw, unless it is the order's latest already; dates never go backwards.

        `source` says where `at` comes from: `event` (an orders_filter event's
        date), `sync` (the sync's time), `order_date` (first sight in a list).
        """
        if status is None:
            return False
        last = self.db.execute("SELECT status, seen_at FROM status_history WHERE order_id = ?"
                               " ORDER BY id DESC LIMIT 1", (order_id,)).fetchone()
        if last is not None and last[0] == status:
            return False
        if last is not None:
            at = max(at, last[1])
        self.db.execute("INSERT INTO status_history (order_id, status, seen_at, source) VALUES (?, ?, ?, ?)",
                        (order_id, status, at, source))
        return True

    def status_history(self, order_id: str) -> list[ObservedStatus]:
        return [ObservedStatus(*r) for r in self.db.execute(
            "SELECT status, seen_at, source FROM status_history WHERE order_id = ? ORDER BY id", (order_id,))]

    def window_status_histories(self, since_ts: int) -> dict[str, list[ObservedStatus]]:
        """Every window order's observed statuses, oldest first, in one query."""
        found: dict[str, list[ObservedStatus]] = {}
        for order_id, status, seen_at, source in self.db.execute(
                "SELECT h.order_id, h.status, h.seen_at, h.source FROM status_history h"
                " JOIN orders o ON o.order_id = h.order_id WHERE o.order_ts >= ? ORDER BY h.order_id, h.id",
                (since_ts,)):
            found.setdefault(order_id, []).append(ObservedStatus(status, seen_at, source))
        return found

    def push_candidates(self, since_ts: int, exclude_statuses=frozenset()) -> list[PushCandidate]:
        """The window's published orders (with a fragment, not quarantined) and their push state, oldest first.

        Light rows (no texts): the push loads an order's texts only when it must map it again.
        """
        where, params = self._in_window(since_ts, exclude_statuses, "o")
        rows = self.db.execute(
            "SELECT o.order_id, o.status, o.order_ts, f.source_key, f.code, f.packages, p.state, p.retino_id,"
            " p.push_key, p.payload_hash, p.error_hash, p.error_at, p.shipments, p.first_confirmed_at,"
            " p.retino_code, p.unanswered FROM orders o JOIN fragments f ON f.order_id = o.order_id"
            " LEFT JOIN push_state p ON p.order_id = o.order_id"
            f" WHERE {where} AND o.order_id NOT IN (SELECT order_id FROM quarantine)"
            " ORDER BY o.order_ts, o.order_id", params).fetchall()
        return [PushCandidate(r[0], r[1], r[2], r[3], r[4], tuple(jsonutil.loads(r[5])), r[6], r[7], r[8], r[9],
                              r[10], r[11], tuple(jsonutil.loads(r[12])) if r[12] else (), r[13], r[14],
                              bool(r[15]))
                for r in rows]

    def record_push_confirmed(self, confirmed: Iterable[tuple], now: float) -> None:
        """(order_id, code, retino_id or None, push_key, source_key, payload_hash) that Retino confirmed."""
        with self.transaction():
            self.db.executemany(
                "INSERT INTO push_state (order_id, state, retino_code, retino_id, push_key, source_key, payload_hash,"
                " confirmed_at, first_confirmed_at) VALUES (?, 'confirmed', ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(order_id) DO UPDATE SET state = 'confirmed', retino_code = excluded.retino_code,"
                " retino_id = COALESCE(excluded.retino_id, retino_id), push_key = excluded.push_key,"
                " source_key = excluded.source_key, payload_hash = excluded.payload_hash,"
                " confirmed_at = excluded.confirmed_at,"
                " first_confirmed_at = COALESCE(first_confirmed_at, excluded.first_confirmed_at),"
                " error = NULL, error_at = NULL, error_hash = NULL, left_status = NULL, left_at = NULL, unanswered = 0",
                [(*row, now, now) for row in confirmed])

    def record_push_rejected(self, rejected: Iterable[tuple], now: float) -> None:
        """(order_id, code, push_key, payload_hash, Retino's message) that Retino refused."""
        with self.transaction():
            self.db.executemany(
                "INSERT INTO push_state (order_id, state, retino_code, push_key, error_hash, error, error_at)"
                " VALUES (?, 'rejected', ?, ?, ?, ?, ?) ON CONFLICT(order_id) DO UPDATE SET state = 'rejected',"
                " push_key = excluded.push_key, error_hash = excluded.error_hash, error = excluded.error,"
                " error_at = excluded.error_at, unanswered = 0", [(*row, now) for row in rejected])

    def record_push_unanswered(self, order_ids: Iterable[str]) -> None:
        """Sent, and Retino's answer said nothing of them: sent again, alone, next time (a known state is kept)."""
        self.db.executemany("INSERT INTO push_state (order_id, state, unanswered) VALUES (?, 'unconfirmed', 1)"
                            " ON CONFLICT(order_id) DO UPDATE SET unanswered = 1",
                            [(order_id,) for order_id in order_ids])

    def refresh_push_keys(self, rows: Iterable[tuple]) -> None:
        """(push_key, source_key, order_id) of confirmed orders whose JSON came out unchanged from new inputs."""
        self.db.executemany("UPDATE push_state SET push_key = ?, source_key = ? WHERE order_id = ?"
                            " AND state = 'confirmed'", list(rows))

    def record_shipments(self, order_id: str, numbers: Iterable[str], error: str | None = None) -> None:
        """Package numbers sent to Retino as shipments (added to those sent before), or the last error."""
        row = self.db.execute("SELECT shipments FROM push_state WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            return
        sent = list(dict.fromkeys([*jsonutil.loads(row[0] or "[]"), *numbers]))
        self.db.execute("UPDATE push_state SET shipments = ?, shipment_error = ? WHERE order_id = ?",
                        (jsonutil.dumps(sent), error, order_id))

    def orders_leaving_retino(self, statuses) -> list[sqlite3.Row]:
        """Orders once confirmed in Retino whose status is now one that is not pushed (not yet reported)."""
        wanted = sorted(int(s) for s in statuses)
        if not wanted:
            return []
        return self.db.execute(
            "SELECT p.order_id, p.retino_code, p.retino_id, o.status FROM push_state p JOIN orders o USING (order_id)"
            f" WHERE p.first_confirmed_at IS NOT NULL AND o.status IN ({','.join('?' * len(wanted))})"
            " AND (p.left_status IS NULL OR p.left_status <> o.status)", wanted).fetchall()

    def mark_left_retino(self, order_id: str, status: int, now: float) -> None:
        self.db.execute("UPDATE push_state SET left_status = ?, left_at = ? WHERE order_id = ?",
                        (status, now, order_id))

    def orders_left_retino(self, limit: int = 100) -> list[sqlite3.Row]:
        """Orders in Retino that Storeden archived or aborted since: reported, never deleted."""
        return self.db.execute(
            "SELECT order_id, retino_code, retino_id, left_status, left_at FROM push_state"
            " WHERE left_status IS NOT NULL ORDER BY left_at DESC LIMIT ?", (limit,)).fetchall()

    def rejected_orders(self, since_ts: int, limit: int = 100) -> list[sqlite3.Row]:
        """The window's orders whose latest JSON Retino refused, newest refusal first, with its message."""
        return self.db.execute(
            "SELECT p.order_id, COALESCE(p.retino_code, o.code) AS code, p.error, p.error_at,"
            " p.first_confirmed_at FROM push_state p JOIN orders o USING (order_id)"
            " WHERE p.state = 'rejected' AND o.order_ts >= ? ORDER BY p.error_at DESC LIMIT ?",
            (since_ts, limit)).fetchall()

    def push_state_of(self, order_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT p.*, f.source_key AS published_key FROM push_state p"
            " LEFT JOIN fragments f USING (order_id) WHERE p.order_id = ?", (order_id,)).fetchone()

    def push_badges(self, order_ids: Iterable[str]) -> dict[str, tuple[str, str | None, float | None]]:
        """{order_id: (confirmed | pending | rejected, Retino's message, in Retino since)} for a page of orders."""
        ids = list(order_ids)
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT o.order_id, p.state, p.source_key, f.source_key, p.error, p.first_confirmed_at FROM orders o"
            " LEFT JOIN push_state p USING (order_id) LEFT JOIN fragments f USING (order_id)"
            f" WHERE o.order_id IN ({','.join('?' * len(ids))})", ids)
        badges = {}
        for order_id, state, pushed_key, published_key, error, since in rows:
            if state == "rejected":
                badges[order_id] = ("rejected", error, since)
            elif state == "confirmed" and pushed_key == published_key:
                badges[order_id] = ("confirmed", None, since)
            else:
                badges[order_id] = ("pending", None, since)
        return badges

    def push_counts(self, since_ts: int, exclude_statuses=frozenset(), not_pushed=frozenset()) -> PushCounts:
        """For the dashboard, `feedsvc status` and /metrics: the window's published orders by push state
        (confirmed: Retino has the published version; rejected: its latest was refused; pending: the rest),
        and the last push run's figures."""
        where, params = self._in_window(since_ts, exclude_statuses, "o")
        skipped = sorted(int(s) for s in not_pushed)
        if skipped:
            where += f" AND (o.status IS NULL OR o.status NOT IN ({','.join('?' * len(skipped))}))"
            params = [*params, *skipped]
        row = self.db.execute(
            "SELECT COUNT(*), SUM(p.state = 'confirmed' AND p.source_key = f.source_key),"
            " SUM(p.state = 'rejected') FROM orders o JOIN fragments f ON f.order_id = o.order_id"
            f" LEFT JOIN push_state p ON p.order_id = o.order_id WHERE {where}"
            " AND o.order_id NOT IN (SELECT order_id FROM quarantine)", params).fetchone()
        total, confirmed, rejected = row[0], row[1] or 0, row[2] or 0
        left = self.db.execute("SELECT COUNT(*) FROM push_state WHERE left_status IS NOT NULL").fetchone()[0]
        return PushCounts(confirmed=confirmed, pending=total - confirmed - rejected, rejected=rejected,
                          left_retino=left, last_run=self.last_push_run())

    def forget_push_state(self) -> None:
        """Forget what Retino was sent (a new Retino account or store: the next push sends everything)."""
        with self.transaction():
            self.db.execute("DELETE FROM push_state")

    def start_push_run(self) -> int:
        cursor = self.db.execute("INSERT INTO push_runs (started_at, status) VALUES (?, 'running')", (time.time(),))
        assert cursor.lastrowid is not None  # set by every INSERT
        return cursor.lastrowid

    def finish_push_run(self, run_id: int, *, status: str, **figures) -> None:
        allowed = ("sent", "confirmed", "rejected", "unconfirmed", "shipments", "calls", "requests",
                   "responses_429", "responses_5xx", "error")
        names = [name for name in allowed if name in figures]
        self.db.execute(f"UPDATE push_runs SET status = ?, ended_at = ?{''.join(f', {n} = ?' for n in names)}"
                        " WHERE id = ?", [status, time.time(), *(figures[n] for n in names), run_id])

    def list_push_runs(self, limit: int = 50) -> list[PushRun]:
        return [PushRun(*r) for r in self.db.execute(
            "SELECT id, started_at, ended_at, status, sent, confirmed, rejected, unconfirmed, shipments, calls,"
            " requests, responses_429, responses_5xx, error FROM push_runs ORDER BY id DESC LIMIT ?", (limit,))]

    def last_push_run(self) -> PushRun | None:
        runs = self.list_push_runs(1)
        return runs[0] if runs else None

    def last_push_run_in(self, statuses: Iterable[str]) -> PushRun | None:
        """The latest push run that ended with one of these statuses."""
        wanted = list(statuses)
        row = self.db.execute(
            "SELECT id, started_at, ended_at, status, sent, confirmed, rejected, unconfirmed, shipments, calls,"
            " requests, responses_429, responses_5xx, error FROM push_runs"
            f" WHERE status IN ({','.join('?' * len(wanted))}) ORDER BY id DESC LIMIT 1", wanted).fetchone()
        return PushRun(*row) if row else None

    def push_totals(self) -> dict[str, int]:
        """Each push run figure summed over every run (push_runs is never pruned): what /metrics counts."""
        names = ("sent", "confirmed", "rejected", "unconfirmed", "shipments", "calls", "requests", "responses_429",
                 "responses_5xx")
        row = self.db.execute(f"SELECT {', '.join(f'COALESCE(SUM({n}), 0)' for n in names)} FROM push_runs").fetchone()
        return {name: int(value) for name, value in zip(names, row)}

