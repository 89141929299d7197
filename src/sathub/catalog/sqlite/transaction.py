"""Writes of the SQLite catalog inside one transaction (see
:class:`sathub.catalog.store.Transaction`)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

import orjson

from sathub.catalog.prepare import Encoded, json_type
from sathub.catalog.sqlite.schema import (
    _DDL,
    DEFERRED_INDEXES,
    DEFERRED_TRIGGERS,
    INSERT_ITEM,
    PUT_CONTENT,
    UPSERT_ITEM,
)
from sathub.catalog.store import Collection, Item
from sathub.catalog.validate import ItemRow, check_collection, dump_item, item_row
from sathub.errors import Conflict, NotFound

if TYPE_CHECKING:
    from sathub.catalog.sqlite.store import SQLiteStore


# Into an empty catalog (deferred indexes): rows appended with their row ids, no index but
# the primary keys maintained; duplicates of (collection, id) are merged at the end.
APPEND_ITEM = (
    "INSERT INTO items (rid, collection, id, dt, dt_start, dt_end, cloud_cover, minx, maxx, miny, "
    "maxy, geom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
APPEND_CONTENT = "INSERT INTO items_content (rid, content) VALUES (?, ?)"
UNIQUE_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS items_collection_id ON items (collection, id)"
_COLUMNS = "dt, dt_start, dt_end, cloud_cover, minx, maxx, miny, maxy, geom"
_BOX = itemgetter(6, 7, 8, 9)  # minx, maxx, miny, maxy of an encoded row


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


class SQLiteTransaction:
    """Writes inside one SQLite transaction (see :class:`sathub.catalog.store.Transaction`)."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self._queryables: dict[tuple[str, str], str] = {}
        self._collections: set[str] = set()
        self._deferred = False
        self._appending = False  # deferred indexes, no (collection, id) index yet
        self._next_rid = 0
        # the boxes of the rows appended (first row id, (n, 4) float64 array) while indexes
        # are deferred, for the packed R*Tree; None when not collecting
        self._boxes: list[tuple[int, Any]] | None = None
        self.wrote_items = False

    def defer_indexes(self) -> bool:
        """For a bulk load into an empty catalog: drop the secondary indexes and the R*Tree
        triggers now, rebuild them in :meth:`flush` (same transaction, so all or nothing).
        Returns False (nothing done) when the catalog already holds items."""
        if self.conn.execute("SELECT 1 FROM items LIMIT 1").fetchone():
            return False
        for name in (*DEFERRED_INDEXES, "items_collection_id"):
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        for name in DEFERRED_TRIGGERS:
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        self._deferred = self._appending = True
        top = self.conn.execute(
            "SELECT max(coalesce((SELECT max(rid) FROM items), 0), "
            "coalesce((SELECT max(rid) FROM items_content), 0))"
        ).fetchone()[0]
        self._next_rid = int(top) + 1
        self._boxes = [] if self.PACK_RTREE else None
        return True

    def _unique(self) -> bool:
        """The (collection, id) index, after merging duplicates appended by the load: the
        first row keeps its row id and takes the last one's columns and JSON (an upsert).
        True when there were duplicates (rows changed and deleted)."""
        if not self._appending:
            return False
        self._appending = False
        try:
            self.conn.execute(UNIQUE_INDEX)
            return False
        except sqlite3.IntegrityError:
            pass
        c = self.conn
        c.execute("DROP TABLE IF EXISTS temp.load_dups")
        c.execute("CREATE TEMP TABLE load_dups AS SELECT collection, id, min(rid) AS keep, "
                  "max(rid) AS last FROM items GROUP BY collection, id HAVING count(*) > 1")  # fmt: skip
        c.execute("CREATE INDEX temp.load_dups_keep ON load_dups (keep)")
        c.execute("CREATE INDEX temp.load_dups_key ON load_dups (collection, id)")
        c.execute(f"UPDATE items SET ({_COLUMNS}) = (SELECT {_COLUMNS} FROM items l WHERE l.rid = "
                  "(SELECT last FROM load_dups d WHERE d.keep = items.rid)) "
                  "WHERE rid IN (SELECT keep FROM load_dups)")  # fmt: skip
        c.execute("UPDATE items_content SET content = (SELECT l.content FROM items_content l WHERE l.rid = "
                  "(SELECT last FROM load_dups d WHERE d.keep = items_content.rid)) "
                  "WHERE rid IN (SELECT keep FROM load_dups)")  # fmt: skip
        c.execute("DELETE FROM items WHERE rid IN (SELECT i.rid FROM items i JOIN load_dups d "
                  "ON d.collection = i.collection AND d.id = i.id WHERE i.rid != d.keep)")  # fmt: skip
        c.execute("DROP TABLE temp.load_dups")
        c.execute(UNIQUE_INDEX)
        return True

    # The page cache while the indexes are sorted: SQLite's sorter keeps up to a cache's worth
    # of keys in one in-memory run; at 1,000,000 items a CREATE INDEX took ~2.2 s of CPU with
    # 32 MB and ~3.0 s with the 256 MB of a bulk load (sorted runs that fit the CPU caches,
    # then merged). With temp_store=FILE (SQLiteStore.bulk_cache) the runs are sorted in a
    # helper thread, but only when there are several: at 32 MB the date and cloud cover
    # indexes (8-byte keys) fit one run and sorted on the writer's thread. Main-thread CPU of
    # the seven indexes at 1,000,000 items (index phase alone, machine loaded): 9.6-11.3 s at
    # 32 MB, 7.0-7.1 s at 24, 7.6-8.7 s at 16, 8.6 s at 8; process CPU 17.4-19.9 s for all.
    # The caller's size comes back with the end of the bulk load.
    INDEX_CACHE_MB = 24

    def _rebuild_deferred(self) -> None:
        self.conn.execute(f"PRAGMA cache_size=-{self.INDEX_CACHE_MB * 1024}")
        # The packed R*Tree is computed in another thread from the boxes collected as the rows
        # were appended, while this one builds the indexes (sqlite3 releases the GIL while a
        # statement runs: the idle core of a load's end). Only when every write was an append
        # (no early _unique) and no duplicates were merged do they match the table.
        planned = self._plan_rtree() if self._appending else None
        merged = self._unique()
        for name in DEFERRED_INDEXES:
            self.conn.execute(_DDL[name])
        if merged or planned is None:
            self._fill_rtree()
        elif (packed := planned()) is not None:
            from sathub.catalog.sqlite.rtree_pack import write

            write(self.conn, "main.items_rtree", packed)
        for name in DEFERRED_TRIGGERS:
            self.conn.execute(_DDL[name])
        self._deferred = False
        self._boxes = None

    PACK_RTREE = True  # False: insert entry by entry (the tests compare both)

    def _collect_boxes(self, first: int, rows: Sequence[Encoded]) -> None:
        """Keep the boxes of ``rows``, appended with row ids from ``first`` (a row with no
        box: NaN, as the SELECT of :meth:`_rtree_rows` leaves it out)."""
        import numpy as np

        assert self._boxes is not None
        try:  # 0.34 µs a row, where a list of tuples into np.array costs 0.53
            box = np.fromiter(chain.from_iterable(map(_BOX, rows)), np.float64, 4 * len(rows))
        except TypeError:  # None: an item without geometry
            box = np.array([_BOX(r) for r in rows], dtype=np.float64)  # None becomes NaN
        self._boxes.append((first, box.reshape(-1, 4)))

    def _collected_rows(self) -> Any:
        """The (n, 5) rows (row id, min x, max x, min y, max y) of the collected boxes, in
        row id order, those with no box left out (what :meth:`_rtree_rows` reads)."""
        import numpy as np

        parts = []
        for first, box in self._boxes or ():
            part = np.empty((len(box), 5), dtype=np.float64)
            part[:, 0] = np.arange(first, first + len(box))
            part[:, 1:] = box
            parts.append(part[~np.isnan(box[:, 0])])
        return np.concatenate(parts) if parts else np.empty((0, 5), dtype=np.float64)

    def _rtree_rows(self) -> Any:
        import numpy as np

        select = "SELECT rid, minx, maxx, miny, maxy FROM items WHERE minx IS NOT NULL"
        return np.array(self.conn.execute(select).fetchall(), dtype=np.float64).reshape(-1, 5)

    def _rtree_empty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM main.items_rtree_rowid LIMIT 1").fetchone() is None

    def _node_size(self) -> int:
        return int(self.conn.execute(
            "SELECT length(data) FROM main.items_rtree_node WHERE nodeno = 1").fetchone()[0])  # fmt: skip

    def _plan_rtree(self) -> Callable[[], Any] | None:
        """Start packing the collected boxes in a thread; returns the call that waits for the
        result (a :class:`~sathub.catalog.sqlite.rtree_pack.Packed`, None when there is no
        box; the thread's exception raised there). None when no boxes were collected or the
        tree is not empty."""
        if self._boxes is None or not (self.PACK_RTREE and self._rtree_empty()):
            return None
        rows = self._collected_rows()
        if not len(rows):
            return lambda: None
        from sathub.catalog.sqlite.rtree_pack import plan

        size, out = self._node_size(), dict[str, Any]()

        def run() -> None:
            try:
                out["packed"] = plan(rows, size)
            except BaseException as exc:  # raised in the caller's thread by wait()
                out["error"] = exc

        thread = threading.Thread(target=run, name="sathub-rtree-pack", daemon=True)
        thread.start()

        def wait() -> Any:
            thread.join()
            if "error" in out:
                raise out["error"]
            return out["packed"]

        return wait

    def _fill_rtree(self) -> None:
        """Fill the (empty) R*Tree with every item's bbox read from the table: packed in one
        pass (:mod:`~sathub.catalog.sqlite.rtree_pack`, ~5 µs an entry under load, where
        inserting entries one by one cost 12 µs in memory and 30-50 µs in the file under a
        page cache full of the load's dirty pages). Entries are inserted one by one when the
        tree is not empty."""
        c = self.conn
        if not (self.PACK_RTREE and self._rtree_empty()):
            # in row order (a sequential read; sorting spatially first was measured slower)
            c.execute("INSERT INTO main.items_rtree "
                      "SELECT rid, minx, maxx, miny, maxy FROM items WHERE minx IS NOT NULL")  # fmt: skip
            return
        from sathub.catalog.sqlite.rtree_pack import pack

        rows = self._rtree_rows()
        if len(rows):
            pack(c, "main.items_rtree", rows, self._node_size())

    def dictionary_ids(self) -> frozenset[int]:
        """The ids of the compression dictionaries in the catalog."""
        return frozenset(r[0] for r in self.conn.execute("SELECT id FROM item_dicts"))

    def add_dictionary(self, dict_id: int, data: bytes) -> None:
        """A compression dictionary that the item JSON written next may name
        (:mod:`~sathub.catalog.itemzip`)."""
        self.conn.execute("INSERT INTO item_dicts (id, dict) VALUES (?, ?)", (dict_id, data))

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

    def put_encoded(self, rows: Sequence[Encoded], queryables: dict[tuple[str, str], str]) -> None:
        """Upsert rows validated and encoded by :mod:`sathub.catalog.prepare` (collections
        already required by the caller)."""
        if not rows:
            return
        self.wrote_items = True
        if self._appending:
            n = self._next_rid
            self.conn.executemany(APPEND_ITEM, [(n + k, *r[:11]) for k, r in enumerate(rows)])
            self.conn.executemany(APPEND_CONTENT, [(n + k, r[11]) for k, r in enumerate(rows)])
            self._next_rid = n + len(rows)
            if self._boxes is not None:
                self._collect_boxes(n, rows)
        else:
            self.conn.executemany(UPSERT_ITEM, [r[:11] for r in rows])
            self.conn.executemany(PUT_CONTENT, [(r[11], r[0], r[1]) for r in rows])
        for k, v in queryables.items():
            self._queryables.setdefault(k, v)

    def put_rows(
        self, rows: Sequence[ItemRow], *, mode: Literal["insert", "upsert"] = "upsert"
    ) -> None:
        for coll in {r.collection for r in rows}:
            self.require_collection(coll)
        if self._appending and mode == "upsert":
            q: dict[tuple[str, str], str] = {}
            for r in rows:
                for name, value in r.content["properties"].items():
                    q.setdefault((r.collection, name), json_type(value))
            self.put_encoded([(*_row_params(r), dump_item(r.content).decode()) for r in rows], q)
            return
        self._unique()  # an insert checks for duplicates at once
        sql = UPSERT_ITEM if mode == "upsert" else INSERT_ITEM
        self.wrote_items = self.wrote_items or bool(rows)
        try:
            self.conn.executemany(sql, [_row_params(r) for r in rows])
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                dup = self._first_existing(rows)
                raise Conflict(f"item {dup!r} already exists", field="id") from exc
            raise
        self.conn.executemany(
            PUT_CONTENT, [(dump_item(r.content).decode(), r.collection, r.id) for r in rows]
        )
        q = self._queryables
        for r in rows:
            for name, value in r.content["properties"].items():
                if (r.collection, name) not in q:
                    q[(r.collection, name)] = json_type(value)

    def _first_existing(self, rows: Sequence[ItemRow]) -> str:
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
        self._unique()
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
        rebuilt = self._deferred
        if self._deferred:
            self._rebuild_deferred()
        if self._queryables:
            self.conn.executemany(
                "INSERT OR IGNORE INTO queryables (collection, name, type) VALUES (?, ?, ?)",
                [(c, n, t) for (c, n), t in self._queryables.items()],
            )
            self._queryables.clear()
        if rebuilt and self.ANALYZE_IN_LOAD and self.store.stats_stale(self.conn):
            # the planner's statistics of the new indexes in the load's own transaction:
            # readers never see the indexes without them (see SQLiteStore.analyze_if_stale),
            # and the reads of ANALYZE find index pages still in the page cache
            self.conn.execute("ANALYZE")

    ANALYZE_IN_LOAD = True  # False: after the commit, in a transaction of its own


