"""The catalog store on PostgreSQL + PostGIS with pgstac (see ``store.py``)."""

from sathub.catalog.pgstac.store import PgstacStore

__all__ = ["PgstacStore"]
