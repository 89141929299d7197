"""Writes of the pgstac catalog inside one PostgreSQL transaction (see
:class:`sathub.catalog.store.Transaction`): items go through pgstac's loader path (``COPY`` into
its staging tables, whose triggers partition and insert them), collections through pgstac's
functions. sathub's queryables (per collection, with the JSON type first seen) are written in
the same transaction, and each new name is registered in pgstac's ``queryables`` table with
its type, so pgstac compares and sorts numbers as numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
from psycopg import errors as pgerrors
from psycopg.types.json import Jsonb

from sathub.catalog.pgstac.db import PARTITIONS_LOCK
from sathub.catalog.prepare import json_type
from sathub.catalog.store import Collection, Item, Mode
from sathub.catalog.validate import ItemRow, check_collection, item_row
from sathub.errors import Conflict, InvalidGeometry, InvalidInput, NotFound

NUL = "a NUL character (U+0000) in a text, which PostgreSQL cannot store"

if TYPE_CHECKING:
    from sathub.catalog.pgstac.store import PgstacStore

# pgstac reads a property through a wrapper chosen by the JSON-schema type of its queryable
PGSTAC_TYPES = {"number": {"type": "number"}}
STAGING = {"insert": "items_staging", "upsert": "items_staging_upsert"}


class PgstacTransaction:
    def __init__(self, store: PgstacStore, conn: psycopg.Connection[Any]) -> None:
        self.store = store
        self.conn = conn
        self._collections: set[str] = set()
        self._created: set[str] = set()  # collections this transaction wrote
        self._widened: set[str] = set()
        self._partitions_locked = False
        self._queryables: dict[tuple[str, str], str] = {}
        self.wrote_items = False

    def require_collection(self, collection_id: str) -> None:
        if collection_id in self._collections:
            return
        if "\x00" in collection_id:  # no collection can have one (psycopg refuses to send it)
            raise NotFound(f"collection {collection_id!r} does not exist", field="collection")
        if self.conn.execute("SELECT 1 FROM collections WHERE id = %s", [collection_id]).fetchone():
            self._collections.add(collection_id)
            return
        raise NotFound(f"collection {collection_id!r} does not exist", field="collection")

    def put_item(self, item: Item, *, mode: Mode = "upsert", collection_id: str | None = None) -> ItemRow:
        row = item_row(item, collection_id=collection_id)
        self.put_rows([row], mode=mode)
        return row

    def put_rows(self, rows: Sequence[ItemRow], *, mode: Mode = "upsert") -> None:
        if not rows:
            return
        for coll in {r.collection for r in rows}:
            self.require_collection(coll)
        for r in rows:
            if r.geom is None:
                raise InvalidGeometry(
                    f"item {r.id!r}: the pgstac catalog needs a geometry (null is not stored)",
                    field="geometry")  # fmt: skip
        colls = {r.collection for r in rows}
        fresh = colls - self._created - self._widened
        if fresh:  # before this transaction reads items (it would hold the widening up)
            self._widened |= self.store.widen_partitions(fresh, holding=True)
        if not self._partitions_locked and colls - self._widened:
            # pgstac's loader will change these partitions in this transaction (made here, or
            # no connection to spare or no lock in time for the widening): one such writer
            # at a time
            self.conn.execute(PARTITIONS_LOCK)
            self._partitions_locked = True
        if mode == "insert":
            self._refuse_existing(rows)
        self.wrote_items = True
        with self.conn.cursor() as cur:
            try:
                with cur.copy(f"COPY pgstac.{STAGING[mode]} (content) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row((orjson.dumps(r.content).decode(),))
            except pgerrors.UniqueViolation as exc:
                raise Conflict(f"item {rows[0].id!r} already exists", field="id") from exc
            except pgerrors.UntranslatableCharacter as exc:  # jsonb cannot hold U+0000
                raise InvalidInput(f"{NUL}: {str(exc).splitlines()[-1][:200]}", field="item") from exc
        q = self._queryables
        for r in rows:
            for name, value in r.content["properties"].items():
                if (r.collection, name) not in q:
                    q[(r.collection, name)] = json_type(value)

    def _refuse_existing(self, rows: Sequence[ItemRow]) -> None:
        seen: set[tuple[str, str]] = set()
        for r in rows:
            if (r.collection, r.id) in seen:
                raise Conflict(f"item {r.id!r} already exists", field="id")
            seen.add((r.collection, r.id))
        colls = [c for c, _ in seen]
        ids = [i for _, i in seen]
        hit = self.conn.execute(
            "SELECT i.id FROM items i JOIN unnest(%s::text[], %s::text[]) AS k(c, id) "
            "ON i.collection = k.c AND i.id = k.id LIMIT 1", [colls, ids]).fetchone()  # fmt: skip
        if hit:
            raise Conflict(f"item {hit[0]!r} already exists", field="id")

    def delete_item(self, collection_id: str, item_id: str) -> None:
        if "\x00" in collection_id + item_id:  # none can exist (psycopg refuses to send it)
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        cur = self.conn.execute(
            "DELETE FROM items WHERE collection = %s AND id = %s", [collection_id, item_id])
        if cur.rowcount == 0:
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        self.wrote_items = True

    def put_collection(self, collection: Collection, *, mode: Mode = "upsert") -> Collection:
        doc = check_collection(collection)
        doc.setdefault("type", "Collection")
        fn = "create_collection" if mode == "insert" else "upsert_collection"
        try:
            with self.conn.transaction():  # a savepoint: the error is ours to report
                self.conn.execute(f"SELECT {fn}(%s)", [Jsonb(doc)])
        except pgerrors.UniqueViolation as exc:
            raise Conflict(f"collection {doc['id']!r} already exists", field="id") from exc
        except pgerrors.UntranslatableCharacter as exc:  # jsonb cannot hold U+0000
            raise InvalidInput(NUL, field="collection") from exc
        self._collections.add(doc["id"])
        self._created.add(doc["id"])
        return doc

    def flush(self) -> None:
        """sathub's queryables, and the new names in pgstac's queryables; then the generation."""
        if self._queryables:
            fresh = self._queryables  # deduplicated per transaction; the table decides
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO sathub.queryables (collection, name, type) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING", [(c, n, t) for (c, n), t in fresh.items()])  # fmt: skip
                names = {n: t for (_, n), t in fresh.items() if t in PGSTAC_TYPES}
                if names:
                    cur.execute("SELECT name FROM queryables WHERE name = ANY(%s)", [list(names)])
                    missing = set(names) - {r[0] for r in cur.fetchall()}
                    if missing:
                        # one writer at a time adds names (pgstac refuses a name twice)
                        cur.execute("SELECT pg_advisory_xact_lock(hashtext('sathub.queryables'))")
                        cur.executemany(
                            "INSERT INTO queryables (name, definition) SELECT %s, %s "
                            "WHERE NOT EXISTS (SELECT 1 FROM queryables WHERE name = %s)",
                            [(n, Jsonb(PGSTAC_TYPES[names[n]]), n) for n in sorted(missing)])  # fmt: skip
            self._queryables.clear()
        self.conn.execute(
            "UPDATE sathub.catalog_meta SET value = (value::bigint + 1)::text "
            "WHERE key = 'generation'")  # fmt: skip
