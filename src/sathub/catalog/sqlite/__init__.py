"""The embedded catalog store on SQLite (one file, WAL mode, R*Tree): the default
:class:`~sathub.catalog.store.CatalogStore`. Construct it through
:class:`sathub.app.Installation` only."""

from sathub.catalog.sqlite.store import SQLiteStore
from sathub.catalog.sqlite.transaction import SQLiteTransaction

__all__ = ["SQLiteStore", "SQLiteTransaction"]
