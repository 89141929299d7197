"""Writes of the SQLite catalog inside one transaction (see
:class:`sathub.catalog.store.Transaction`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import orjson

from sathub.catalog.sqlite.schema import (
    _DDL,
    DEFERRED_INDEXES,
    DEFERRED_TRIGGERS,
    INSERT_ITEM,
    PUT_CONTENT,
    UPSERT_ITEM,
)
from sathub.catalog.store import Collection, Item
from sathub.catalog.validate import ItemRow, check_collection, item_row
from sathub.errors import Conflict, NotFound

if TYPE_CHECKING:
    from sathub.catalog.sqlite.store import SQLiteStore


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


class SQLiteTransaction:
    """Writes inside one SQLite transaction (see :class:`sathub.catalog.store.Transaction`)."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self._queryables: dict[tuple[str, str], str] = {}
        self._collections: set[str] = set()
        self._deferred = False
        self.wrote_items = False

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

    def put_rows(
        self, rows: Sequence[ItemRow], *, mode: Literal["insert", "upsert"] = "upsert"
    ) -> None:
        for coll in {r.collection for r in rows}:
            self.require_collection(coll)
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
            PUT_CONTENT, [(orjson.dumps(r.content).decode(), r.collection, r.id) for r in rows]
        )
        q = self._queryables
        for r in rows:
            for name, value in r.content["properties"].items():
                if (r.collection, name) not in q:
                    q[(r.collection, name)] = _json_type(value)

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


