"""The embedded catalog: STAC collections and items in one SQLite file (WAL mode: one writer,
many readers; every write in one transaction). The schema is in ``schema.py``, writes in
``transaction.py``, the access filter's kept row sets in ``materialize.py``, search SQL in
:mod:`sathub.catalog.query` and :mod:`sathub.catalog.cql2sql`."""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal

import orjson

from sathub.catalog import sqlfuncs
from sathub.catalog.filters import ExtraFilter, filter_collections
from sathub.catalog.query import build_search, fetch_page
from sathub.catalog.sqlite import itemjson
from sathub.catalog.sqlite.countcache import CountCache
from sathub.catalog.sqlite.materialize import MaterializedSets, _KeptSet
from sathub.catalog.sqlite.schema import SCHEMA, SCHEMA_VERSION, migrate_inline_content
from sathub.catalog.sqlite.transaction import SQLiteTransaction
from sathub.catalog.store import Collection, Item, SearchQuery, SearchResult
from sathub.catalog.validate import item_row
from sathub.errors import InvalidInput, NotFound
from sathub.sqlitedb import sqlite_connect


class SQLiteStore(MaterializedSets):
    """The embedded :class:`~sathub.catalog.store.CatalogStore` on one SQLite file."""

    def __init__(
        self, path: Path | str, *, count_cap: int = 10_000, cache_mb: int = 16, mmap_mb: int = 0
    ) -> None:
        self.path = Path(path)
        self.count_cap = count_cap
        self.cache_mb = cache_mb
        self.mmap_mb = mmap_mb
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._queryable_cache: tuple[int, dict[str, dict[str, str]]] | None = None
        # numberMatched of recent searches, per catalog generation (see countcache.py)
        self.count_cache = CountCache()
        self._version = 0
        # materialised sets by name (see catalog/materialize.py)
        self._sets: OrderedDict[str, _KeptSet] = OrderedDict()
        self._sets_lock = threading.Lock()
        self._conn_threads: dict[int, sqlite3.Connection] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        with self._write_lock:
            conn.executescript(SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            # bumped by every write transaction, in any process (see _materialized)
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0)")
            migrate_inline_content(conn)

    # ------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite_connect(self.path, timeout=30.0, pragmas=(
                "case_sensitive_like=ON",
                f"cache_size=-{int(self.cache_mb) * 1024}",  # KiB, per connection
                # mmap: file pages count in the RSS of every connection that maps them
                f"mmap_size={int(self.mmap_mb) * 1024 * 1024}",
                "temp_store=MEMORY",
            ))  # fmt: skip
            sqlfuncs.register(conn)
            itemjson.register(conn)
            self._local.conn = conn
            with self._sets_lock:
                # worker threads come and go (the server's pool retires idle ones): close the
                # connections of threads that have ended, or they would pile up
                alive = {t.ident for t in threading.enumerate()}
                me = threading.get_ident()  # an ident of an ended thread may be reused
                for ident, old in list(self._conn_threads.items()):
                    if ident not in alive or ident == me:
                        del self._conn_threads[ident]
                        try:
                            old.close()
                        except sqlite3.ProgrammingError:
                            pass
                self._conn_threads[threading.get_ident()] = conn
        return conn

    @property
    def _all_conns(self) -> list[sqlite3.Connection]:
        """The open connections, one per live thread that used the store."""
        return list(self._conn_threads.values())

    def close(self) -> None:
        for conn in self._all_conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass
        self._conn_threads.clear()
        self._local = threading.local()

    BULK_CACHE_MB = 256

    @contextmanager
    def bulk_cache(self) -> Iterator[None]:
        """A larger page cache on this thread's connection while a bulk load runs: inserts into
        the id, date and R*Tree indexes touch pages all over them, and past a few hundred
        thousand items a small cache rereads them from disk."""
        conn = self._conn()
        conn.execute(f"PRAGMA cache_size=-{max(self.BULK_CACHE_MB, self.cache_mb) * 1024}")
        # CREATE INDEX may sort with a helper thread (the parse workers are done by then): the
        # sorted runs of a sort larger than the page cache are sorted in helper threads, which
        # SQLite only starts with temporary files on disk (vdbesort.c: none when
        # sqlite3TempInMemory), so temp_store=FILE while the load runs. It must change outside
        # a transaction, and the change drops the connection's temporary tables: the access
        # filter's kept sets of this thread are forgotten with them (made again when used).
        temp_file = self.BULK_TEMP_FILE
        if temp_file:
            self._forget_temp_tables()
            conn.execute("PRAGMA temp_store=FILE")
        conn.execute("PRAGMA threads=2")
        try:
            yield
        finally:
            conn.execute("PRAGMA threads=0")
            if temp_file:
                self._forget_temp_tables()
                conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute(f"PRAGMA cache_size=-{int(self.cache_mb) * 1024}")
            conn.execute("PRAGMA shrink_memory")

    BULK_TEMP_FILE = True  # False: sorts of a bulk load in memory, on the writer's thread only

    def _forget_temp_tables(self) -> None:
        """This thread's connection is about to lose its temporary tables: the kept sets
        (materialize.py) it copied there are made again at their next use."""
        self._local.__dict__.pop("materialized", None)
        self._local.__dict__.pop("copies", None)

    @contextmanager
    def bulk_load(self, *, large: bool = False) -> Iterator[SQLiteTransaction]:
        """One write transaction for a bulk load (see the contract), with a bigger page cache
        while it runs and planner statistics refreshed after it. ``large``, into an empty
        catalog: the secondary indexes and R*Tree triggers dropped, and built once at the
        commit."""
        with self.bulk_cache(), self.transaction() as tx:
            if large:
                tx.defer_indexes()
            yield tx
            wrote = tx.wrote_items
        if wrote:
            self.analyze_if_stale()

    @contextmanager
    def transaction(self) -> Iterator[SQLiteTransaction]:
        """One write transaction: commits when the block ends, rolls back on any error."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            tx = SQLiteTransaction(self, conn)
            try:
                yield tx
                tx.flush()
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._version += 1

    # ------------------------------------------------------------ collections
    def list_collections(self, extra_filter: dict[str, Any] | None = None) -> list[Collection]:
        rows = self._conn().execute("SELECT content FROM collections ORDER BY id").fetchall()
        out = [orjson.loads(r[0]) for r in rows]
        if extra_filter is None:
            return out
        return filter_collections(out, extra_filter)

    def get_collection(self, collection_id: str) -> Collection:
        row = self._conn().execute(
            "SELECT content FROM collections WHERE id = ?", (collection_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"collection {collection_id!r} not found")
        out: Collection = orjson.loads(row[0])
        return out

    def create_collection(self, collection: Collection) -> Collection:
        with self.transaction() as tx:
            return tx.put_collection(collection, mode="insert")

    def update_collection(self, collection_id: str, collection: Collection) -> Collection:
        if collection.get("id", collection_id) != collection_id:
            raise InvalidInput(
                f"collection id {collection.get('id')!r} does not match the path {collection_id!r}",
                field="id",
            )
        collection = {**collection, "id": collection_id}
        with self.transaction() as tx:
            if not tx.conn.execute(
                "SELECT 1 FROM collections WHERE id = ?", (collection_id,)
            ).fetchone():
                raise NotFound(f"collection {collection_id!r} not found")
            return tx.put_collection(collection, mode="upsert")

    def delete_collection(self, collection_id: str) -> None:
        with self.transaction() as tx:
            tx.conn.execute("DELETE FROM items WHERE collection = ?", (collection_id,))
            tx.conn.execute("DELETE FROM queryables WHERE collection = ?", (collection_id,))
            cur = tx.conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
            if cur.rowcount == 0:
                raise NotFound(f"collection {collection_id!r} not found")

    # ------------------------------------------------------------------ items
    def get_item(
        self, collection_id: str, item_id: str, extra_filter: ExtraFilter = None
    ) -> Item:
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
        if item.get("id", item_id) != item_id:
            raise InvalidInput(
                f"item id {item.get('id')!r} does not match the path {item_id!r}", field="id"
            )
        item = {**item, "id": item_id}
        with self.transaction() as tx:
            if not tx.conn.execute(
                "SELECT 1 FROM items WHERE collection = ? AND id = ?", (collection_id, item_id)
            ).fetchone():
                raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
            row = tx.put_item(item, mode="upsert", collection_id=collection_id)
        return row.content

    def delete_item(self, collection_id: str, item_id: str) -> None:
        with self.transaction() as tx:
            tx.delete_item(collection_id, item_id)

    def bulk_upsert(
        self,
        items: Iterable[Item],
        *,
        mode: Literal["insert", "upsert"] = "upsert",
        collection_id: str | None = None,
    ) -> int:
        """Write many items in one transaction: all of them, or none."""
        rows = [item_row(it, collection_id=collection_id) for it in items]
        with self.transaction() as tx:
            tx.put_rows(rows, mode=mode)
        return len(rows)

    def iter_items(self, collection_id: str | None = None) -> Iterator[Item]:
        sql = "SELECT item_json(c.content) FROM items i JOIN items_content c ON c.rid = i.rid"
        params: tuple[Any, ...] = ()
        if collection_id is not None:
            sql += " WHERE i.collection = ?"
            params = (collection_id,)
        for (content,) in self._conn().execute(sql + " ORDER BY i.rid", params):
            yield orjson.loads(content)

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute(
            "SELECT c.id, (SELECT count(*) FROM items i WHERE i.collection = c.id) "
            "FROM collections c ORDER BY c.id"
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def analyze_if_stale(self) -> bool:
        """Refresh the query planner's statistics when the items table has grown or shrunk by
        a quarter since the last ANALYZE (or never had one). Without them SQLite takes
        ``collection = ?`` as selective and walks items_collection_dt row by row, in random
        order, through searches that match most of a collection (e.g. a CQL2 filter's count)."""
        conn = self._conn()
        if not self.stats_stale(conn):
            return False
        with self._write_lock:
            conn.execute("ANALYZE")
        return True

    @staticmethod
    def stats_stale(conn: sqlite3.Connection) -> bool:
        """Whether :meth:`analyze_if_stale` would run ANALYZE (see there), read on ``conn``."""
        known = 0
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            row = conn.execute(
                "SELECT stat FROM sqlite_stat1 WHERE idx = 'items_collection_dt'"
            ).fetchone()
            known = int(row[0].split()[0]) if row else 0
        total = int(conn.execute("SELECT max(rid) FROM items").fetchone()[0] or 0)
        return not (total < 1000 or abs(total - known) * 4 < known)

    def total_items(self) -> int:
        row = self._conn().execute("SELECT max(rid) FROM items").fetchone()
        return int(row[0] or 0)

    # --------------------------------------------------------------- queryables
    def queryables(self) -> dict[str, dict[str, str]]:
        """Property name → JSON type, per collection (cached under the catalog generation,
        which a write in any process bumps: another API worker's write is seen)."""
        conn = self._conn()
        gen = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        cached = self._queryable_cache
        if cached is not None and cached[0] == gen:
            return cached[1]
        out: dict[str, dict[str, str]] = {}
        for coll, name, typ in conn.execute("SELECT collection, name, type FROM queryables"):
            out.setdefault(coll, {})[name] = typ
        self._queryable_cache = (gen, out)
        return out

    # ----------------------------------------------------------------- search
    def search(
        self, query: SearchQuery, extra_filter: ExtraFilter = None, *, count: bool = True
    ) -> SearchResult:
        conn = self._conn()
        # With a count: one read transaction for the generation, the page and the count (WAL:
        # every statement of it reads the snapshot its first read fixed), so a cached count is
        # used only on the catalog it was computed on. A caller's own open transaction may hold
        # uncommitted writes the generation does not show yet: no cache then.
        own = count and self.count_cap > 0 and not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            counter = None
            if own:
                counter = partial(self.count_cache.count, self._generation(conn))
            with self._snapshot(conn, extra_filter) as resolved:
                plan = build_search(query, resolved, self.queryables())
                if count and resolved is not None:
                    plan.count_from = self.count_source(plan)
                return fetch_page(conn, plan, query, count_cap=self.count_cap if count else 0,
                                  counter=counter)  # fmt: skip
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")

    @staticmethod
    def _generation(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def aggregate(
        self,
        query: SearchQuery,
        aggregations: list[str],
        extra_filter: ExtraFilter = None,
        *,
        datetime_frequency_interval: str = "month",
        geohash_precision: int = 1,
        geotile_precision: int = 0,
    ) -> list[dict[str, Any]]:
        from sathub.catalog.sqlite.aggregate import run_aggregations

        conn = self._conn()
        with self._snapshot(conn, extra_filter) as resolved:
            plan = build_search(query, resolved, self.queryables())
            return run_aggregations(
                conn, plan, aggregations, datetime_frequency_interval=datetime_frequency_interval,
                geohash_precision=geohash_precision, geotile_precision=geotile_precision,
            )
