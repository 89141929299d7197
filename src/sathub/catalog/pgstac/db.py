"""Connections to PostgreSQL for the pgstac catalog: a writer pool and, when configured, a
reader pool (eoAPI's reader/writer pattern: reads may go to a replica), pgstac's schema made by
``pypgstac migrate``, and sathub's few tables of its own beside it (schema ``sathub``).

Errors of the database are turned into sathub's errors here, once: a server that cannot be
reached is :class:`~sathub.errors.BackendUnavailable` (503, naming PostgreSQL), a refused
login a start-up error naming the setting.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import PoolTimeout

from sathub.errors import BackendTimeout, BackendUnavailable, SettingError
from sathub.pg import Pool, describe

# sathub's own tables: the generation of the catalog (bumped by every write transaction, in
# any worker: caches of every worker key on it), queryables seen per collection with their
# JSON type, and the key that signs paging tokens (one per database, shared by every worker).
SCHEMA = """
CREATE SCHEMA IF NOT EXISTS sathub;
CREATE TABLE IF NOT EXISTS sathub.catalog_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO sathub.catalog_meta VALUES ('generation', '0') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS sathub.queryables (
    collection text NOT NULL, name text NOT NULL, type text NOT NULL,
    PRIMARY KEY (collection, name));
"""


def check_login(dsn: str, setting: str) -> None:
    """Connect once: a refused login or a missing database is a start-up error naming the
    setting; an unreachable server is :class:`BackendUnavailable`."""
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        text = str(exc)
        if any(s in text for s in ("authentication failed", "password", "does not exist",
                                   "no pg_hba.conf entry", "role")):  # fmt: skip
            raise SettingError(
                f"{setting}: PostgreSQL refused the login ({describe(dsn)}): {text.strip()}",
                field=setting) from exc  # fmt: skip
        raise BackendUnavailable(
            f"PostgreSQL is unreachable ({describe(dsn)}): {text.strip()}", backend="postgresql"
        ) from exc
    except psycopg.ProgrammingError as exc:
        raise SettingError(f"{setting}: not a valid PostgreSQL DSN: {exc}", field=setting) from exc


def migrate(dsn: str) -> str:
    """``pypgstac migrate`` (pgstac's schema at the version of the installed pypgstac) and
    sathub's tables; returns pgstac's version. Idempotent."""
    from pypgstac.db import PgstacDB
    from pypgstac.migrate import Migrate

    db = PgstacDB(dsn=dsn)
    try:
        version = str(Migrate(db).run_migration())
    finally:
        db.disconnect()  # closes its connection and its pool (close() leaves the connection)
    ensure_sathub(dsn)
    return version


# the queryables of the items already there, when the table is made anew (a dropped sathub
# schema, restarted: without them every filter on a property would be an unknown queryable)
REBUILD_QUERYABLES = """
INSERT INTO sathub.queryables (collection, name, type)
SELECT DISTINCT ON (i.collection, p.key) i.collection, p.key, jsonb_typeof(p.value)
FROM pgstac.items i, jsonb_each(content_hydrate(i) -> 'properties') p
ORDER BY i.collection, p.key, i.datetime
ON CONFLICT DO NOTHING
"""


def ensure_sathub(dsn: str) -> None:
    """sathub's tables beside pgstac's (idempotent): made when missing (the queryables
    rebuilt from the items then)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('sathub.schema'))")
        row = conn.execute("SELECT to_regclass('sathub.queryables') IS NULL, "
                           "to_regclass('pgstac.items') IS NOT NULL").fetchone()  # fmt: skip
        conn.execute(SCHEMA)
        if row is not None and row[0] and row[1]:
            conn.execute("SET search_path TO pgstac, public")
            conn.execute(REBUILD_QUERYABLES)
        conn.execute(
            "INSERT INTO sathub.catalog_meta VALUES ('token_key', %s) ON CONFLICT DO NOTHING",
            [secrets.token_hex(32)],
        )
        conn.execute("SELECT pg_advisory_unlock(hashtext('sathub.schema'))")


def installed_version(dsn: str) -> str | None:
    """pgstac's version in this database (None: not migrated)."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT to_regclass('pgstac.migrations')").fetchone()
        if row is None or row[0] is None:
            return None
        row = conn.execute(
            "SELECT version FROM pgstac.migrations ORDER BY datetime DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])


# pgstac's loader makes and widens partitions inside the writing transaction; two transactions
# doing so at once deadlock or fail ('relation "_items_N" does not exist'). Whoever changes
# partitions holds this transaction lock: a short widening transaction, or a writing
# transaction whose partitions were not widened ahead (until its commit).
PARTITIONS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('sathub.partitions'))"


STATEMENT_TIMEOUT_SETTING = "SATHUB_PG_STATEMENT_TIMEOUT_MS"


def _configurer(statement_timeout_ms: int) -> Any:
    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SET search_path TO pgstac, public")
        # every query of the catalog is bounded (0: not); bulk loads lift it per transaction
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        conn.commit()

    return configure


class Pools:
    """The writer pool, and the reader pool (the writer's when no reader is configured): each a
    :class:`sathub.pg.Pool` (a dead connection replaced when taken; a server gone answered by a
    503 at once; the pool made anew when it is back), each connection bounded by the statement
    timeout."""

    def __init__(self, dsn: str, reader_dsn: str | None = None, *, max_size: int = 10,
                 statement_timeout_ms: int = 30_000) -> None:  # fmt: skip
        self.dsn = dsn
        self.reader_dsn = reader_dsn or dsn
        self.statement_timeout_ms = statement_timeout_ms
        configure = _configurer(statement_timeout_ms)
        self.writer = Pool(dsn, name="sathub-writer", max_size=max_size, configure=configure)
        self.reader = self.writer if self.reader_dsn == dsn else Pool(
            self.reader_dsn, name="sathub-reader", max_size=max_size, configure=configure)

    def connection(self, reader: bool = False) -> AbstractContextManager[psycopg.Connection[Any]]:
        return (self.reader if reader else self.writer).connection()

    def spare_writer(self) -> AbstractContextManager[psycopg.Connection[Any] | None]:
        """A second writer connection for a caller that already holds one (a transaction
        that widens partitions in a short transaction of its own), or None when the pool has
        none to spare (:meth:`sathub.pg.Pool.spare`)."""
        return self.writer.spare()

    @contextmanager
    def read(self) -> Iterator[psycopg.Connection[Any]]:
        with unavailable_as_503(), self.connection(reader=True) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in one transaction (committed when the block ends, else rolled back)."""
        with unavailable_as_503(), self.connection(reader=False) as conn:
            with conn.transaction():
                yield conn

    def close(self) -> None:
        self.writer.close()
        if self.reader is not self.writer:
            self.reader.close()


@contextmanager
def unavailable_as_503() -> Iterator[None]:
    """PostgreSQL's failures as sathub's errors: a query cancelled by ``statement_timeout`` is
    :class:`BackendTimeout` (504 naming the setting; the pool has rolled its connection back),
    a server that cannot be reached :class:`BackendUnavailable` (503 naming PostgreSQL)."""
    try:
        yield
    except pgerrors.QueryCanceled as exc:
        raise BackendTimeout(
            f"PostgreSQL cancelled the query after the statement timeout "
            f"({STATEMENT_TIMEOUT_SETTING}): {str(exc).strip().splitlines()[0]}",
            backend="postgresql", field=STATEMENT_TIMEOUT_SETTING) from exc  # fmt: skip
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise BackendUnavailable(f"PostgreSQL is unavailable: {str(exc).strip()}",
                                 backend="postgresql") from exc  # fmt: skip
