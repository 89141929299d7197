"""STAC storage and search: the store contract (:mod:`sathub.catalog.store`), the embedded
SQLite backend (:mod:`sathub.catalog.sqlite`), CQL2, paging, bulk loads."""

from sathub.catalog.store import CatalogStore, SearchQuery, SearchResult, SortKey

__all__ = ["CatalogStore", "SearchQuery", "SearchResult", "SortKey"]
