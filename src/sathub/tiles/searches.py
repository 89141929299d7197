"""Registered mosaic searches, apart from ``mosaic.py`` so that registering a search does not
load the raster libraries.

A search's id is a hash of its normalised body, so registering the same search twice gives the
same id and every API worker computes the same id (a body never changes under its id: a worker
may keep a few parsed bodies in memory). A :class:`SearchStore` keeps the bodies, at most
``max_entries`` of them (the least recently registered goes first):
:class:`FileSearchStore`, small JSON files in ``DATA/searches/`` (shared by every worker of one
installation; written atomically), or :class:`~sathub.tiles.searches_pg.PgSearchStore`
(``sathub.mosaic_searches``) when the state is in PostgreSQL, shared by every API machine.
Bodies are bounded by the route (``SATHUB_MOSAIC_SEARCH_MAX_BYTES``), so a store holds at most
``max_entries`` × that.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

MAX_SEARCHES = 2000
CACHED = 64  # parsed bodies kept in memory


class SearchStore(Protocol):
    """Registered mosaic searches by id (an id is ASCII letters and digits, at most 64)."""

    max_entries: int

    def put(self, search_id: str, body: dict[str, Any]) -> None:
        """Keep ``body`` under ``search_id`` (again: it becomes the most recently registered);
        beyond ``max_entries``, the least recently registered are forgotten."""

    def get(self, search_id: str) -> dict[str, Any] | None:
        """The body kept under ``search_id``; None for an unknown or malformed id."""

    def ids(self) -> list[str]:
        """The ids kept, in no order."""


def valid_id(search_id: str) -> bool:
    return search_id.isascii() and search_id.isalnum() and 0 < len(search_id) <= 64


class FileSearchStore:
    def __init__(self, root: Path, max_entries: int = MAX_SEARCHES) -> None:
        self.root = Path(root)
        self.max_entries = max_entries
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _path(self, search_id: str) -> Path | None:
        if not valid_id(search_id):
            return None
        return self.root / f"{search_id}.json"

    def ids(self) -> list[str]:
        return [p.stem for p in self.root.glob("*.json")] if self.root.is_dir() else []

    def put(self, search_id: str, body: dict[str, Any]) -> None:
        path = self._path(search_id)
        assert path is not None, search_id
        self.root.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.utime(path)  # recently used
        else:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(body, sort_keys=True))
            tmp.replace(path)
            self._evict()
        with self._lock:
            self._remember(search_id, body)

    def get(self, search_id: str) -> dict[str, Any] | None:
        with self._lock:
            if search_id in self._cache:
                self._cache.move_to_end(search_id)
                return self._cache[search_id]
        path = self._path(search_id)
        if path is None:
            return None
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        with self._lock:
            self._remember(search_id, body)
        return body if isinstance(body, dict) else None

    def _remember(self, search_id: str, body: dict[str, Any]) -> None:
        self._cache[search_id] = body
        self._cache.move_to_end(search_id)
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)

    def _evict(self) -> None:
        files = list(self.root.glob("*.json"))
        if len(files) <= self.max_entries:
            return
        files.sort(key=lambda p: p.stat().st_mtime_ns)
        for old in files[: len(files) - self.max_entries]:
            old.unlink(missing_ok=True)
            with self._lock:
                self._cache.pop(old.stem, None)


SearchRegistry = FileSearchStore  # the name mosaic.py and earlier callers know
