"""The delivery log: every feed request (who fetched the feed, when, with what answer), in its own SQLite file.

The web workers write one row per feed request to `delivery.sqlite3` in the
data dir: time, route kind, status, bytes sent, duration, user agent and
client address. It is a file of its own, like `auth.sqlite3`, so a long sync
transaction in the main database never makes a feed request wait. It stays
small whatever clients do:

- repeated failures (status 400 and above) from one client (an IPv6 client
  counts per /64) on one route with one status, within FOLD_SECONDS, are one
  row with a count (a row spans a day at most), so a scanner trying tokens
  adds a row or two a day, not one per guess;
- rows older than KEEP_SECONDS (30 days) go, and beyond MAX_ROWS (10,000)
  the oldest go first;
- the totals per status (what `/metrics` counts) and the last successful
  download are kept apart from the rows, so pruning never loses them.

A feed request only queues its row: each process writes its queue every
FLUSH_SECONDS in one transaction (a background thread, a greenlet under
gunicorn's gevent worker), and at exit; so the log costs a request next to
nothing, and what a killed process had not written yet (half a second) is
lost. Nothing secret is stored: the route is a kind (`token`, `basic`, with
`-gz` for the `.xml.gz` URLs), never the path, and the user agent passes
through the log redactor. Any trouble with the file is logged and ignored:
the log must never cost Retino its feed.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from feedsvc.addresses import client_group
from feedsvc.durations import format_age

log = logging.getLogger("feedsvc.delivery")

FLUSH_SECONDS = 0.5  # queued requests are written at most this late
KEEP_SECONDS = 30 * 86400
MAX_ROWS = 10_000
FOLD_SECONDS = 3600
PRUNE_EVERY = 256  # the age-based prune runs every this many new rows
USER_AGENT_CHARS = 300
ROUTES = ("basic", "basic-gz", "token", "token-gz")
SUCCESS = (200, 304)
STATUS_TEXT = {200: "200 OK", 304: "304 not modified", 401: "401 wrong or missing password",
               404: "404 wrong token or not found", 429: "429 too many failed attempts",
               503: "503 no feed published yet", 500: "500 server error"}
ROUTE_TEXT = {"basic": "/feed.xml (Basic auth)", "basic-gz": "/feed.xml.gz (Basic auth)",
              "token": "secret URL", "token-gz": "secret URL (.gz)"}
_RETINO = re.compile(r"retino", re.IGNORECASE)

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_at REAL NOT NULL,
    at REAL NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    duration REAL NOT NULL,
    user_agent TEXT NOT NULL,
    client TEXT NOT NULL,
    fold_key TEXT,
    count INTEGER NOT NULL DEFAULT 1,
    method TEXT NOT NULL DEFAULT 'GET'
);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries(at);
CREATE INDEX IF NOT EXISTS deliveries_by_fold ON deliveries(fold_key, at);
CREATE TABLE IF NOT EXISTS delivery_totals (status INTEGER PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS delivery_last_success (
    id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL,
    bytes INTEGER NOT NULL, duration REAL NOT NULL, user_agent TEXT NOT NULL, client TEXT NOT NULL
)
"""
_COLUMNS = "id, first_at, at, route, status, bytes, duration, user_agent, client, count, method"


@dataclass(frozen=True)
class Delivery:
    """One row of the log: a request, or `count` failures folded together (`first_at` to `at`)."""

    id: int
    first_at: float
    at: float
    route: str
    status: int
    bytes: int
    duration: float
    user_agent: str
    client: str
    count: int = 1
    method: str = "GET"

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESS

    @property
    def status_text(self) -> str:
        return status_text(self.status)

    @property
    def route_text(self) -> str:
        text = ROUTE_TEXT.get(self.route, self.route)
        return f"{text}, HEAD" if self.method == "HEAD" else text

    @property
    def agent_name(self) -> str:
        return agent_name(self.user_agent)


def status_text(status: int) -> str:
    """`304 not modified`, `401 wrong or missing password`: a status as the dashboard says it."""
    return STATUS_TEXT.get(status, str(status))


def agent_name(user_agent: str) -> str:
    """Who fetched: "Retino" when its user agent names it, else the agent string (shortened)."""
    products = [word.split("/")[0] for word in user_agent.split() if "/" in word] or user_agent.split()[:1]
    if any(_RETINO.search(product) for product in products):
        return "Retino"
    if not user_agent.strip():
        return "a client without a user agent"
    return user_agent if len(user_agent) <= 80 else user_agent[:79] + "…"


def _private_file(path: Path) -> None:
    """Create the file 0600 before SQLite creates it 0644: client addresses are personal data."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError:
        pass  # SQLite will say what is wrong


class DeliveryLog:
    """The log's file; one connection per process (a forked gunicorn worker opens its own)."""

    def __init__(self, path: Path | str, *, max_rows: int = MAX_ROWS, keep_seconds: float = KEEP_SECONDS,
                 fold_seconds: float = FOLD_SECONDS, flush_seconds: float = FLUSH_SECONDS, clock=time.time):
        self.path = Path(path)
        self.max_rows, self.keep_seconds, self.fold_seconds = max_rows, keep_seconds, fold_seconds
        self.flush_seconds = flush_seconds
        self.clock = clock
        self._lock = threading.Lock()  # the connection
        self._db: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._queue_lock = threading.Lock()  # the requests waiting to be written
        self._queue: list[tuple] = []
        self._flusher_pid: int | None = None
        self._closed = False

    # -- the connection ---------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():
            _private_file(self.path)
            db = sqlite3.connect(str(self.path), timeout=2, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # every request writes: keep the write-ahead log short and cut it back after each checkpoint
            db.execute("PRAGMA wal_autocheckpoint=256")
            db.execute("PRAGMA journal_size_limit=1048576")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            self._db, self._pid = db, os.getpid()
        return self._db

    def close(self) -> None:
        self.flush()
        self._closed = True
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def __enter__(self) -> DeliveryLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------
    def record(self, *, route: str, status: int, sent: int, duration: float, user_agent: str, client: str,
               method: str = "GET", at: float | None = None) -> None:
        """Keep one feed request. Never raises: a log that cannot be written is reported and skipped.

        The request is queued and written with the others of the last FLUSH_SECONDS in one
        transaction by this process's flusher thread, so a feed request costs an append, not a
        commit. A GET answered 200 or 304 is a download: it becomes the last successful one (a HEAD
        does not).
        """
        try:
            at = self.clock() if at is None else at
            fold_key = f"{route} {status} {client_group(client)}" if status >= 400 else None
            item = (at, route, int(status), int(sent), float(duration), (user_agent or "")[:USER_AGENT_CHARS],
                    client, fold_key, "HEAD" if method == "HEAD" else "GET")
            with self._queue_lock:  # nothing in here may yield to another greenlet
                self._queue.append(item)
                start = self._flusher_pid != os.getpid()  # a forked worker starts its own
                self._flusher_pid = os.getpid()
            if start:
                self._start_flusher()
        except Exception as exc:
            log.warning("delivery log unavailable (%s); a feed request was not recorded", type(exc).__name__)

    def _start_flusher(self) -> None:
        self._wake = threading.Event()
        threading.Thread(target=self._flush_forever, name="feedsvc-delivery-log", daemon=True).start()
        atexit.register(self.flush)

    def _flush_forever(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self.flush()

    def flush(self) -> None:
        """Write the queued requests now, in one transaction. Never raises."""
        with self._queue_lock:
            items, self._queue = self._queue, []
        if not items:
            return
        try:
            with self._lock:
                self._write(items)
        except Exception as exc:  # sqlite3 or OS trouble: the feed was served, that is what counts
            log.warning("delivery log unavailable (%s); %d feed requests were not recorded",
                        type(exc).__name__, len(items))

    def _write(self, items: list[tuple]) -> None:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            new_id, last_download = None, None
            totals: dict[int, int] = {}
            for at, route, status, sent, duration, user_agent, client, fold_key, method in items:
                folded = None
                if fold_key is not None:
                    # a row spans at most a day, so the chart per day stays roughly right for a long storm
                    folded = db.execute("SELECT id FROM deliveries WHERE fold_key = ? AND at > ? AND first_at > ?"
                                        " ORDER BY at DESC LIMIT 1",
                                        (fold_key, at - self.fold_seconds, at - 86400)).fetchone()
                if folded is not None:
                    db.execute("UPDATE deliveries SET at = ?, count = count + 1, bytes = bytes + ?, duration = ?,"
                               " user_agent = ?, client = ? WHERE id = ?",
                               (at, sent, duration, user_agent, client, folded[0]))
                else:
                    new_id = db.execute(
                        "INSERT INTO deliveries (first_at, at, route, status, bytes, duration, user_agent, client,"
                        " fold_key, method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (at, at, route, status, sent, duration, user_agent, client, fold_key, method)).lastrowid
                totals[status] = totals.get(status, 0) + 1
                if status in SUCCESS and method == "GET" and (last_download is None or at >= last_download[0]):
                    last_download = (at, route, status, sent, duration, user_agent, client)
            if new_id is not None:
                db.execute("DELETE FROM deliveries WHERE id <= ?", (new_id - self.max_rows,))
                if new_id // PRUNE_EVERY != (new_id - len(items)) // PRUNE_EVERY:
                    db.execute("DELETE FROM deliveries WHERE at < ?", (items[-1][0] - self.keep_seconds,))
            db.executemany("INSERT INTO delivery_totals (status, count) VALUES (?, ?)"
                           " ON CONFLICT(status) DO UPDATE SET count = count + excluded.count", totals.items())
            if last_download is not None:
                db.execute("INSERT INTO delivery_last_success (id, at, route, status, bytes, duration, user_agent,"
                           " client) VALUES (1, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                           " at = excluded.at, route = excluded.route, status = excluded.status,"
                           " bytes = excluded.bytes, duration = excluded.duration,"
                           " user_agent = excluded.user_agent, client = excluded.client WHERE excluded.at >= at",
                           last_download)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def prune(self) -> None:
        """Drop rows past the age limit now (writes do it every PRUNE_EVERY new rows)."""
        self.flush()
        with self._lock:
            self._connection().execute("DELETE FROM deliveries WHERE at < ?", (self.clock() - self.keep_seconds,))

    # -- reading ------------------------------------------------------------------
    def _rows(self, sql: str, params=()) -> list:
        self.flush()  # this process's own queued requests first
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def last_success(self) -> Delivery | None:
        rows = self._rows("SELECT 0, at, at, route, status, bytes, duration, user_agent, client, 1"
                          " FROM delivery_last_success WHERE id = 1")
        return Delivery(*rows[0]) if rows else None

    def refused_since_last_success(self) -> Delivery | None:
        """The latest failed request of the client that last downloaded the feed (same user agent), after that
        download: Retino with a changed password, say. Before any download, the latest failure of anyone."""
        last = self.last_success()
        if last is None:
            rows = self._rows(f"SELECT {_COLUMNS} FROM deliveries WHERE status NOT IN (200, 304)"
                              " ORDER BY at DESC, id DESC LIMIT 1")
        else:
            rows = self._rows(f"SELECT {_COLUMNS} FROM deliveries WHERE status NOT IN (200, 304) AND at > ?"
                              " AND user_agent = ? ORDER BY at DESC, id DESC LIMIT 1", (last.at, last.user_agent))
        return Delivery(*rows[0]) if rows else None

    def page(self, *, page: int = 1, per_page: int = 50, failed: bool | None = None) -> tuple[list[Delivery], int]:
        """Rows newest first, and how many there are (with `failed`, only failures or only successes)."""
        where = ""
        params: list[object] = []
        if failed is not None:
            where = " WHERE status NOT IN (200, 304)" if failed else " WHERE status IN (200, 304)"
        total = self._rows(f"SELECT COUNT(*) FROM deliveries{where}", params)[0][0]
        rows = self._rows(f"SELECT {_COLUMNS} FROM deliveries{where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
                          [*params, per_page, max(page - 1, 0) * per_page])
        return [Delivery(*row) for row in rows], total

    def rows(self) -> int:
        return self._rows("SELECT COUNT(*) FROM deliveries")[0][0]

    def per_day(self, since: float, utc_offset_seconds: int = 0) -> dict[int, dict[int, int]]:
        """{day number (local): {status: requests}} since `since`; a folded row counts its `count`."""
        found: dict[int, dict[int, int]] = {}
        for day, status, count in self._rows(
                "SELECT CAST((at + ?) / 86400 AS INTEGER) AS day, status, SUM(count) FROM deliveries"
                " WHERE at >= ? GROUP BY day, status", (utc_offset_seconds, since)):
            found.setdefault(int(day), {})[int(status)] = int(count)
        return found

    def totals(self) -> dict[int, int]:
        """Feed requests ever answered, per status (never pruned: what `/metrics` counts)."""
        return {int(status): int(count) for status, count in
                self._rows("SELECT status, count FROM delivery_totals ORDER BY status")}


def open_log(settings) -> DeliveryLog:
    return DeliveryLog(settings.delivery_log_path)


def status_line(settings, now: float | None = None) -> str:
    """The last download as `feedsvc status` prints it, with a warning when it is overdue or never happened."""
    now = time.time() if now is None else now
    with DeliveryLog(settings.delivery_log_path) as deliveries:
        last, failed = deliveries.last_success(), deliveries.refused_since_last_success()
    refused = ""
    if failed is not None:
        refused = f"; since then refused: {failed.status_text} ({failed.agent_name}, " \
                  f"{format_age(now - failed.at)} ago)"
    if last is None:
        return ("last fetch:   never: nothing has downloaded the feed yet (register it in Retino; "
                "the dashboard's Delivery page lists every request)" + refused)
    age = now - last.at
    line = f"last fetch:   {last.agent_name}, {format_age(age)} ago, {last.status_text}"
    if age > settings.max_fetch_age:
        line += (f"; WARNING: over FEEDSVC_MAX_FETCH_AGE ({format_age(settings.max_fetch_age)}): check the URL and "
                 "password in Retino's settings and your firewall")
    return line + refused
