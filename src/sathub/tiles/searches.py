"""Registered mosaic searches: a small in-memory LRU, apart from ``mosaic.py`` so that
registering a search does not load the raster libraries."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

MAX_SEARCHES = 1000


class SearchRegistry:
    """Registered searches (id → normalised search body), bounded LRU in memory.

    The id is a hash of the body, so registering the same search twice gives the same id and
    every API worker computes the same id.
    """

    def __init__(self, max_entries: int = MAX_SEARCHES) -> None:
        self._data: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def put(self, search_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._data[search_id] = body
            self._data.move_to_end(search_id)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def get(self, search_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._data.get(search_id)
