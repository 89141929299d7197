"""The SQLite catalog's schema: tables, indexes, R*Tree and triggers, the item statements, the
indexes a bulk load into an empty catalog builds at the end, and migrations of older files.

Layout: ``items`` holds the columns search needs (datetime range as epoch seconds, cloud cover,
bbox, WKB geometry); ``items_content`` each item's JSON as written (less the links the API
regenerates); ``items_rtree`` is an R*Tree over the bboxes kept in step by triggers;
``queryables`` records the property names and JSON types seen per collection; ``meta`` the
schema version and the generation (bumped by every write transaction, in any process).
"""

from __future__ import annotations

import re
import sqlite3

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
-- zstd dictionaries that compressed item JSON names (itemzip.py; content TEXT: uncompressed)
CREATE TABLE IF NOT EXISTS item_dicts (id INTEGER PRIMARY KEY, dict BLOB NOT NULL);
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


def migrate_inline_content(conn: sqlite3.Connection) -> None:
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


