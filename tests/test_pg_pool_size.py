"""``SATHUB_PG_POOL_SIZE`` on the pgstac catalog: every size the setting accepts works.

An item write holds a writer connection for its transaction; before it first writes items of a
committed collection it widens that collection's partition in a short transaction of its own,
on a second connection. At size 1 that second connection never came (the write waited on its
own connection for 30 s, then a 503); at any size, as many concurrent writers as connections
starved each other the same way. Now the widening takes a spare connection only, and leaves
the partition to pgstac's loader when there is none (``PgstacStore.widen_partitions``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pg_support import new_database, pg_settings

from sathub import pg
from sathub.api.app import create_app
from sathub.app import Installation
from sathub.catalog.pgstac.store import PgstacStore


def _collection(cid: str) -> dict[str, Any]:
    return {"type": "Collection", "stac_version": "1.0.0", "id": cid, "description": cid,
            "license": "CC0-1.0", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}}}  # fmt: skip


def _item(cid: str, i: int, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"i{i}", "collection": cid,
            "geometry": {"type": "Point", "coordinates": [i % 180, 0]}, "bbox": [i % 180, 0, i % 180, 0],
            "properties": {"datetime": f"2024-01-{1 + i % 28:02d}T00:00:00Z", **props},
            "assets": {}, "links": []}  # fmt: skip


@pytest.fixture(autouse=True)
def _short_pool_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # a starved pool answers in 3 s (a 503) instead of 30: the failure shows fast
    monkeypatch.setattr(pg, "POOL_WAIT_S", 3.0)


def _partitions(dsn: str) -> dict[str, str]:
    """Collection → its partition's datetime constraint (pgstac's view of it)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT collection, constraint_dtrange::text FROM pgstac.partitions_view").fetchall()
    return {r[0]: r[1] for r in rows}


def test_pool_size_one_every_item_write(tmp_path: Path) -> None:
    dsn = new_database()
    store = PgstacStore(dsn, pool_size=1)
    try:
        store.create_collection(_collection("a"))
        store.create_collection(_collection("b"))
        t0 = time.monotonic()
        store.create_item(_item("a", 1, n=1))
        store.update_item("a", "i1", _item("a", 1, n=2))
        assert store.bulk_upsert([_item("b", i) for i in range(5)]) == 5
        with store.bulk_load(large=True) as tx:  # a large load: ANALYZE after its commit
            tx.put_rows([])
            tx.put_item(_item("a", 2), mode="insert")
        with store.transaction() as tx:  # two collections in one transaction
            tx.put_item(_item("a", 3), mode="insert")
            tx.put_item(_item("b", 9), mode="insert")
        store.delete_item("b", "i0")
        elapsed = time.monotonic() - t0
        assert elapsed < 3.0, f"writes waited for a connection: {elapsed:.1f} s"
        assert store.counts() == {"a": 3, "b": 5}
        assert store.get_item("a", "i1")["properties"]["n"] == 2
        # update_item widens before its transaction takes a connection; inside a transaction
        # the widening was left to pgstac's loader (the partition spans the items' dates only)
        parts = _partitions(dsn)
        assert parts["a"] == "(,)" and parts["b"].startswith('["2024-01-01'), parts
    finally:
        store.close()


def test_spare_connection_still_widens(tmp_path: Path) -> None:
    """With a connection to spare the writer still widens the partition ahead of its
    transaction (pgstac's view: a constraint covering all time)."""
    dsn = new_database()
    store = PgstacStore(dsn, pool_size=2)
    try:
        store.create_collection(_collection("a"))
        store.create_item(_item("a", 1))
        assert _partitions(dsn)["a"] == "(,)"
    finally:
        store.close()


@pytest.mark.parametrize("size", [1, 2, 4])
def test_concurrent_writers_do_not_starve(size: int) -> None:
    """As many writers as connections (and more), each first writing a fresh collection."""
    dsn = new_database()
    store = PgstacStore(dsn, pool_size=size)
    writers = 2 * size
    try:
        for w in range(writers):
            store.create_collection(_collection(f"c{w}"))
        errors: list[BaseException] = []
        start = threading.Barrier(writers)

        def write(w: int) -> None:
            try:
                start.wait()
                for i in range(3):
                    store.create_item(_item(f"c{w}", i))
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert store.counts() == {f"c{w}": 3 for w in range(writers)}
    finally:
        store.close()


def test_api_writes_at_pool_size_one(tmp_path: Path) -> None:
    """The whole installation (catalog and state pools) at SATHUB_PG_POOL_SIZE=1."""
    with Installation.create(pg_settings(tmp_path / "data", pg_pool_size=1)) as inst:
        admin = {"Authorization": f"Bearer {inst.access.bootstrap()}"}
        with TestClient(create_app(inst), raise_server_exceptions=False) as c:
            r = c.post("/collections", json=_collection("api"), headers=admin)
            assert r.status_code == 201, r.text
            r = c.post("/collections/api/items", json=_item("api", 1), headers=admin)
            assert r.status_code == 201, r.text
            r = c.put("/collections/api/items/i1", json=_item("api", 1, n=5), headers=admin)
            assert r.status_code in (200, 204), r.text
            r = c.get("/collections/api/items/i1")
            assert r.status_code == 200 and r.json()["properties"]["n"] == 5, r.text
            assert c.delete("/collections/api/items/i1", headers=admin).status_code in (200, 204)
            assert c.get("/collections/api/items/i1").status_code == 404


def test_budget_writes_at_pool_size_one_and_concurrently(tmp_path: Path) -> None:
    """A budget write holds a state connection while its audit record takes a second (and a
    link's check may read on a third): at SATHUB_PG_POOL_SIZE=1 the first budget write waited
    for a connection it held itself (a 503 after the pool's wait), and as many concurrent
    writers as connections starved the one holding the budget's lock. The state pool keeps at
    least 3 connections and a process's budget writers queue before taking one."""
    with Installation.create(pg_settings(tmp_path / "data", pg_pool_size=1)) as inst:
        budget = inst.budget
        t0 = time.monotonic()
        budget.add_year("test", "FY2025")
        assert time.monotonic() - t0 < 3 * pg.POOL_WAIT_S / 3, "the first write waited for the pool"
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def write(w: int) -> None:
            try:
                start.wait()
                for i in range(3):
                    budget.add_category("test", f"C{w}{i}", f"category {w}.{i}")
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
        codes = {c.code for c in budget.store.categories()}
        assert {f"C{w}{i}" for w in range(8) for i in range(3)} <= codes
        assert inst.access.audit.verify().ok
