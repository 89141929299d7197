"""Console sessions on PostgreSQL (``sathub.access_sessions``, made by the access store's
migrations): the shared implementation of :class:`sathub.access.sessions.SessionStore` for
several API workers."""

from __future__ import annotations

from typing import Any

from sathub.access.pg_store import migrate, unavailable_as_503
from sathub.access.sessions import Session
from sathub.pg import Pool

_COLS = "id, key_id, csrf, created, last_seen, expires"


class PgSessionStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        migrate(pool)

    def _run(self, sql: str, params: tuple[Any, ...]) -> tuple[list[Any], int]:
        with unavailable_as_503("the console sessions"), self.pool.connection() as c:
            cur = c.execute(sql, params)  # type: ignore[arg-type]  # this module's fixed SQL
            return (cur.fetchall() if cur.description else []), cur.rowcount

    def add(self, session: Session) -> None:
        s = session
        self._run(f"INSERT INTO sathub.access_sessions ({_COLS}) VALUES (%s, %s, %s, %s, %s, %s)",
                  (s.id, s.key_id, s.csrf, s.created, s.last_seen, s.expires))  # fmt: skip

    def get(self, session_id: str) -> Session | None:
        rows, _ = self._run(f"SELECT {_COLS} FROM sathub.access_sessions WHERE id = %s", (session_id,))
        return Session(*rows[0]) if rows else None

    def touch(self, session_id: str, now: float) -> None:
        self._run("UPDATE sathub.access_sessions SET last_seen = greatest(last_seen, %s) WHERE id = %s",
                  (now, session_id))  # fmt: skip

    def delete(self, session_id: str) -> None:
        self._run("DELETE FROM sathub.access_sessions WHERE id = %s", (session_id,))

    def delete_for_key(self, key_id: int) -> int:
        return self._run("DELETE FROM sathub.access_sessions WHERE key_id = %s", (key_id,))[1]

    def purge(self, idle_before: float, now: float) -> int:
        return self._run("DELETE FROM sathub.access_sessions WHERE last_seen < %s OR expires < %s",
                         (idle_before, now))[1]  # fmt: skip

    def close(self) -> None:
        """The pool belongs to the installation, which closes it."""


__all__ = ["PgSessionStore"]
