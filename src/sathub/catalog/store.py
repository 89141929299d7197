"""The catalog store interface: the one contract every backend implements.

The API layer and the CLI talk to a :class:`CatalogStore`, never to SQLite or PostgreSQL
directly. The embedded SQLite backend lives in ``sqlite.py``; a pgstac backend can be added
beside it without touching the API.

Access control (see the access issue) injects each caller's grants as ``extra_filter``: a
CQL2-JSON expression the backend ANDs with the user's query *inside* the query, so paging and
counts stay right.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sathub.types import BBox

Item = dict[str, Any]
Collection = dict[str, Any]


@dataclass(frozen=True)
class SortKey:
    field: str  # a queryable name ("datetime", "eo:cloud_cover", "id", …)
    direction: Literal["asc", "desc"] = "asc"


@dataclass
class SearchQuery:
    """A validated search. Geometry is GeoJSON; datetimes are timezone-aware UTC."""

    collections: list[str] | None = None
    ids: list[str] | None = None
    bbox: BBox | None = None
    intersects: dict[str, Any] | None = None
    start: datetime | None = None  # inclusive; None = open
    end: datetime | None = None  # inclusive; None = open
    filter: dict[str, Any] | None = None  # CQL2-JSON
    query: dict[str, dict[str, Any]] | None = None  # STAC Query extension
    q: list[str] | None = None  # free-text terms (OR)
    sortby: list[SortKey] = field(default_factory=list)
    limit: int = 10
    token: str | None = None  # opaque paging token from a previous page
    fields_include: set[str] | None = None
    fields_exclude: set[str] | None = None
    # Collections whose property names a filter or sortby may use (None: all). The API gives
    # the caller's visible collections, so a property of a hidden collection answers like an
    # unknown one.
    queryable_collections: set[str] | None = None
    # Property names a filter, sortby or query may not use although items hold them (they
    # answer like unknown ones): the API gives the lineage of derived items to callers
    # without unrestricted access (api/scope.py)
    hidden_properties: frozenset[str] = frozenset()


@dataclass
class SearchResult:
    items: list[Item]
    next_token: str | None
    prev_token: str | None
    matched: int | None  # None when not computed
    matched_is_estimate: bool = False


class Transaction(Protocol):
    """Writes inside one database transaction: all of them commit, or none."""

    def put_item(self, item: Item, *, mode: Literal["insert", "upsert"] = "upsert") -> object:
        """Write one item; returns what the backend made of it (any value)."""

    def delete_item(self, collection_id: str, item_id: str) -> None: ...

    def put_collection(
        self, collection: Collection, *, mode: Literal["insert", "upsert"] = "upsert"
    ) -> object:
        """Write one collection; returns what the backend made of it (any value)."""


class CatalogStore(Protocol):
    """What the API, CLI, ingest and analytics need from a catalog backend."""

    # collections
    def list_collections(self, extra_filter: dict[str, Any] | None = None) -> list[Collection]: ...

    def get_collection(self, collection_id: str) -> Collection: ...  # raises NotFound

    def create_collection(self, collection: Collection) -> Collection: ...  # raises Conflict

    def update_collection(self, collection_id: str, collection: Collection) -> Collection: ...

    def delete_collection(self, collection_id: str) -> None: ...

    # items
    def get_item(
        self, collection_id: str, item_id: str, extra_filter: dict[str, Any] | None = None
    ) -> Item: ...  # raises NotFound

    def create_item(self, item: Item) -> Item: ...  # raises Conflict, NotFound (collection)

    def update_item(self, collection_id: str, item_id: str, item: Item) -> Item: ...

    def delete_item(self, collection_id: str, item_id: str) -> None: ...

    def bulk_upsert(self, items: Iterable[Item]) -> int: ...  # one transaction

    def transaction(self) -> AbstractContextManager[Transaction]: ...

    # search
    def search(
        self, query: SearchQuery, extra_filter: dict[str, Any] | None = None
    ) -> SearchResult: ...

    def iter_items(self, collection_id: str | None = None) -> Iterator[Item]: ...

    def counts(self) -> dict[str, int]: ...  # items per collection

    def close(self) -> None: ...
