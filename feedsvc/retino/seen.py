"""Values seen earlier in a document, for the duplicate rules (D1, D2), in bounded memory.

A feed of 100,000 orders keeps its CODEs, ORDER_IDs and package numbers in
a dict; a hostile document of millions of tiny orders would make that dict
grow without end, so past `IN_MEMORY` values they move to a private
temporary SQLite database (on disk, deleted when closed) and the lookups
continue there.
"""

from __future__ import annotations

import sqlite3

IN_MEMORY = 100_000


class SeenValues:
    """Text values with a note (a line, an order CODE) kept from their first sighting."""

    def __init__(self, in_memory: int = IN_MEMORY):
        self.in_memory = in_memory
        self._values: dict[str, object] = {}
        self._db: sqlite3.Connection | None = None

    def earlier(self, value: str, note) -> tuple | None:
        """`(note,)` as kept at `value`'s first sighting; None when this is the first (`note` is kept)."""
        if self._db is None:
            if value in self._values:
                return (self._values[value],)
            self._values[value] = note
            if len(self._values) > self.in_memory:
                self._spill()
            return None
        row = self._db.execute("SELECT note FROM seen WHERE value = ?", (value,)).fetchone()
        if row is not None:
            return (row[0],)
        self._db.execute("INSERT INTO seen (value, note) VALUES (?, ?)", (value, note))
        return None

    def __len__(self) -> int:
        if self._db is None:
            return len(self._values)
        return self._db.execute("SELECT count(*) FROM seen").fetchone()[0]

    def _spill(self) -> None:
        # "" opens a temporary on-disk database that SQLite deletes when it is closed.
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (value TEXT PRIMARY KEY, note) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO seen (value, note) VALUES (?, ?)", self._values.items())
        self._values = {}

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._values = {}
