"""PostgreSQL gone mid-request, for the state it keeps (jobs, orbits, budget): every request
that needs it answers 503 naming PostgreSQL (with Retry-After), never a 500; and once the
server is back, the same requests answer as before (nothing was half-written)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import psycopg
from conftest import issue_key
from fastapi.testclient import TestClient
from pg_support import cluster

from sathub.api.app import create_app
from sathub.app import Installation
from sathub.config import Settings

READS = ["/orbits/satellites", "/orbits/orders", "/budget/years", "/ingest/jobs/0123abcd"]


def test_postgresql_gone_mid_request_is_a_503_naming_it(tmp_path: Path) -> None:
    from sathub.catalog.pgstac.db import migrate
    from sathub.stack.postgres import PgCluster

    cluster()  # the test cluster's availability checks (binaries, PostGIS, pypgstac)
    root = Path(tempfile.mkdtemp(prefix="sathub-pgfault-"))  # a directory the server user reaches
    pg = PgCluster(root / "pg").start()  # its own server: this test stops it
    try:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE state")
        migrate(pg.dsn("state"))
        inst = Installation.create(Settings(data=tmp_path / "data", pg_dsn=pg.dsn("state")))
        with TestClient(create_app(inst), raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {issue_key(inst, 'admin')}"
            before = {path: client.get(path) for path in READS}
            assert [r.status_code for r in before.values()] == [200, 200, 200, 404], before
            pg.stop("fast")  # the server goes away: every connection of the pool is cut
            for path in READS:
                r = client.get(path)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert "PostgreSQL" in r.json()["description"] and r.headers["Retry-After"]
            r = client.put("/orbits/satellites/99001", json={"norad_id": 99001, "name": "DOWN-1"})
            assert r.status_code == 503, r.text
            # down long enough for psycopg_pool's reconnection to back off past its 10 s wait
            # (1 + 2 + 4 + 8 s): left to it, requests made after the restart answered 503
            # "couldn't get a connection after 10.00 sec" (fresh-clone CI, 2026-12-02)
            down_until = time.monotonic() + 16
            while time.monotonic() < down_until:
                assert client.get(READS[0]).status_code == 503
                time.sleep(2)
            pg.start()
            for path, old in before.items():
                t0 = time.monotonic()
                r = client.get(path)
                assert (r.status_code, r.json()) == (old.status_code, old.json()), path
                assert time.monotonic() - t0 < 5, (path, "slow to recover")
            assert all(s["norad_id"] != 99001 for s in client.get("/orbits/satellites").json()["satellites"])
        inst.close()
    finally:
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_a_runner_is_live_again_after_postgresql_restarts(tmp_path: Path) -> None:
    """A restart of the server ends every session and its advisory locks, the runners' liveness
    locks among them: each runner takes its lock again once the server is back, so the other
    workers do not report its running jobs as stopped."""
    from sathub.access.pg_store import open_pool
    from sathub.jobs.pg import KEEP_S, PgJobStore
    from sathub.stack.postgres import PgCluster

    cluster()
    root = Path(tempfile.mkdtemp(prefix="sathub-pglive-"))
    pg = PgCluster(root / "pg").start()
    pools = [open_pool(pg.dsn(), max_size=2) for _ in range(2)]
    a, b = PgJobStore(pools[0]), PgJobStore(pools[1])  # two workers
    try:
        a.put({"lane": "ingest", "id": "0123abcd", "status": "running", "created": "2026-12-02T00:00:00Z"})
        assert b.is_live("ingest", "0123abcd")
        pg.stop("fast")
        pg.start()
        deadline = time.monotonic() + 6 * KEEP_S + 10
        while True:
            try:
                if b.is_live("ingest", "0123abcd"):
                    break
            except Exception:  # noqa: BLE001  (the pool may answer 503 for a moment)
                pass
            assert time.monotonic() < deadline, "the runner never took its liveness lock again"
            time.sleep(0.5)
        a.close()  # a stops: its jobs are reported stopped at once
        assert not b.is_live("ingest", "0123abcd")
    finally:
        b.close()
        for pool in pools:
            pool.close()
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
