"""The catalog on PostgreSQL + PostGIS with pgstac's schema and functions, used as they are:
``pgstac.search`` for every search (one CQL2-JSON filter: the user's AND the caller's access
filter, see ``search.py``), pgstac's staging tables (its loader's path) for item writes, its
collection functions, its partitioning. Aggregations, which pgstac lacks, are SQL over pgstac's
``items`` table with the WHERE clause pgstac itself makes from the same search
(``aggregate.py``).

Nothing needed for correctness is kept in one worker's memory: the queryables are cached under
the catalog's generation, a counter every write transaction bumps in the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.rows import tuple_row

from sathub.catalog.filters import ExtraFilter, filter_collections, plain_cql2
from sathub.catalog.pgstac.db import PARTITIONS_LOCK, Pools, unavailable_as_503
from sathub.catalog.pgstac.guarded import clauses, page
from sathub.catalog.pgstac.search import boundary, has_nul, search_body, unwrap_token, wrap_token
from sathub.catalog.pgstac.transaction import PgstacTransaction
from sathub.catalog.store import Collection, Item, Mode, SearchQuery, SearchResult
from sathub.catalog.validate import item_row
from sathub.errors import InvalidFilter, InvalidInput, NotFound

# pgstac raises plain exceptions (P0001) for a query it cannot run: a bad filter or token
RAISED = (pgerrors.RaiseException, pgerrors.InvalidParameterValue, pgerrors.UndefinedFunction,
          pgerrors.InvalidTextRepresentation, pgerrors.DatatypeMismatch,
          pgerrors.InvalidDatetimeFormat, pgerrors.DatetimeFieldOverflow,
          pgerrors.NumericValueOutOfRange, pgerrors.InternalError_,
          pgerrors.DivisionByZero)  # fmt: skip


class PgstacStore:
    """A :class:`~sathub.catalog.store.CatalogStore` on a pgstac database."""

    def __init__(self, dsn: str, reader_dsn: str | None = None, *, pool_size: int = 10,
                 statement_timeout_ms: int = 30_000, count_cap: int = 10_000) -> None:  # fmt: skip
        self.count_cap = count_cap
        self.pools = Pools(dsn, reader_dsn, max_size=pool_size,
                           statement_timeout_ms=statement_timeout_ms)  # fmt: skip
        self._lock = threading.Lock()
        self._queryables_cache: tuple[int, dict[str, dict[str, str]]] | None = None
        with self.pools.read() as conn:
            row = conn.execute(
                "SELECT value FROM sathub.catalog_meta WHERE key = 'token_key'").fetchone()
        if row is None:
            raise RuntimeError("the pgstac database has no sathub tables: run `sathub init`")
        self._token_key = bytes.fromhex(row[0])

    def close(self) -> None:
        self.pools.close()

    # ------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[PgstacTransaction]:
        with self.pools.write() as conn:
            tx = PgstacTransaction(self, conn)
            yield tx
            tx.flush()

    @contextmanager
    def bulk_load(self, *, large: bool = False) -> Iterator[PgstacTransaction]:
        """One transaction through pgstac's staging tables (as ``pypgstac load`` does); the
        planner's statistics of the items refreshed after a large load."""
        with self.transaction() as tx:
            tx.conn.execute("SET LOCAL statement_timeout = 0")  # a load is not a query
            yield tx
            wrote = tx.wrote_items
        if large and wrote:
            with self.pools.write() as conn:
                conn.execute("SET LOCAL statement_timeout = 0")
                conn.execute("ANALYZE pgstac.items")

    def widen_partitions(self, collections: set[str], *, holding: bool = False) -> set[str]:
        """Before a transaction first writes items of committed collections: their pgstac
        partitions made, with datetime constraints covering all time, in a short transaction
        of their own. pgstac's loader otherwise creates a partition or widens its constraints
        inside the writing transaction, under an ACCESS EXCLUSIVE lock that makes every reader
        of the collection wait until the commit. (Collections of one partition each, pgstac's
        default; a collection partitioned by year or month keeps pgstac's own behaviour, as
        does one made in the same transaction.) A lock that does not come within 0.5 s (another
        writer holds the partition) leaves it to pgstac, which is only slower for readers.

        ``holding``: the caller holds a writer connection already (a transaction about to write
        items); the widening then takes a spare one only, never waits for one (at
        ``SATHUB_PG_POOL_SIZE=1`` it would wait on the caller's own: a deadlock), and is left
        to pgstac when the pool has none. Returns the collections widened."""
        if holding:
            with unavailable_as_503(), self.pools.spare_writer() as spare:
                return set() if spare is None else _widen(spare, collections)
        with unavailable_as_503(), self.pools.connection() as conn:
            return _widen(conn, collections)

    # ------------------------------------------------------------ collections
    def list_collections(self, extra_filter: dict[str, Any] | None = None) -> list[Collection]:
        with self.pools.read() as conn:
            rows = conn.execute("SELECT content FROM collections ORDER BY id").fetchall()
        out = [r[0] for r in rows]
        return out if extra_filter is None else filter_collections(out, extra_filter)

    def get_collection(self, collection_id: str) -> Collection:
        if has_nul(collection_id):  # PostgreSQL cannot hold one: no such collection
            raise NotFound(f"collection {collection_id!r} not found")
        with self.pools.read() as conn:
            row = conn.execute("SELECT content FROM collections WHERE id = %s",
                               [collection_id]).fetchone()  # fmt: skip
        if row is None:
            raise NotFound(f"collection {collection_id!r} not found")
        out: Collection = row[0]
        return out

    def create_collection(self, collection: Collection) -> Collection:
        with self.transaction() as tx:
            return tx.put_collection(collection, mode="insert")

    def update_collection(self, collection_id: str, collection: Collection) -> Collection:
        if has_nul(collection_id):  # none can exist (psycopg refuses to send it)
            raise NotFound(f"collection {collection_id!r} not found")
        if collection.get("id", collection_id) != collection_id:
            raise InvalidInput(
                f"collection id {collection.get('id')!r} does not match the path {collection_id!r}",
                field="id")  # fmt: skip
        with self.transaction() as tx:
            if not tx.conn.execute("SELECT 1 FROM collections WHERE id = %s FOR UPDATE",
                                   [collection_id]).fetchone():  # fmt: skip
                raise NotFound(f"collection {collection_id!r} not found")
            return tx.put_collection({**collection, "id": collection_id}, mode="upsert")

    def delete_collection(self, collection_id: str) -> None:
        if has_nul(collection_id):  # none can exist (psycopg refuses to send it)
            raise NotFound(f"collection {collection_id!r} not found")
        with self.transaction() as tx:
            if not tx.conn.execute("SELECT 1 FROM collections WHERE id = %s FOR UPDATE",
                                   [collection_id]).fetchone():  # fmt: skip
                raise NotFound(f"collection {collection_id!r} not found")
            tx.conn.execute("DELETE FROM items WHERE collection = %s", [collection_id])
            tx.conn.execute("SELECT delete_collection(%s)", [collection_id])
            tx.conn.execute("DELETE FROM sathub.queryables WHERE collection = %s", [collection_id])

    # ------------------------------------------------------------------ items
    def get_item(self, collection_id: str, item_id: str, extra_filter: ExtraFilter = None) -> Item:
        if has_nul(item_id):  # PostgreSQL cannot hold one: no such item
            self.get_collection(collection_id)
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        query = SearchQuery(collections=[collection_id], ids=[item_id], limit=1)
        result = self.search(query, extra_filter=extra_filter, count=False)
        if not result.items:
            self.get_collection(collection_id)  # 404 for the collection first
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        return result.items[0]

    def create_item(self, item: Item, collection_id: str | None = None) -> Item:
        with self.transaction() as tx:
            row = tx.put_item(item, mode="insert", collection_id=collection_id)
        return row.content

    def update_item(self, collection_id: str, item_id: str, item: Item) -> Item:
        if has_nul([collection_id, item_id]):  # none can exist (psycopg refuses to send it)
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        if item.get("id", item_id) != item_id:
            raise InvalidInput(f"item id {item.get('id')!r} does not match the path {item_id!r}",
                               field="id")  # fmt: skip
        self.widen_partitions({collection_id})
        with self.transaction() as tx:
            if not tx.conn.execute(
                "SELECT 1 FROM items WHERE collection = %s AND id = %s FOR UPDATE",
                [collection_id, item_id],
            ).fetchone():
                raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
            row = tx.put_item({**item, "id": item_id}, mode="upsert", collection_id=collection_id)
        return row.content

    def delete_item(self, collection_id: str, item_id: str) -> None:
        with self.transaction() as tx:
            tx.delete_item(collection_id, item_id)

    def bulk_upsert(self, items: Iterable[Item], *, mode: Mode = "upsert",
                    collection_id: str | None = None) -> int:  # fmt: skip
        rows = [item_row(it, collection_id=collection_id) for it in items]
        with self.transaction() as tx:
            tx.put_rows(rows, mode=mode)
        return len(rows)

    def iter_items(self, collection_id: str | None = None) -> Iterator[Item]:
        """Every item (of one collection) by collection and id, read in batches by keyset."""
        after: tuple[str, str] = ("", "")
        while True:
            with self.pools.read() as conn:
                rows = conn.execute(
                    "SELECT collection, id, content_hydrate(items) FROM items "
                    "WHERE (collection, id) > (%s, %s) AND (%s::text IS NULL OR collection = %s) "
                    "ORDER BY collection, id LIMIT 500",
                    [*after, collection_id, collection_id],
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row[2]
            after = (rows[-1][0], rows[-1][1])

    def counts(self) -> dict[str, int]:
        with self.pools.read() as conn:
            rows = conn.execute(
                "SELECT c.id, (SELECT count(*) FROM items i WHERE i.collection = c.id) "
                "FROM collections c ORDER BY c.id").fetchall()  # fmt: skip
        return {r[0]: int(r[1]) for r in rows}

    # --------------------------------------------------------------- queryables
    def generation(self) -> int:
        with self.pools.read() as conn:
            row = conn.execute(
                "SELECT value FROM sathub.catalog_meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def queryables(self) -> dict[str, dict[str, str]]:
        """Property name → JSON type per collection (cached under the catalog generation)."""
        gen = self.generation()
        cached = self._queryables_cache
        if cached is not None and cached[0] == gen:
            return cached[1]
        out: dict[str, dict[str, str]] = {}
        with self.pools.read() as conn:
            for coll, name, typ in conn.execute(
                    "SELECT collection, name, type FROM sathub.queryables ORDER BY collection, name"):
                out.setdefault(coll, {})[name] = typ
        self._queryables_cache = (gen, out)
        return out

    # ----------------------------------------------------------------- search
    def _body(self, query: SearchQuery, extra_filter: ExtraFilter) -> tuple[dict[str, Any], Any]:
        """pgstac's search body with the caller's own terms as its filter, and the access
        filter (plain CQL2) apart: see ``guarded.py``."""
        extra = plain_cql2(extra_filter)
        return search_body(query, None, self.queryables()), extra

    def search(self, query: SearchQuery, extra_filter: ExtraFilter = None, *,
               count: bool = True) -> SearchResult:  # fmt: skip
        if query.collections == [] or query.ids == []:
            return SearchResult(items=[], next_token=None, prev_token=None,
                                matched=0 if count else None)  # fmt: skip
        body, extra = self._body(query, extra_filter)
        if query.token:
            token, same_filter = unwrap_token(self._token_key, query.token, extra)
            if not same_filter and not self._sees(boundary(token), extra_filter):
                raise InvalidInput("invalid paging token", field="token")
            body["token"] = token
        # the page is pgstac's search over a WHERE clause made here (guarded.py: the access
        # filter decides before the caller's terms can raise). As pgstac's search with
        # context off, readonly and nohydrate: no count in it (pgstac's is exact and unbounded:
        # ~85% of a broad search's time; counted here exact up to count_cap, then the
        # planner's estimate, the SQLite store's rule, SATHUB_COUNT_CAP), nothing written, and
        # items returned without what they share with their collection, completed here as
        # stac-fastapi-pgstac's API-side hydration does (in plpgsql: ~85% of a 100-item page)
        matched: int | None = None
        estimate = False
        with self.pools.read() as conn:
            cl = clauses(conn, run, body, extra)
            raw, nxt, prv = page(conn, run_all, cl, int(body["limit"]), body.get("token"))
            features = hydrated(conn, raw)
            if count and self.count_cap > 0:
                matched, estimate = count_matches(conn, cl.where, self.count_cap)
        return SearchResult(
            items=features,
            next_token=wrap_token(self._token_key, nxt, extra),
            prev_token=wrap_token(self._token_key, prv, extra),
            matched=matched,
            matched_is_estimate=estimate,
        )

    def _sees(self, item: tuple[str, str] | None, extra_filter: ExtraFilter) -> bool:
        """Whether the caller sees ``item`` now (a token made under another access filter
        names its page's boundary item: pgstac answers differently for an existing and a
        missing one, so only one the caller sees may be named)."""
        if item is None:
            return False
        query = SearchQuery(collections=[item[0]], ids=[item[1]], limit=1)
        return bool(self.search(query, extra_filter=extra_filter, count=False).items)

    def aggregate(self, query: SearchQuery, aggregations: list[str],
                  extra_filter: ExtraFilter = None, *, datetime_frequency_interval: str = "month",
                  geohash_precision: int = 1, geotile_precision: int = 0) -> list[dict[str, Any]]:  # fmt: skip
        from sathub.catalog.pgstac.aggregate import run_aggregations

        body, extra = self._body(query, extra_filter)
        empty = query.collections == [] or query.ids == []
        with self.pools.read() as conn:
            where = "FALSE" if empty else clauses(conn, run, body, extra).where
            try:
                return run_aggregations(
                    conn, where, aggregations, datetime_frequency_interval=datetime_frequency_interval,
                    geohash_precision=geohash_precision, geotile_precision=geotile_precision)
            except RAISED as exc:  # the filter met a row it cannot be evaluated on: a 400
                raise refused(conn, exc) from exc


def _widen(conn: psycopg.Connection[Any], collections: set[str]) -> set[str]:
    """:meth:`PgstacStore.widen_partitions` on ``conn``: one short transaction a collection."""
    done = set()
    conn.execute("SET lock_timeout = '500ms'")
    for coll in sorted(collections):
        try:
            with conn.transaction():
                conn.execute(PARTITIONS_LOCK)
                conn.execute(
                    "SELECT check_partition(id, tstzrange('-infinity', 'infinity', '[]'), "
                    "tstzrange('-infinity', 'infinity', '[]')) FROM collections "
                    "WHERE id = %s AND partition_trunc IS NULL", [coll])  # fmt: skip
            done.add(coll)
        except psycopg.DatabaseError as exc:  # pgstac reports a lock timeout its own way
            if isinstance(exc, psycopg.OperationalError) and not isinstance(
                    exc, (pgerrors.LockNotAvailable, pgerrors.DeadlockDetected)):
                raise
    conn.execute("RESET lock_timeout")
    return done


def count_matches(conn: psycopg.Connection[Any], where: str, cap: int) -> tuple[int, bool]:
    """Items matching a search's WHERE clause (without its paging token): when PostgreSQL's
    planner expects at most ``cap``, counted exactly (at most ``cap + 1`` rows read); when it
    expects more, or the count passes ``cap``, the planner's estimate (as pgstac's ``context:
    auto``; at least ``cap + 1`` then). A broad filter is thus never counted row by row: pgstac
    evaluates a property filter on each row's JSON (no index), ~15 µs a row."""
    # no parameters: psycopg leaves the clause's own % (LIKE patterns) alone
    plan = run(conn, f"EXPLAIN (FORMAT JSON) SELECT 1 FROM items WHERE {where}", None)[0]
    expected = int(plan[0]["Plan"]["Plan Rows"])
    if expected > cap:
        return expected, True
    n = int(run(conn, f"SELECT count(*) FROM (SELECT 1 FROM items WHERE {where} LIMIT {int(cap) + 1}) s", None)[0])
    return (n, False) if n <= cap else (max(expected, cap + 1), True)


def hydrated(conn: psycopg.Connection[Any], features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dehydrated search results made whole with their collections' base items
    (pypgstac's hydrater, the same merge pgstac's ``content_hydrate`` does)."""
    from pypgstac.hydration import hydrate

    bases: dict[str, dict[str, Any]] = {}
    out = []
    for f in features:
        base = f.pop("pgstac:base_item", None)
        if base is None:  # not sent beside the item: the collection's, read once per page
            cid = str(f.get("collection"))
            if cid not in bases:
                row = conn.execute("SELECT base_item FROM pgstac.collections WHERE id = %s",
                                   [cid]).fetchone()  # fmt: skip
                bases[cid] = row[0] if row else {}
            base = bases[cid]
        out.append(hydrate(base, f))
    return out


# errors that depend on the rows a filter met, not on the filter alone: their text quotes a
# stored value, possibly of an item the caller may not see (PostgreSQL may test the caller's
# filter on a row before the access filter), so it is never repeated to the caller
ROW_DEPENDENT = (pgerrors.InvalidTextRepresentation, pgerrors.NumericValueOutOfRange,
                 pgerrors.DatetimeFieldOverflow, pgerrors.InvalidDatetimeFormat,
                 pgerrors.DivisionByZero)  # fmt: skip


def refused(conn: psycopg.Connection[Any], exc: Exception) -> InvalidInput:
    """pgstac's refusal of a query as a 400 naming the field (the connection rolled back)."""
    conn.rollback()
    text = str(exc).split("\n", 1)[0]
    if "token" in text.lower():
        return InvalidInput("invalid paging token", field="token")
    if isinstance(exc, ROW_DEPENDENT):
        text = ("it compares a property with a value of another type (a text with a number or "
                "a date), or its arithmetic fails on a stored value (out of range, division by zero)")  # fmt: skip
    return InvalidFilter(f"the filter cannot be evaluated: {text}", field="filter")


def run_all(conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Every row of a pgstac call; refusals as :func:`run`'s."""
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    except RAISED as exc:
        raise refused(conn, exc) from exc


def run(conn: psycopg.Connection[Any], sql: str, params: list[Any] | None) -> Any:
    """One row of a pgstac call; pgstac's refusals of a query become 400s naming the field."""
    try:
        with conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
    except RAISED as exc:
        raise refused(conn, exc) from exc
    assert row is not None
    return row
