"""Row-id sets kept for filters that many searches repeat (access control's grants).

An extra filter may hold ``{"op": "sathub:materialize", "args": [expr, cheap]}``: the row ids
matching ``expr OR cheap`` are computed once per catalog generation (a counter every write
transaction bumps, in any process) and kept for the process; each connection copies them into
a temporary table, and the node becomes one probe of that table per row (no read of the row
itself, so an index-only scan stays index-only). When the ``cheap`` rows alone pass
``MATERIALIZED_ROWS``, only ``expr`` is kept and ``cheap`` is evaluated as SQL.
``{"op": "sathub:when_rows", "args": [gate, then]}``: the gate's rows as a kept set; none (the
usual case) makes the node false and ``then`` is never translated. At most
``MAX_MATERIALIZED`` sets are kept. The check, the copy and the search run in one read
transaction, so the sets and the rows searched are one snapshot.

Another backend (pgstac) must resolve these operators too; as plain CQL2, ``materialize``
means the OR of its arguments and ``when_rows`` the AND of its two (same result).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import orjson

from sathub.catalog.cql2sql import to_sql
from sathub.catalog.query import FROM, columns_for


def _has_materialize(expr: Any) -> bool:
    """Does a filter hold a ``sathub:materialize`` node under and/or/not?"""
    if not isinstance(expr, dict):
        return False
    if expr.get("op") in ("sathub:materialize", "sathub:when_rows"):
        return True
    return expr.get("op") in ("and", "or", "not") and any(_has_materialize(a) for a in expr["args"])


class _KeptSet(NamedTuple):
    generation: int  # of the catalog it was computed from
    rids: str  # row ids, a JSON array (copied into each connection's temporary table)
    as_sql: list[Any]  # arguments left out of the set (too many rows), evaluated as SQL
    size: int


class MaterializedSets:
    """Mixed into :class:`~sathub.catalog.sqlite.SQLiteStore` (needs ``_local``, ``_sets``,
    ``_sets_lock`` and ``queryables()``)."""

    _local: threading.local
    _sets: OrderedDict[str, _KeptSet]
    _sets_lock: threading.Lock

    def queryables(self) -> dict[str, dict[str, str]]:
        raise NotImplementedError

    MAX_MATERIALIZED = 8
    MATERIALIZED_ROWS = 300_000

    @contextmanager
    def _snapshot(
        self, conn: sqlite3.Connection, extra_filter: dict[str, Any] | None
    ) -> Iterator[dict[str, Any] | None]:
        if not _has_materialize(extra_filter):
            yield extra_filter
            return
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            yield self._resolve(conn, extra_filter)
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")

    def _resolve(self, conn: sqlite3.Connection, expr: Any) -> Any:
        if not isinstance(expr, dict) or "op" not in expr:
            return expr
        if expr["op"] == "sathub:materialize":
            return self._materialized(conn, expr["args"])[0]
        if expr["op"] == "sathub:when_rows":
            # {"op": "sathub:when_rows", "args": [gate, then]}: the gate's rows as a kept set;
            # none (the usual case) → false, and ``then`` is never translated
            probe, n = self._materialized(conn, expr["args"][:1])
            if n == 0:
                return {"op": "=", "args": [0, 1]}
            return {"op": "and", "args": [probe, expr["args"][1]]}
        if expr["op"] in ("and", "or", "not"):
            return {**expr, "args": [self._resolve(conn, a) for a in expr["args"]]}
        return expr

    def _materialized(
        self, conn: sqlite3.Connection, args: list[Any]
    ) -> tuple[dict[str, Any], int]:
        generation = int(
            conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        )
        digest = hashlib.sha1(orjson.dumps(args, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]
        name = f"m_{digest}"
        kept: OrderedDict[str, int] = self._local.__dict__.setdefault("materialized", OrderedDict())
        with self._sets_lock:
            shared = self._sets.get(name)
        if shared is None or shared.generation != generation:
            cols = columns_for(None, self.queryables())
            main, *cheap = args
            rids = self._row_ids(conn, main, cols)
            as_sql = []
            for expr in cheap:
                got = self._row_ids(conn, expr, cols, limit=self.MATERIALIZED_ROWS + 1)
                if len(got) > self.MATERIALIZED_ROWS:
                    as_sql.append(expr)  # too many to keep: evaluated as SQL instead
                else:
                    rids += got
            rids = sorted(set(rids))
            shared = _KeptSet(generation, orjson.dumps(rids).decode(), as_sql, len(rids))
            with self._sets_lock:
                self._sets[name] = shared
                self._sets.move_to_end(name)
                while len(self._sets) > self.MAX_MATERIALIZED:
                    self._sets.popitem(last=False)
        if kept.get(name) != generation:
            conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
            conn.execute(f"CREATE TEMP TABLE {name} (rid INTEGER PRIMARY KEY)")
            conn.execute(f"INSERT INTO temp.{name} SELECT value FROM json_each(?)", (shared.rids,))
            kept[name] = generation
        kept.move_to_end(name)
        while len(kept) > self.MAX_MATERIALIZED:
            old, _ = kept.popitem(last=False)
            conn.execute(f"DROP TABLE IF EXISTS temp.{old}")
        probe = {"op": "sathub:rid_in", "args": [name]}
        return ({"op": "or", "args": [*shared.as_sql, probe]} if shared.as_sql else probe), shared.size

    @staticmethod
    def _row_ids(conn: sqlite3.Connection, expr: dict[str, Any], cols: Any,
                 limit: int | None = None) -> list[int]:  # fmt: skip
        compiled = to_sql(expr, cols, internal=True)
        sql = f"SELECT i.rid FROM {FROM} WHERE {compiled.sql}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [r[0] for r in conn.execute(sql, compiled.params)]

