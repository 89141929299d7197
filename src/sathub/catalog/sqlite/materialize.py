"""The extra filter on SQLite: caching hints as kept row-id sets, AOIs behind a box test.

An :class:`~sathub.catalog.filters.AccessFilter` is the OR of its parts (plain CQL2 for any
backend; see :mod:`sathub.catalog.filters`). This store uses the hints:

- :class:`~sathub.catalog.filters.Kept` ``(expr, cheap)``: the row ids matching ``expr OR
  cheap`` are computed once per catalog generation (a counter every write transaction bumps, in
  any process) and kept for the process under the part's cache key; each connection copies
  them into a temporary table, and the part becomes one probe of that table per row (no read of
  the row itself, so an index-only scan stays index-only). When the ``cheap`` rows alone pass
  ``MATERIALIZED_ROWS``, only ``expr`` is kept and ``cheap`` is evaluated as SQL.
- :class:`~sathub.catalog.filters.Gated` ``(gate, then)``: the gate's rows as a kept set; none
  (the usual case) makes the part false and ``then`` is never translated.

At most ``MAX_MATERIALIZED`` sets are kept. The check, the copy and the search run in one read
transaction, so the sets and the rows searched are one snapshot.

Every ``s_intersects(geometry, <GeoJSON>)`` of an extra filter is preceded by a test of the
item's indexed bounds (columns ``sathub:minx`` … of :mod:`sathub.catalog.query`) against the
literal's box: four float comparisons reject most rows before the exact test
(:func:`with_box_tests`; the same rows match).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import orjson

from sathub.catalog.cql2sql import to_sql
from sathub.catalog.filters import AccessFilter, ExtraFilter, Gated, Kept, any_of
from sathub.catalog.query import FROM, Plan, columns_for

FALSE = {"op": "=", "args": [0, 1]}
GEOMETRY = {"property": "geometry"}


# ------------------------------------------------------------------ box pre-tests
def _bounds(coords: Any) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of nested GeoJSON positions, or None if malformed."""
    xs: list[float] = []
    ys: list[float] = []
    stack = [coords]
    while stack:
        c = stack.pop()
        if not isinstance(c, list) or not c:
            return None
        if isinstance(c[0], (int, float)) and not isinstance(c[0], bool):
            if len(c) < 2 or not all(isinstance(v, (int, float)) for v in c[:2]):
                return None
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        else:
            stack.extend(c)
    return min(xs), min(ys), max(xs), max(ys)


def _box_tests(expr: Any) -> list[dict[str, Any]]:
    """The box tests that must hold when ``expr`` is ``s_intersects(geometry, <GeoJSON>)``;
    [] for anything else."""
    if not isinstance(expr, dict) or str(expr.get("op", "")).lower() != "s_intersects":
        return []
    args = expr.get("args")
    if not isinstance(args, list) or len(args) != 2 or args[0] != GEOMETRY:
        return []
    lit = args[1]
    if not isinstance(lit, dict) or lit.get("type") == "GeometryCollection":
        return []
    box = _bounds(lit.get("coordinates"))
    if box is None:
        return []
    w, s, e, n = box
    return [{"op": "<=", "args": [{"property": "sathub:minx"}, e]},
            {"op": ">=", "args": [{"property": "sathub:maxx"}, w]},
            {"op": "<=", "args": [{"property": "sathub:miny"}, n]},
            {"op": ">=", "args": [{"property": "sathub:maxy"}, s]}]  # fmt: skip


def with_box_tests(expr: Any) -> Any:
    """``expr`` with the box tests of each spatial intersection placed first in its ``and``
    (the translation stops at the first failing term) or ANDed before it."""
    if not isinstance(expr, dict):
        return expr
    op = str(expr.get("op", "")).lower()
    if op == "and" and isinstance(expr.get("args"), list):
        boxes = [t for a in expr["args"] for t in _box_tests(a)]
        rest = [a if _box_tests(a) else with_box_tests(a) for a in expr["args"]]
        return {**expr, "args": [*boxes, *rest]}
    if op in ("or", "not") and isinstance(expr.get("args"), list):
        return {**expr, "args": [with_box_tests(a) for a in expr["args"]]}
    boxes = _box_tests(expr)
    return {"op": "and", "args": [*boxes, expr]} if boxes else expr


# -------------------------------------------------------------------- kept sets
# The columns of ``items`` a kept set's copy holds (all but the geometry), and its indexes
# (those of ``items``, see schema.py).
COPY_COLUMNS = ("rid", "collection", "id", "dt", "dt_start", "dt_end", "cloud_cover",
                "minx", "maxx", "miny", "maxy")  # fmt: skip
COPY_COLUMNS_DDL = ("rid INTEGER PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL, dt REAL NOT NULL, "
                    "dt_start REAL NOT NULL, dt_end REAL NOT NULL, cloud_cover REAL, "
                    "minx REAL, maxx REAL, miny REAL, maxy REAL")  # fmt: skip
COPY_INDEXES = ("collection, id", "id", "dt", "collection, dt", "dt_end", "cloud_cover",
                "collection, cloud_cover")  # fmt: skip
_KEY = re.compile(r"[0-9a-f]{20,}")
_PROBE = re.compile(r"\(\+i\.rid IN temp\.(m_[0-9a-f]{20})\)")

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
    # kept sets up to this size are copied with their index columns (~250 B a row per
    # connection), larger ones as row ids only
    COPY_ROWS = 100_000

    def count_source(self, plan: Plan) -> tuple[str, str] | None:
        """(table, WHERE) to count a search's matches on: when the plan's only access term is
        the probe of a kept set copied with its columns, and no other term reads the geometry,
        the copy with the probe dropped (the same rows: the copy holds exactly the set's
        rows). None: count on ``items`` with the plan's own WHERE."""
        copies: set[str] = self._local.__dict__.get("copies", set())
        probes = [n for n, term in enumerate(plan.where) if _PROBE.fullmatch(term)]
        if len(probes) != 1 or any("i.geom" in t for t in plan.where):
            return None
        name = _PROBE.fullmatch(plan.where[probes[0]]).group(1)  # type: ignore[union-attr]
        if name not in copies:
            return None
        rest = [t for n, t in enumerate(plan.where) if n != probes[0]]
        return f"temp.c{name[1:]}", " AND ".join(rest) if rest else "1"

    @contextmanager
    def _snapshot(
        self, conn: sqlite3.Connection, extra_filter: ExtraFilter
    ) -> Iterator[dict[str, Any] | None]:
        """The extra filter as CQL2 this store translates (kept sets probed by
        ``sathub:rid_in``), inside one read transaction when it uses kept sets."""
        if extra_filter is None:
            yield None
            return
        if not isinstance(extra_filter, AccessFilter) or not extra_filter.hinted:
            plain = extra_filter.cql2 if isinstance(extra_filter, AccessFilter) else extra_filter
            yield with_box_tests(plain)
            return
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            generation = int(
                conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
            )
            parts = [r for r in (self._resolve(conn, p, generation) for p in extra_filter.parts)
                     if r != FALSE]  # fmt: skip
            yield any_of(parts) if parts else FALSE
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")

    def _resolve(self, conn: sqlite3.Connection, part: Any, generation: int) -> dict[str, Any]:
        if isinstance(part, Kept):
            args = [part.expr] if part.cheap is None else [part.expr, part.cheap]
            return self._materialized(conn, part.cache_key, args, generation)[0]
        if isinstance(part, Gated):
            probe, n = self._materialized(conn, part.cache_key, [part.gate], generation)
            if n == 0:
                return FALSE
            return {"op": "and", "args": [probe, with_box_tests(part.then)]}
        out: dict[str, Any] = with_box_tests(part)
        return out

    def _materialized(
        self, conn: sqlite3.Connection, key: str, args: list[Any], generation: int
    ) -> tuple[dict[str, Any], int]:
        if not _KEY.fullmatch(key):
            raise ValueError(f"bad cache key {key!r}")
        name = f"m_{key[:20]}"
        kept: OrderedDict[str, int] = self._local.__dict__.setdefault("materialized", OrderedDict())
        with self._sets_lock:
            shared = self._sets.get(name)
        if shared is None or shared.generation != generation:
            cols = columns_for(None, self.queryables())
            main, *cheap = [with_box_tests(a) for a in args]
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
            copy = "c" + name[1:]
            conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
            conn.execute(f"DROP TABLE IF EXISTS temp.{copy}")
            copies: set[str] = self._local.__dict__.setdefault("copies", set())
            copies.discard(name)
            conn.execute(f"CREATE TEMP TABLE {name} (rid INTEGER PRIMARY KEY)")
            conn.execute(f"INSERT INTO temp.{name} SELECT value FROM json_each(?)", (shared.rids,))
            if shared.size <= self.COPY_ROWS:
                # the rows' index columns too (all but the geometry), with the items table's
                # indexes: a search whose only other terms read those columns is counted on
                # this table alone, index-only as for an unrestricted caller (count_source)
                conn.execute(f"CREATE TEMP TABLE {copy} ({COPY_COLUMNS_DDL})")
                conn.execute(f"INSERT INTO temp.{copy} SELECT {', '.join('i.' + c for c in COPY_COLUMNS)} "
                             f"FROM temp.{name} j CROSS JOIN items i ON i.rid = j.rid")  # fmt: skip
                for n, idx in enumerate(COPY_INDEXES):
                    conn.execute(f"CREATE INDEX temp.{copy}_{n} ON {copy} ({idx})")
                copies.add(name)
            kept[name] = generation
        kept.move_to_end(name)
        while len(kept) > self.MAX_MATERIALIZED:
            old, _ = kept.popitem(last=False)
            conn.execute(f"DROP TABLE IF EXISTS temp.{old}")
            conn.execute(f"DROP TABLE IF EXISTS temp.c{old[1:]}")
            self._local.__dict__.get("copies", set()).discard(old)
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
