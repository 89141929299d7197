"""The embedded catalog: STAC collections and items in one SQLite file.

Layout: ``items`` holds each item's JSON as written (less the links the API regenerates) and
the columns search needs (datetime range as epoch seconds, cloud cover, bbox, WKB geometry);
``items_rtree`` is an R*Tree over the bboxes kept in step by triggers; ``queryables`` records
the property names and JSON types seen per collection. WAL mode: one writer, many readers.
Every write runs in one transaction.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import orjson

from sathub.catalog import sqlfuncs
from sathub.catalog.materialize import MaterializedSets, _KeptSet
from sathub.catalog.query import build_search, fetch_page
from sathub.catalog.store import Collection, Item, SearchQuery, SearchResult
from sathub.catalog.validate import ItemRow, check_collection, item_row
from sathub.errors import Conflict, InvalidInput, NotFound

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    id TEXT PRIMARY KEY,
    content TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    rid INTEGER PRIMARY KEY,
    collection TEXT NOT NULL REFERENCES collections(id),
    id TEXT NOT NULL,
    dt REAL NOT NULL,
    dt_start REAL NOT NULL,
    dt_end REAL NOT NULL,
    cloud_cover REAL,
    minx REAL, maxx REAL, miny REAL, maxy REAL,
    geom BLOB
);
-- The item JSON lives apart from the index columns: with ~4 KB documents inline, every row
-- would fill a page, and counting or filtering on columns would read one page per row.
CREATE TABLE IF NOT EXISTS items_content (
    rid INTEGER PRIMARY KEY,
    content TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS items_collection_id ON items (collection, id);
CREATE INDEX IF NOT EXISTS items_id ON items (id);
CREATE INDEX IF NOT EXISTS items_dt ON items (dt);
CREATE INDEX IF NOT EXISTS items_collection_dt ON items (collection, dt);
CREATE INDEX IF NOT EXISTS items_dt_end ON items (dt_end);
CREATE INDEX IF NOT EXISTS items_cloud_cover ON items (cloud_cover);
-- the commonest STAC filter, cloud cover within a collection: counted from the index alone
CREATE INDEX IF NOT EXISTS items_collection_cloud ON items (collection, cloud_cover);
CREATE VIRTUAL TABLE IF NOT EXISTS items_rtree USING rtree (rid, minx, maxx, miny, maxy);
CREATE TRIGGER IF NOT EXISTS items_rtree_insert AFTER INSERT ON items
    WHEN new.minx IS NOT NULL BEGIN
    INSERT INTO items_rtree VALUES (new.rid, new.minx, new.maxx, new.miny, new.maxy);
END;
CREATE TRIGGER IF NOT EXISTS items_rtree_update AFTER UPDATE OF minx, maxx, miny, maxy ON items
    BEGIN
    DELETE FROM items_rtree WHERE rid = old.rid;
    INSERT INTO items_rtree SELECT new.rid, new.minx, new.maxx, new.miny, new.maxy
        WHERE new.minx IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS items_rtree_delete AFTER DELETE ON items BEGIN
    DELETE FROM items_rtree WHERE rid = old.rid;
    DELETE FROM items_content WHERE rid = old.rid;
END;
CREATE TABLE IF NOT EXISTS queryables (
    collection TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (collection, name)
) WITHOUT ROWID;
"""

UPSERT_ITEM = """
INSERT INTO items (collection, id, dt, dt_start, dt_end, cloud_cover,
                   minx, maxx, miny, maxy, geom)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (collection, id) DO UPDATE SET
    dt = excluded.dt, dt_start = excluded.dt_start, dt_end = excluded.dt_end,
    cloud_cover = excluded.cloud_cover, minx = excluded.minx, maxx = excluded.maxx,
    miny = excluded.miny, maxy = excluded.maxy, geom = excluded.geom
"""
PUT_CONTENT = """
INSERT INTO items_content (rid, content)
SELECT rid, ? FROM items WHERE collection = ? AND id = ?
ON CONFLICT (rid) DO UPDATE SET content = excluded.content
"""
INSERT_ITEM = UPSERT_ITEM[: UPSERT_ITEM.index("ON CONFLICT")]
assert "CONFLICT" not in INSERT_ITEM


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _row_params(row: ItemRow) -> tuple[Any, ...]:
    return (
        row.collection,
        row.id,
        row.dt,
        row.dt_start,
        row.dt_end,
        row.cloud_cover,
        row.minx,
        row.maxx,
        row.miny,
        row.maxy,
        row.geom,
    )


# Secondary indexes and R*Tree triggers that a load into an empty catalog builds at the end
# (sorting once is several times faster than growing them row by row). The unique
# (collection, id) index stays: upserts and content rows find their items through it.
DEFERRED_INDEXES = ("items_id", "items_dt", "items_collection_dt", "items_dt_end",
                    "items_cloud_cover", "items_collection_cloud")  # fmt: skip
DEFERRED_TRIGGERS = ("items_rtree_insert", "items_rtree_update")
_DDL = {
    m.group(1): m.group(0)
    for pattern in (r"CREATE INDEX IF NOT EXISTS (\w+)[^;]*;",
                    r"CREATE TRIGGER IF NOT EXISTS (\w+).*?\bEND;")
    for m in re.finditer(pattern, SCHEMA, re.DOTALL)
}  # fmt: skip
assert set(DEFERRED_INDEXES) | set(DEFERRED_TRIGGERS) <= set(_DDL), sorted(_DDL)


class SQLiteTransaction:
    """Writes inside one SQLite transaction (see :class:`sathub.catalog.store.Transaction`)."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self._queryables: dict[tuple[str, str], str] = {}
        self._collections: set[str] = set()
        self._deferred = False

    def defer_indexes(self) -> bool:
        """For a bulk load into an empty catalog: drop the secondary indexes and the R*Tree
        triggers now, rebuild them in :meth:`flush` (same transaction, so all or nothing).
        Returns False (nothing done) when the catalog already holds items."""
        if self.conn.execute("SELECT 1 FROM items LIMIT 1").fetchone():
            return False
        for name in DEFERRED_INDEXES:
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        for name in DEFERRED_TRIGGERS:
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        self._deferred = True
        return True

    def _rebuild_deferred(self) -> None:
        # in row order (a sequential read; sorting spatially first was measured slower)
        self.conn.execute(
            "INSERT INTO items_rtree SELECT rid, minx, maxx, miny, maxy FROM items "
            "WHERE minx IS NOT NULL"
        )
        for name in (*DEFERRED_INDEXES, *DEFERRED_TRIGGERS):
            self.conn.execute(_DDL[name])
        self._deferred = False

    def require_collection(self, collection_id: str) -> None:
        if collection_id in self._collections:
            return
        if self.conn.execute("SELECT 1 FROM collections WHERE id = ?", (collection_id,)).fetchone():
            self._collections.add(collection_id)
            return
        raise NotFound(f"collection {collection_id!r} does not exist", field="collection")

    def put_item(
        self,
        item: Item,
        *,
        mode: Literal["insert", "upsert"] = "upsert",
        collection_id: str | None = None,
    ) -> ItemRow:
        row = item_row(item, collection_id=collection_id)
        self.put_rows([row], mode=mode)
        return row

    def put_rows(self, rows: list[ItemRow], *, mode: Literal["insert", "upsert"] = "upsert") -> None:
        for coll in {r.collection for r in rows}:
            self.require_collection(coll)
        sql = UPSERT_ITEM if mode == "upsert" else INSERT_ITEM
        try:
            self.conn.executemany(sql, [_row_params(r) for r in rows])
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                dup = self._first_existing(rows)
                raise Conflict(f"item {dup!r} already exists", field="id") from exc
            raise
        self.conn.executemany(
            PUT_CONTENT, [(orjson.dumps(r.content).decode(), r.collection, r.id) for r in rows]
        )
        q = self._queryables
        for r in rows:
            for name, value in r.content["properties"].items():
                if (r.collection, name) not in q:
                    q[(r.collection, name)] = _json_type(value)

    def _first_existing(self, rows: list[ItemRow]) -> str:
        seen: set[tuple[str, str]] = set()
        for r in rows:
            if (r.collection, r.id) in seen:
                return r.id
            seen.add((r.collection, r.id))
            if self.conn.execute(
                "SELECT 1 FROM items WHERE collection = ? AND id = ?", (r.collection, r.id)
            ).fetchone():
                return r.id
        return "?"

    def delete_item(self, collection_id: str, item_id: str) -> None:
        cur = self.conn.execute(
            "DELETE FROM items WHERE collection = ? AND id = ?", (collection_id, item_id)
        )
        if cur.rowcount == 0:
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")

    def put_collection(
        self, collection: Collection, *, mode: Literal["insert", "upsert"] = "upsert"
    ) -> Collection:
        doc = check_collection(collection)
        doc.setdefault("type", "Collection")
        content = orjson.dumps(doc).decode()
        if mode == "insert":
            try:
                self.conn.execute(
                    "INSERT INTO collections (id, content) VALUES (?, ?)", (doc["id"], content)
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"collection {doc['id']!r} already exists", field="id") from exc
        else:
            self.conn.execute(
                "INSERT INTO collections (id, content) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET content = excluded.content",
                (doc["id"], content),
            )
        self._collections.add(doc["id"])
        return doc

    def flush(self) -> None:
        if self._deferred:
            self._rebuild_deferred()
        if self._queryables:
            self.conn.executemany(
                "INSERT OR IGNORE INTO queryables (collection, name, type) VALUES (?, ?, ?)",
                [(c, n, t) for (c, n), t in self._queryables.items()],
            )
            self._queryables.clear()


def _migrate_inline_content(conn: sqlite3.Connection) -> None:
    """Catalogs written before the item JSON moved to ``items_content`` kept it in
    ``items.content``: move it over, in one transaction, the first time such a file is
    opened."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
    if "content" not in columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT OR REPLACE INTO items_content (rid, content) SELECT rid, content FROM items")
        conn.execute("ALTER TABLE items DROP COLUMN content")
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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
            _migrate_inline_content(conn)

    # ------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA case_sensitive_like=ON")
            conn.execute(f"PRAGMA cache_size=-{int(self.cache_mb) * 1024}")  # KiB, per connection
            # mmap: file pages count in the RSS of every connection that maps them
            conn.execute(f"PRAGMA mmap_size={int(self.mmap_mb) * 1024 * 1024}")
            conn.execute("PRAGMA temp_store=MEMORY")
            sqlfuncs.register(conn)
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
        try:
            yield
        finally:
            conn.execute(f"PRAGMA cache_size=-{int(self.cache_mb) * 1024}")
            conn.execute("PRAGMA shrink_memory")

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
        return [orjson.loads(r[0]) for r in rows]

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
        self, collection_id: str, item_id: str, extra_filter: dict[str, Any] | None = None
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
        sql = "SELECT c.content FROM items i JOIN items_content c ON c.rid = i.rid"
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
        known = 0
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            row = conn.execute(
                "SELECT stat FROM sqlite_stat1 WHERE idx = 'items_collection_dt'"
            ).fetchone()
            known = int(row[0].split()[0]) if row else 0
        total = self.total_items()
        if total < 1000 or abs(total - known) * 4 < known:
            return False
        with self._write_lock:
            conn.execute("ANALYZE")
        return True

    def total_items(self) -> int:
        row = self._conn().execute("SELECT max(rid) FROM items").fetchone()
        return int(row[0] or 0)

    # --------------------------------------------------------------- queryables
    def queryables(self) -> dict[str, dict[str, str]]:
        """Property name → JSON type, per collection (cached until the next write)."""
        cached = self._queryable_cache
        if cached is not None and cached[0] == self._version:
            return cached[1]
        out: dict[str, dict[str, str]] = {}
        for coll, name, typ in self._conn().execute(
            "SELECT collection, name, type FROM queryables"
        ):
            out.setdefault(coll, {})[name] = typ
        self._queryable_cache = (self._version, out)
        return out

    # ----------------------------------------------------------------- search
    def search(
        self,
        query: SearchQuery,
        extra_filter: dict[str, Any] | None = None,
        *,
        count: bool = True,
    ) -> SearchResult:
        conn = self._conn()
        with self._snapshot(conn, extra_filter) as resolved:
            plan = build_search(query, resolved, self.queryables())
            return fetch_page(conn, plan, query, count_cap=self.count_cap if count else 0)

    # --------------------------------------------------- materialised filters
    def aggregate(
        self,
        query: SearchQuery,
        aggregations: list[str],
        extra_filter: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        from sathub.catalog.aggregate import run_aggregations

        conn = self._conn()
        with self._snapshot(conn, extra_filter) as resolved:
            plan = build_search(query, resolved, self.queryables())
            return run_aggregations(conn, plan, aggregations, **options)
