"""The :class:`~sathub.orbits.store.OrbitStore` in PostgreSQL (``SATHUB_PG_DSN``): tables
``sathub.orbits_satellites``, ``sathub.orbits_elements`` and ``sathub.orbits_orders``, made
idempotently on open. Documents are ``json`` (kept as written; ``jsonb`` refuses ``\u0000``); an order's change runs under ``SELECT … FOR
UPDATE`` of its row, so concurrent API workers apply one status change after the other and the
second sees the first (a transition the first made impossible is refused)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Json

from sathub.orbits.store import Doc, epoch_of
from sathub.pg import Pool, unavailable_as_503

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS sathub;
CREATE TABLE IF NOT EXISTS sathub.orbits_satellites (
    norad_id bigint PRIMARY KEY, doc json NOT NULL);
CREATE TABLE IF NOT EXISTS sathub.orbits_elements (
    norad_id bigint NOT NULL, epoch timestamptz NOT NULL, doc json NOT NULL,
    PRIMARY KEY (norad_id, epoch));
CREATE TABLE IF NOT EXISTS sathub.orbits_orders (
    id text PRIMARY KEY, created timestamptz NOT NULL DEFAULT now(), doc json NOT NULL);
"""


@contextmanager
def connection(pool: Pool) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in one transaction; an unreachable server is a 503 naming it."""
    with unavailable_as_503("orbits"), pool.connection() as conn, conn.transaction():
        yield conn


def create_schema(conn: psycopg.Connection[Any], ddl: str) -> None:
    """``ddl`` under a transaction-scoped lock (two workers opening at once do not race on
    ``CREATE … IF NOT EXISTS``)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('sathub.schema'))")
    conn.execute(ddl)


class PgOrbitStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        with connection(pool) as conn:
            create_schema(conn, SCHEMA)

    def satellites(self) -> dict[int, Doc]:
        with connection(self.pool) as conn:
            rows = conn.execute("SELECT norad_id, doc FROM sathub.orbits_satellites").fetchall()
        return {int(k): v for k, v in rows}

    def put_satellites(self, docs: list[Doc], *, only_new: bool = False) -> None:
        action = "NOTHING" if only_new else "UPDATE SET doc = excluded.doc"
        with connection(self.pool) as conn, conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO sathub.orbits_satellites VALUES (%s, %s) ON CONFLICT (norad_id) DO {action}",
                [(int(d["norad_id"]), Json(d)) for d in docs])  # fmt: skip

    def add_elements(self, records: list[tuple[int, Doc]]) -> int:
        added = 0
        with connection(self.pool) as conn:
            for norad_id, record in records:
                cur = conn.execute(
                    "INSERT INTO sathub.orbits_elements VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (int(norad_id), epoch_of(record), Json(record)))  # fmt: skip
                added += cur.rowcount
        return added

    def elements(self) -> dict[int, list[Doc]]:
        out: dict[int, list[Doc]] = {}
        with connection(self.pool) as conn:
            for norad_id, doc in conn.execute(
                    "SELECT norad_id, doc FROM sathub.orbits_elements ORDER BY norad_id, epoch"):
                out.setdefault(int(norad_id), []).append(doc)
        return out

    def add_order(self, doc: Doc) -> None:
        with connection(self.pool) as conn:
            conn.execute("INSERT INTO sathub.orbits_orders (id, doc) VALUES (%s, %s)",
                         (doc["id"], Json(doc)))  # fmt: skip

    def order(self, order_id: str) -> Doc | None:
        if "\x00" in order_id:  # PostgreSQL text holds no NUL: no order has that id
            return None
        with connection(self.pool) as conn:
            row = conn.execute("SELECT doc FROM sathub.orbits_orders WHERE id = %s", (order_id,)).fetchone()
        return None if row is None else dict(row[0])

    def orders(self) -> list[Doc]:
        with connection(self.pool) as conn:
            return [r[0] for r in conn.execute("SELECT doc FROM sathub.orbits_orders ORDER BY created, id")]

    def update_order(self, order_id: str, change: Callable[[Doc], Doc]) -> Doc | None:
        if "\x00" in order_id:
            return None
        with connection(self.pool) as conn:
            row = conn.execute("SELECT doc FROM sathub.orbits_orders WHERE id = %s FOR UPDATE",
                               (order_id,)).fetchone()  # fmt: skip
            if row is None:
                return None
            new = change(dict(row[0]))
            conn.execute("UPDATE sathub.orbits_orders SET doc = %s WHERE id = %s", (Json(new), order_id))
            return new

    def close(self) -> None:
        pass
