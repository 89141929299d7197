"""Link targets outside the budget: satellites (NORAD id in the orbits registry), agreements
(ids in the access store) and acquisition orders (ids in the order book) of a data directory.
Ground stations are the budget's own (``sathub budget stations add``): sathub has no station
registry yet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sathub.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from sathub.orbits.store import OrbitStore


class DataDirResolver:
    """Resolves link targets in one data directory (read at each call: other processes write
    the registry and the order book)."""

    def __init__(self, settings: Any, orbits: OrbitStore | None = None, agreements: Any = None) -> None:
        self.root = settings.layout.root
        self.orbits: OrbitStore | Path = orbits if orbits is not None else Path(self.root)
        # the installation's access store (SQLite or PostgreSQL); None: the data directory's file
        self.agreements = agreements

    def resolve(self, kind: str, ref: str) -> str:
        if kind == "satellite":
            from sathub.orbits.registry import Registry

            return str(Registry(self.orbits).get(_int(ref, "satellite")).norad_id)
        if kind == "agreement":
            if self.agreements is not None:
                return str(self.agreements.agreement(_int(ref, "agreement")).id)
            from sathub.access.store import AccessStore

            store = AccessStore(self.root / "access.db")
            try:
                return str(store.agreement(_int(ref, "agreement")).id)
            finally:
                store.close()
        if kind == "order":
            from sathub.orbits.orders import OrderBook

            return OrderBook(self.orbits).get(ref).id
        raise NotFound(f"unknown link kind {kind!r}", field="kind")


def _int(ref: str, what: str) -> int:
    try:
        return int(ref)
    except ValueError:
        raise InvalidInput(f"a {what} is named by its number, got {ref!r}", field="ref") from None
