"""Console sessions in one SQLite file (``DATA/sessions.db``): the embedded implementation
of :class:`sathub.access.sessions.SessionStore`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sathub.access.sessions import Session
from sathub.sqlitedb import ThreadConnections


class SQLiteSessionStore:
    """Sessions in one SQLite file (WAL), one connection per thread."""

    SCHEMA = ("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, key_id INTEGER NOT NULL, "
              "csrf TEXT NOT NULL, created REAL NOT NULL, last_seen REAL NOT NULL, "
              "expires REAL NOT NULL)")  # fmt: skip

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conns = ThreadConnections(self.path, timeout=30.0)
        self.conn().execute(self.SCHEMA)
        self.conn().execute("CREATE INDEX IF NOT EXISTS sessions_key ON sessions (key_id)")

    def conn(self) -> sqlite3.Connection:
        return self._conns.get()

    def add(self, session: Session) -> None:
        s = session
        self.conn().execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                            (s.id, s.key_id, s.csrf, s.created, s.last_seen, s.expires))  # fmt: skip

    def get(self, session_id: str) -> Session | None:
        row = self.conn().execute("SELECT id, key_id, csrf, created, last_seen, expires FROM sessions "
                                  "WHERE id = ?", (session_id,)).fetchone()  # fmt: skip
        return None if row is None else Session(*row)

    def touch(self, session_id: str, now: float) -> None:
        self.conn().execute("UPDATE sessions SET last_seen = max(last_seen, ?) WHERE id = ?",
                            (now, session_id))  # fmt: skip

    def delete(self, session_id: str) -> None:
        self.conn().execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def delete_for_key(self, key_id: int) -> int:
        return self.conn().execute("DELETE FROM sessions WHERE key_id = ?", (key_id,)).rowcount

    def purge(self, idle_before: float, now: float) -> int:
        return self.conn().execute("DELETE FROM sessions WHERE last_seen < ? OR expires < ?",
                                   (idle_before, now)).rowcount  # fmt: skip

    def close(self) -> None:
        self._conns.close()


__all__ = ["SQLiteSessionStore"]
