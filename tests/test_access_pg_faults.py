"""The access state on PostgreSQL when the server goes away (issue 14, "Bad input and faults"):

- a connection cut while an audit record is being written: the caller gets
  :class:`~sathub.errors.BackendUnavailable` naming PostgreSQL, the record, its quota charge and
  the admin change it went with are all absent afterwards, and the chain verifies;
- the database refusing connections mid-service: the API answers 503 with ``backend:
  postgresql`` and a message naming the access state, not a 500; once it is back, the same
  request succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pg_support import cluster, pg_settings

from sathub.access import keys, quotas
from sathub.access.dates import month_of
from sathub.api.app import create_app
from sathub.app import Installation
from sathub.errors import BackendUnavailable, NotFound


@pytest.fixture()
def inst(tmp_path: Path) -> Iterator[Installation]:
    with Installation.create(pg_settings(tmp_path / "data")) as i:
        yield i


def _dbname(inst: Installation) -> str:
    assert inst.settings.pg_dsn
    return str(psycopg.conninfo.conninfo_to_dict(inst.settings.pg_dsn)["dbname"])


def test_a_cut_connection_leaves_no_half_written_record(inst: Installation) -> None:
    svc = inst.access
    org = svc.store.add_org("P", "company")
    agr = svc.store.add_agreement(org.id, title="t", collections=["c"], quota_bytes=10_000)
    before = svc.audit.records()
    with pytest.raises(BackendUnavailable) as err, svc.store.tx() as c:
        svc.add_org("admin", "Half", "company")  # a change, its state record, its admin record
        svc.audit.append("key:1", "download", "c/i/a", nbytes=500, quota=agr)
        with psycopg.connect(inst.settings.pg_dsn or "", autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (c.pg.info.backend_pid,))
    assert err.value.backend == "postgresql" and "access state" in str(err.value)
    assert svc.audit.records() == before  # the pool gave a new connection: nothing was kept
    with pytest.raises(NotFound):
        svc.store.org("Half")
    assert quotas.used(svc.store, agr.id, month_of(time.time())) == (0, 0)
    assert svc.audit.verify().ok


def test_the_api_answers_503_naming_postgresql(inst: Installation) -> None:
    token, _ = keys.issue(inst.access.store, "admin", None)
    db = _dbname(inst)
    with TestClient(create_app(inst), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        assert client.get("/admin/orgs").status_code == 200
        with psycopg.connect(cluster().dsn(), autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))
            try:
                r = client.get("/admin/orgs")
                assert r.status_code == 503, r.text
                body = r.json()
                assert body["backend"] == "postgresql" and "PostgreSQL" in str(body)
                assert r.headers["Retry-After"]
            finally:
                admin.execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        for _ in range(50):  # the pools reconnect by themselves
            r = client.get("/admin/orgs")
            if r.status_code == 200:
                break
            assert r.status_code == 503
            time.sleep(0.2)
        assert r.status_code == 200
