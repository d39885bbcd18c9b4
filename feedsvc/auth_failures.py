"""Failed credential checks, counted per key in fixed windows, shared by every web worker process.

The web's failure limiter (web/auth.py) keeps its counts here: a SQLite file
of its own (`auth.sqlite3` in the data dir), apart from the store (store.py),
so a long sync transaction in the main database never makes a feed request
wait. With store.py, the only SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

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
