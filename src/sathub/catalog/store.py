"""The catalog store contract: what every catalog backend implements.

The API, the CLI, the loader, ingest, analytics and access talk to a :class:`CatalogStore`,
never to SQLite or PostgreSQL directly; only :class:`sathub.app.Installation` constructs one.
The embedded backend is :mod:`sathub.catalog.sqlite`; a pgstac backend goes beside it without
touching any caller. ``tests/contracts/catalog_store.py`` is the suite every backend passes.

Access control hands each caller's grants as ``extra_filter`` (:mod:`sathub.catalog.filters`:
plain CQL2-JSON, or an :class:`AccessFilter` with caching hints that a backend may use or
ignore); the backend ANDs it with the user's query *inside* the query, so paging, counts and
aggregations see exactly the items the caller may see.

Errors (:mod:`sathub.errors`): NotFound for a missing collection or item (also one the extra
filter hides), Conflict for an insert of an existing id, InvalidInput and its children naming
the field for bad documents or queries. A failed write changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sathub.catalog.filters import AccessFilter, ExtraFilter, Gated, Kept
from sathub.types import BBox

if TYPE_CHECKING:
    from sathub.catalog.validate import ItemRow

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


Mode = Literal["insert", "upsert"]


class Transaction(Protocol):
    """Writes inside one transaction: all of them commit when the block ends, or none (any
    exception rolls everything back). Nothing is visible to readers before the commit."""

    def require_collection(self, collection_id: str) -> None:
        """NotFound (field ``collection``) unless the collection exists (in this transaction
        too)."""

    def put_item(
        self, item: Item, *, mode: Mode = "upsert", collection_id: str | None = None
    ) -> ItemRow:
        """Validate and write one item (``insert``: Conflict if it exists); ``collection_id``
        is the collection in the path (an item naming another is InvalidInput). Returns the
        validated row (``row.content`` is the item as stored)."""

    def put_rows(self, rows: Sequence[ItemRow], *, mode: Mode = "upsert") -> None:
        """Write items already validated by :func:`sathub.catalog.validate.item_row` (bulk
        loads: the caller validates each record where it can name its file and line)."""

    def delete_item(self, collection_id: str, item_id: str) -> None:
        """NotFound if there is no such item."""

    def put_collection(self, collection: Collection, *, mode: Mode = "upsert") -> Collection:
        """Validate and write one collection (``insert``: Conflict if it exists)."""


class CatalogStore(Protocol):
    """Everything the API, CLI, loader, ingest, analytics and access need from a catalog."""

    # ------------------------------------------------------------ collections
    def list_collections(self, extra_filter: dict[str, Any] | None = None) -> list[Collection]:
        """Every collection, by id; ``extra_filter``: only those whose document matches this
        CQL2-JSON (properties are the document's top-level fields: ``id``, ``title``, …)."""

    def get_collection(self, collection_id: str) -> Collection:
        """NotFound if missing."""

    def create_collection(self, collection: Collection) -> Collection:
        """Conflict if it exists."""

    def update_collection(self, collection_id: str, collection: Collection) -> Collection:
        """NotFound if missing; InvalidInput if the document names another id."""

    def delete_collection(self, collection_id: str) -> None:
        """The collection and its items; NotFound if missing."""

    # ------------------------------------------------------------------ items
    def get_item(
        self, collection_id: str, item_id: str, extra_filter: ExtraFilter = None
    ) -> Item:
        """NotFound if the collection or the item is missing, or ``extra_filter`` hides it
        (same answer)."""

    def create_item(self, item: Item, collection_id: str | None = None) -> Item:
        """Conflict if it exists, NotFound if its collection does not."""

    def update_item(self, collection_id: str, item_id: str, item: Item) -> Item:
        """Replace an existing item; NotFound if missing."""

    def delete_item(self, collection_id: str, item_id: str) -> None:
        """NotFound if missing."""

    def bulk_upsert(
        self, items: Iterable[Item], *, mode: Mode = "upsert", collection_id: str | None = None
    ) -> int:
        """Write many items in one transaction (all or none); returns how many."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """One write transaction (see :class:`Transaction`)."""

    def bulk_load(self, *, large: bool = False) -> AbstractContextManager[Transaction]:
        """One write transaction for a bulk load (``sathub load``: a file, all or nothing).
        ``large``: many items are coming; the backend may prepare for it (larger caches,
        indexes built once at the end when the catalog is empty, planner statistics refreshed
        after the commit). Same results as :meth:`transaction`."""

    # ----------------------------------------------------------------- search
    def search(
        self, query: SearchQuery, extra_filter: ExtraFilter = None, *, count: bool = True
    ) -> SearchResult:
        """One page of the items matching ``query`` AND ``extra_filter``, in the query's order
        (default: datetime descending), with a token for the next page; ``matched`` counted
        unless ``count`` is False (None then)."""

    def aggregate(
        self,
        query: SearchQuery,
        aggregations: list[str],
        extra_filter: ExtraFilter = None,
        *,
        datetime_frequency_interval: str = "month",
        geohash_precision: int = 1,
        geotile_precision: int = 0,
    ) -> list[dict[str, Any]]:
        """The named aggregations (:data:`sathub.catalog.aggregate.AVAILABLE`) over the items
        the same search would match; InvalidInput for an unknown name or option."""

    def queryables(self) -> dict[str, dict[str, str]]:
        """Property name → JSON type (``string``, ``number``, …) seen per collection."""

    def iter_items(self, collection_id: str | None = None) -> Iterator[Item]:
        """Every item (of one collection), in a stable order; no access filter."""

    def counts(self) -> dict[str, int]:
        """Items per collection (every collection, 0 included)."""

    def close(self) -> None: ...


__all__ = ["AccessFilter", "CatalogStore", "Collection", "ExtraFilter", "Gated", "Item", "Kept",
           "Mode", "SearchQuery", "SearchResult", "SortKey", "Transaction"]  # fmt: skip
