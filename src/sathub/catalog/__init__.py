"""STAC storage and search: the store interface, the embedded SQLite backend, CQL2, paging."""

from sathub.catalog.sqlite import SQLiteStore
from sathub.catalog.store import CatalogStore, SearchQuery, SearchResult, SortKey

__all__ = ["CatalogStore", "SQLiteStore", "SearchQuery", "SearchResult", "SortKey"]
