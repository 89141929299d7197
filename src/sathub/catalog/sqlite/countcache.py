"""Counts of search matches kept across the pages of a search while the catalog is unchanged.

Every page of a search reports ``numberMatched``, and the count's WHERE is the search's own,
without the paging condition: pages 2, 3, … of a search count what page 1 counted. A
:class:`CountCache` keeps :func:`~sathub.catalog.query.count_matches`' answers under

- the catalog generation, read in the read transaction that also reads the page and runs the
  count (``meta.generation``: every write transaction of any process bumps it, in the same
  transaction as its writes; see ``SQLiteStore.transaction``), so an entry is only used for
  the snapshot of the catalog it was computed on;
- the exact inputs of the count's SQL: the table, the WHERE text, the parameters (each with
  its type: SQLite compares ``1`` and ``1.0`` differently with a text column) and the cap.
  A caller's access filter is part of the WHERE and its parameters (kept sets are temporary
  tables named after the filter's cache key, holding that filter's rows at the generation),
  so an entry is never shared between different filters.

Bounded: at most ``size`` entries (least recently used dropped first), and a count whose
WHERE and parameters pass ``max_key_bytes`` (a large intersects polygon) is not kept.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from typing import Any

from sathub.catalog.query import count_matches

# Parameter types whose equal Python values bind to the same SQLite value (bool, datetime and
# other adapted types are not cached: a count with one runs uncached)
_SIMPLE = (int, str, bytes, type(None))


def _param_key(params: list[Any]) -> tuple[Any, ...] | None:
    out: list[Any] = []
    for p in params:
        t = type(p)
        if t is float:
            out.append((float, p.hex()))  # -0.0 and 0.0 are equal in Python, not as text
        elif t in _SIMPLE:
            out.append((t, p))
        else:
            return None
    return tuple(out)


def _size(where: str, params: list[Any]) -> int:
    return len(where) + sum(len(p) if isinstance(p, (str, bytes)) else 8 for p in params)


class CountCache:
    """A bounded LRU of ``count_matches`` answers per (generation, table, WHERE, params, cap);
    thread-safe (one per store, shared by its connections)."""

    def __init__(self, size: int = 256, max_key_bytes: int = 32 * 1024) -> None:
        self.size = size
        self.max_key_bytes = max_key_bytes
        self._entries: OrderedDict[tuple[Any, ...], tuple[int, bool]] = OrderedDict()
        self._generation = -1  # the newest generation seen; older entries are dropped
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def count(
        self, generation: int, conn: sqlite3.Connection, where: str, params: list[Any], cap: int,
        *, table: str = "items",
    ) -> tuple[int, bool]:
        """``count_matches(conn, where, params, cap, table=table)``, from the cache when it was
        computed at ``generation``. The caller reads ``generation`` in the read transaction
        ``conn`` runs the count in (the same snapshot)."""
        pkey = _param_key(params)
        if pkey is None or self.size <= 0 or _size(where, params) > self.max_key_bytes:
            return count_matches(conn, where, params, cap, table=table)
        key = (generation, table, where, pkey, cap)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
        out = count_matches(conn, where, params, cap, table=table)
        with self._lock:
            if generation > self._generation:
                # a write happened: every entry is of an older snapshot
                self._entries.clear()
                self._generation = generation
            if generation == self._generation:  # not a reader still on an older snapshot
                self._entries[key] = out
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return out
