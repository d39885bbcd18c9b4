"""The SQLite store: raw Storeden orders, sync bookmarks and runs, quarantine, findings. The only SQL.

WAL mode lets the web workers read while the sync writes. Every write commits
at once, so an order fetched is an order kept, whatever happens next. The raw
JSON is the exact text Storeden sent, so a mapping change re-renders without
refetching; a published order's rendered fragment is kept beside it so an
unchanged order is not mapped, rendered and checked again. The schema carries
its version in `PRAGMA user_version`; MIGRATIONS are applied in order, each in
its own transaction. The file holds customers' personal data: it is created
0600 (SQLite gives its -wal and -shm files the same mode), and a looser one
from an older version is tightened when opened.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from feedsvc import jsonutil
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


@dataclass
class CachedFragment:
    """A published order's <ORDER> bytes and what the build needs to know about it without parsing them."""

    source_key: str
    xml: bytes
    code: str
    order_ref: str
    date: str
    packages: tuple[str, ...]
    notes: list[tuple[str, str, str]]  # (rule, severity, message): mapping warnings and its own findings


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
    def open(cls, settings) -> "Store":
        return cls(settings.database_path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
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
    @staticmethod
    def mapped_row(order_id: str, order) -> tuple:
        """The searchable columns of a published order, small enough to keep for a 100k-order build."""
        return (order.code, order.email, order.billing.name, order.shipping.country, str(order.total.with_vat),
                int(order.total.with_vat * 100), next((i.code for i in order.items if i.type == "billing"), ""),
                1 if order.is_cod else 0, " ".join(order.package_numbers), order_id)

    def save_build_outcome(self, *, fragments: Iterable[tuple[str, CachedFragment]], mapped_rows,
                           quarantined: dict[str, tuple[str, str]], findings: dict[str, list[tuple[str, str, str]]],
                           since_ts: int) -> None:
        """Everything a build learnt, in one transaction.

        The fragments of the orders rendered now with their mapped columns, the
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
                                " WHERE order_id = ?", mapped_rows)
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
            clauses.append("package_numbers <> ''" if has_package else "(package_numbers = '' OR package_numbers IS NULL)")
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


# -- failed credential checks (their own file) ----------------------------------

AUTH_FAILURES_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_failures (
    key TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    failures INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_failures_by_start ON auth_failures(window_start)
"""


class AuthFailures:
    """Failed credential checks counted per key in fixed windows, shared by every web worker process.

    It is a separate SQLite file (`auth.sqlite3` in the data dir), so a long
    sync transaction in the main database never makes a feed request wait,
    and it stays small: rows whose window has ended are deleted as new
    failures come in, and beyond `capacity` rows the oldest go first.
    """

    PRUNE_EVERY = 256

    def __init__(self, path: Path | str, *, capacity: int = 100_000):
        self.path = Path(path)
        self.capacity = capacity
        self._writes = 0
        self.db = sqlite3.connect(str(self.path), timeout=2, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        for statement in AUTH_FAILURES_SCHEMA.split(";"):
            self.db.execute(statement)

    def close(self) -> None:
        self.db.close()

    def counts(self, keys: Iterable[str], *, now: float, window: float) -> dict[str, tuple[int, float]]:
        """{key: (failures, window_start)} for the keys whose window is still open."""
        keys = list(keys)
        rows = self.db.execute(
            f"SELECT key, failures, window_start FROM auth_failures WHERE key IN ({','.join('?' * len(keys))})"
            " AND window_start > ?", [*keys, now - window])
        return {key: (failures, start) for key, failures, start in rows}

    def add(self, keys: Iterable[str], *, now: float, window: float) -> None:
        """One more failure for each key; a key whose window has ended starts a new one at `now`."""
        expired = now - window
        self.db.executemany(
            "INSERT INTO auth_failures (key, window_start, failures) VALUES (?, ?, 1) ON CONFLICT(key) DO UPDATE"
            " SET failures = CASE WHEN window_start <= ? THEN 1 ELSE failures + 1 END,"
            " window_start = CASE WHEN window_start <= ? THEN excluded.window_start ELSE window_start END",
            [(key, now, expired, expired) for key in keys])
        self._writes += 1
        if self._writes % self.PRUNE_EVERY == 1:
            self.prune(now=now, window=window)

    def prune(self, *, now: float, window: float) -> None:
        self.db.execute("DELETE FROM auth_failures WHERE window_start <= ?", (now - window,))
        self.db.execute("DELETE FROM auth_failures WHERE key IN (SELECT key FROM auth_failures"
                        " ORDER BY window_start DESC LIMIT -1 OFFSET ?)", (self.capacity,))

    def size(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM auth_failures").fetchone()[0]
