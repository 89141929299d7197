"""Registered mosaic searches in PostgreSQL (``sathub.mosaic_searches``): the
:class:`~sathub.tiles.searches.SearchStore` of an installation whose state is in PostgreSQL, so
that a mosaic registered through one API machine is served by every other. The table is made on
open under the schema's advisory lock (as the other state tables). A body is kept as the JSON
text it was registered with; ``used`` orders the eviction of the least recently registered."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any

from sathub.pg import Pool, unavailable_as_503
from sathub.tiles.searches import CACHED, MAX_SEARCHES, valid_id

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS sathub;
CREATE TABLE IF NOT EXISTS sathub.mosaic_searches (
    id text PRIMARY KEY, body text NOT NULL, used double precision NOT NULL);
CREATE INDEX IF NOT EXISTS mosaic_searches_used ON sathub.mosaic_searches (used);
"""
WHAT = "the registered mosaic searches"


class PgSearchStore:
    def __init__(self, pool: Pool, max_entries: int = MAX_SEARCHES) -> None:
        self.pool = pool
        self.max_entries = max_entries
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()  # a body never changes
        self._lock = threading.Lock()
        with unavailable_as_503(WHAT), pool.connection() as c, c.transaction():
            c.execute("SELECT pg_advisory_xact_lock(hashtext('sathub.schema'))")
            c.execute(SCHEMA)

    def put(self, search_id: str, body: dict[str, Any]) -> None:
        assert valid_id(search_id), search_id
        with unavailable_as_503(WHAT), self.pool.connection() as c:
            c.execute("INSERT INTO sathub.mosaic_searches VALUES (%s, %s, %s) "
                      "ON CONFLICT (id) DO UPDATE SET used = greatest(excluded.used, "
                      "sathub.mosaic_searches.used)",
                      (search_id, json.dumps(body, sort_keys=True), time.time()))  # fmt: skip
            c.execute("DELETE FROM sathub.mosaic_searches WHERE id IN (SELECT id FROM "
                      "sathub.mosaic_searches ORDER BY used DESC, id OFFSET %s)",
                      (self.max_entries,))  # fmt: skip
        self._remember(search_id, body)

    def get(self, search_id: str) -> dict[str, Any] | None:
        if not valid_id(search_id):
            return None
        with self._lock:
            if search_id in self._cache:
                self._cache.move_to_end(search_id)
                return self._cache[search_id]
        with unavailable_as_503(WHAT), self.pool.connection() as c:
            row = c.execute("SELECT body FROM sathub.mosaic_searches WHERE id = %s", (search_id,)).fetchone()
        if row is None:
            return None
        body = json.loads(row[0])
        if not isinstance(body, dict):
            return None
        self._remember(search_id, body)
        return body

    def ids(self) -> list[str]:
        with unavailable_as_503(WHAT), self.pool.connection() as c:
            return [r[0] for r in c.execute("SELECT id FROM sathub.mosaic_searches").fetchall()]

    def _remember(self, search_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._cache[search_id] = body
            self._cache.move_to_end(search_id)
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)


__all__ = ["PgSearchStore"]
