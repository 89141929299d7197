"""Where the orbits state lives: the :class:`OrbitStore` contract (satellites, element sets,
orders) and its embedded implementation on JSON files.

The documents are the JSON dumps of :class:`~sathub.orbits.registry.Satellite`,
:class:`~sathub.orbits.registry.ElementRecord` and :class:`~sathub.orbits.orders.Order`; the
registry and the order book validate them, the store keeps them. Every method is one atomic
step: :meth:`OrbitStore.update_order` reads, changes and writes an order while excluding every
other writer of it (threads and processes alike), so two concurrent status changes of one
order cannot both apply. :mod:`sathub.orbits.pg_store` keeps the same contract in PostgreSQL.

The embedded store keeps ``<data>/orbits/registry.json`` and ``orders.json`` (the layout of
earlier versions), each write to a temporary file that replaces the old one, under an
exclusive ``flock`` on ``<data>/orbits/.lock``.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

Doc = dict[str, Any]


class OrbitStore(Protocol):
    """Satellites (by NORAD id), element sets (by NORAD id and epoch) and orders (by id)."""

    def satellites(self) -> dict[int, Doc]: ...

    def put_satellites(self, docs: list[Doc], *, only_new: bool = False) -> None:
        """Insert or replace each satellite (``only_new``: keep the ones already there)."""

    def add_elements(self, records: list[tuple[int, Doc]]) -> int:
        """Keep each ``(norad_id, record)`` whose epoch is new for that satellite; returns how
        many were new (a record repeated within ``records`` counts once)."""

    def elements(self) -> dict[int, list[Doc]]:
        """Every satellite's records, oldest epoch first."""

    def add_order(self, doc: Doc) -> None:
        """A new order (``doc["id"]`` must be new)."""

    def order(self, order_id: str) -> Doc | None: ...

    def orders(self) -> list[Doc]: ...

    def update_order(self, order_id: str, change: Callable[[Doc], Doc]) -> Doc | None:
        """``change(current)`` applied and written atomically (None: no such order). An
        exception in ``change`` writes nothing and propagates."""

    def close(self) -> None: ...


def epoch_of(record: Doc) -> datetime:
    return datetime.fromisoformat(str(record["epoch"]).replace("Z", "+00:00"))


def orbits_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / "orbits"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(value, fh, indent=1, default=str)
    os.replace(tmp, path)


class FileOrbitStore:
    """``<data>/orbits/registry.json`` (satellites and elements) and ``orders.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = orbits_dir(data_dir)
        self.registry_path = self.dir / "registry.json"
        self.orders_path = self.dir / "orders.json"
        self._thread_lock = threading.Lock()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Excludes every other writer: threads of this process, then other processes."""
        with self._thread_lock, open(self.dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _registry(self) -> Doc:
        raw = read_json(self.registry_path, {})
        return {"satellites": raw.get("satellites", {}), "elements": raw.get("elements", {})}

    # -- satellites
    def satellites(self) -> dict[int, Doc]:
        return {int(k): v for k, v in self._registry()["satellites"].items()}

    def put_satellites(self, docs: list[Doc], *, only_new: bool = False) -> None:
        with self._locked():
            raw = self._registry()
            for doc in docs:
                key = str(int(doc["norad_id"]))
                if not (only_new and key in raw["satellites"]):
                    raw["satellites"][key] = doc
            write_json(self.registry_path, raw)

    # -- element sets
    def add_elements(self, records: list[tuple[int, Doc]]) -> int:
        with self._locked():
            raw = self._registry()
            added = 0
            for norad_id, record in records:
                bucket = raw["elements"].setdefault(str(int(norad_id)), [])
                epoch = epoch_of(record)
                if any(epoch_of(r) == epoch for r in bucket):
                    continue
                bucket.append(record)
                bucket.sort(key=epoch_of)
                added += 1
            if added:
                write_json(self.registry_path, raw)
            return added

    def elements(self) -> dict[int, list[Doc]]:
        return {int(k): sorted(v, key=epoch_of) for k, v in self._registry()["elements"].items()}

    # -- orders
    def add_order(self, doc: Doc) -> None:
        with self._locked():
            orders = read_json(self.orders_path, {})
            if doc["id"] in orders:
                raise ValueError(f"order {doc['id']!r} exists")
            orders[doc["id"]] = doc
            write_json(self.orders_path, orders)

    def order(self, order_id: str) -> Doc | None:
        found = read_json(self.orders_path, {}).get(order_id)
        return found if isinstance(found, dict) else None

    def orders(self) -> list[Doc]:
        return list(read_json(self.orders_path, {}).values())

    def update_order(self, order_id: str, change: Callable[[Doc], Doc]) -> Doc | None:
        with self._locked():
            orders = read_json(self.orders_path, {})
            if order_id not in orders:
                return None
            orders[order_id] = new = change(orders[order_id])
            write_json(self.orders_path, orders)
            return new

    def close(self) -> None:
        pass
