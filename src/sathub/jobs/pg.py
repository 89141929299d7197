"""The :class:`~sathub.jobs.store.JobStore` in PostgreSQL (``SATHUB_PG_DSN``): tables
``sathub.jobs_records`` and ``sathub.jobs_results``, made idempotently on open.

A runner (one store object, one API worker or CLI process) is alive while it holds a session
advisory lock on a connection of its own, opened at its first write and kept until
:meth:`PgJobStore.close`; PostgreSQL drops the lock when that process dies, so
:meth:`is_live` is exact across machines. :meth:`transition` selects the row ``WHERE status =
expected FOR UPDATE``: the second of two concurrent claims waits for the first's commit, then
sees its status and matches nothing, so a job is claimed by exactly one runner. Documents are
``json`` (kept as written; ``jsonb`` refuses ``\u0000``, which a job's text may hold).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Json

from sathub.errors import BackendUnavailable
from sathub.jobs.records import clean_json
from sathub.jobs.store import _valid
from sathub.pg import Pool, unavailable_as_503

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS sathub;
CREATE TABLE IF NOT EXISTS sathub.jobs_records (
    lane text NOT NULL, id text NOT NULL, status text NOT NULL, created text NOT NULL DEFAULT '',
    runner bigint, doc json NOT NULL, PRIMARY KEY (lane, id));
CREATE INDEX IF NOT EXISTS jobs_records_created ON sathub.jobs_records (created DESC);
CREATE TABLE IF NOT EXISTS sathub.jobs_results (
    lane text NOT NULL, id text NOT NULL, doc json NOT NULL, PRIMARY KEY (lane, id));
"""

KEEP_S = 2.0  # how often a runner checks that the server still holds its liveness lock

_LOCK_HELD = """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid::text::bigint = %s AND objid::text::bigint = %s AND objsubid = 1)"""


@contextmanager
def connection(pool: Pool) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in one transaction; an unreachable server is a 503 naming it."""
    with unavailable_as_503("jobs"), pool.connection() as conn, conn.transaction():
        yield conn


def _dumps(doc: Any) -> str:
    return json.dumps(doc, default=str)


def _doc(record: dict[str, Any]) -> Json:
    """A document as ``json`` (kept as written: ``jsonb`` would refuse a ``\\u0000``)."""
    return Json(clean_json(record), dumps=_dumps)


class PgJobStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.runner = secrets.randbits(62) + 1
        self._held: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._keeper: threading.Thread | None = None
        self._stop = threading.Event()
        with connection(pool) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('sathub.schema'))")
            conn.execute(SCHEMA)

    def _alive(self) -> None:
        """Hold this runner's advisory lock on a connection of its own (until close); a keeper
        thread checks it every :data:`KEEP_S` seconds and takes it again on a new connection
        when the server lost it (a restart of PostgreSQL ends every session and its locks:
        without the keeper, the other workers reported this runner's jobs as stopped until it
        closed)."""
        with self._lock:
            if self._held is None or self._held.closed:
                self._held = self._take_lock()
                if self._keeper is None:
                    self._keeper = threading.Thread(target=self._keep, name="sathub-jobs-live", daemon=True)
                    self._keeper.start()

    def _take_lock(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(str(self.pool.conninfo), autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise BackendUnavailable(f"PostgreSQL is unavailable (jobs): {str(exc).strip()}",
                                     backend="postgresql") from exc  # fmt: skip
        conn.execute("SELECT pg_advisory_lock(%s)", (self.runner,))
        return conn

    def _keep(self) -> None:
        while not self._stop.wait(KEEP_S):
            with self._lock:
                held = self._held
                if held is None:
                    return  # closed
                try:
                    held.execute("SELECT 1")
                except psycopg.Error:
                    held.close()
                    try:
                        self._held = self._take_lock()
                    except (BackendUnavailable, psycopg.Error):
                        pass  # still away: the next round (or the next write) tries again

    def put(self, record: dict[str, Any]) -> None:
        assert _valid(record["lane"], record["id"])
        self._alive()
        with connection(self.pool) as conn:
            conn.execute(
                "INSERT INTO sathub.jobs_records VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (lane, id) "
                "DO UPDATE SET status = excluded.status, created = excluded.created, "
                "runner = excluded.runner, doc = excluded.doc",
                (record["lane"], record["id"], str(record["status"]), str(record.get("created") or ""),
                 self.runner, _doc(record)))  # fmt: skip

    def get(self, lane: str, job_id: str) -> dict[str, Any] | None:
        if not _valid(lane, job_id):
            return None
        with connection(self.pool) as conn:
            row = conn.execute("SELECT doc FROM sathub.jobs_records WHERE lane = %s AND id = %s",
                               (lane, job_id)).fetchone()  # fmt: skip
        return None if row is None else dict(row[0])

    def put_result(self, lane: str, job_id: str, result: dict[str, Any]) -> None:
        assert _valid(lane, job_id)
        with connection(self.pool) as conn:
            conn.execute("INSERT INTO sathub.jobs_results VALUES (%s, %s, %s) ON CONFLICT (lane, id) "
                         "DO UPDATE SET doc = excluded.doc", (lane, job_id, _doc(result)))  # fmt: skip

    def get_result(self, lane: str, job_id: str) -> dict[str, Any] | None:
        if not _valid(lane, job_id):
            return None
        with connection(self.pool) as conn:
            row = conn.execute("SELECT doc FROM sathub.jobs_results WHERE lane = %s AND id = %s",
                               (lane, job_id)).fetchone()  # fmt: skip
        return None if row is None else dict(row[0])

    def list(self, lane: str | None = None) -> list[dict[str, Any]]:
        with connection(self.pool) as conn:
            rows = conn.execute("SELECT doc FROM sathub.jobs_records WHERE %s::text IS NULL OR lane = %s "
                                "ORDER BY created DESC, lane, id", (lane, lane)).fetchall()  # fmt: skip
        return [dict(r[0]) for r in rows]

    def transition(self, lane: str, job_id: str, expect: str,
                   fields: dict[str, Any]) -> dict[str, Any] | None:  # fmt: skip
        if not _valid(lane, job_id):
            return None
        self._alive()
        with connection(self.pool) as conn:
            # the row lock: a concurrent claimer waits, then sees the new status and no row
            row = conn.execute("SELECT doc FROM sathub.jobs_records WHERE lane = %s AND id = %s "
                               "AND status = %s FOR UPDATE", (lane, job_id, expect)).fetchone()  # fmt: skip
            if row is None:
                return None
            doc = clean_json({**row[0], **fields})
            conn.execute("UPDATE sathub.jobs_records SET status = %s, runner = %s, doc = %s "
                         "WHERE lane = %s AND id = %s",
                         (str(doc["status"]), self.runner, _doc(doc), lane, job_id))  # fmt: skip
        return doc

    def is_live(self, lane: str, job_id: str) -> bool:
        if not _valid(lane, job_id):
            return False
        with connection(self.pool) as conn:
            row = conn.execute("SELECT runner FROM sathub.jobs_records WHERE lane = %s AND id = %s",
                               (lane, job_id)).fetchone()  # fmt: skip
            if row is None or row[0] is None:
                return False
            runner = int(row[0])
            if runner == self.runner:
                return self._held is not None
            held = conn.execute(_LOCK_HELD, (runner >> 32, runner & 0xFFFFFFFF)).fetchone()
        return bool(held and held[0])

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._held is not None:
                held, self._held = self._held, None
                try:  # released now: the server frees a closed session's locks only when its
                    # backend has exited, later than close() returns (another runner asking
                    # at once would still see this one live)
                    held.execute("SELECT pg_advisory_unlock(%s)", (self.runner,))
                except psycopg.Error:
                    pass  # the server is gone: so is the lock
                held.close()
