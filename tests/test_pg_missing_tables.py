"""sathub's tables gone from the PostgreSQL database under a running sathub (an operator's
``DROP SCHEMA sathub``, a half-migrated database): every request answers 503 naming PostgreSQL,
the missing relation and what to do (never a 500 or a traceback); a CLI command exits with
that message; a restart makes the tables again (docs/deploy.md, "Missing tables"), the
catalog's queryables rebuilt from its items so filters keep working."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from pg_support import pg_settings
from test_pg_pool_size import _collection, _item
from typer.testing import CliRunner

from sathub.api.app import create_app
from sathub.app import Installation
from sathub.cli import app as cli_app

URLS = ["/search", "/collections", "/collections/a/items/i1", "/collections/a/queryables",
        "/search?filter=cloud%20%3E%2050", "/admin/orgs", "/admin/keys", "/admin/audit/verify",
        "/orbits/satellites", "/budget/lines"]  # fmt: skip


def _is_schema_503(r: Any, relation: str) -> None:
    assert r.status_code == 503, (r.request.url, r.status_code, r.text)
    body = r.json()
    assert body["backend"] == "postgresql", body
    assert "PostgreSQL" in body["description"] and f'"{relation}"' in body["description"], body
    assert "restart" in body["description"] and "Traceback" not in r.text, body


def _installation(tmp: Path) -> tuple[Installation, Any]:
    settings = pg_settings(tmp / "data")
    inst = Installation.create(settings)
    inst.catalog.create_collection(_collection("a"))
    inst.catalog.bulk_upsert([_item("a", i, cloud=10 * i) for i in range(1, 9)])
    return inst, settings


def _drop(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def _cloudy(c: TestClient) -> list[str]:
    r = c.get("/search", params={"filter": "cloud > 50", "limit": 100})
    assert r.status_code == 200, r.text
    return sorted(f["id"] for f in r.json()["features"])


def test_dropped_schema_is_503_then_restart_migrates(tmp_path: Path) -> None:
    inst, settings = _installation(tmp_path)
    admin = {"Authorization": f"Bearer {inst.access.bootstrap()}"}
    with TestClient(create_app(inst), raise_server_exceptions=False) as c:
        for url in URLS:
            assert c.get(url, headers=admin).status_code == 200, url
        before = _cloudy(c)
        assert before == ["i6", "i7", "i8"]  # cloud 60, 70, 80
        _drop(settings.pg_dsn, "DROP SCHEMA sathub CASCADE")
        for url in URLS:
            _is_schema_503(c.get(url, headers=admin), "sathub.access_version")
            _is_schema_503(c.get(url), "sathub.access_version")
        _is_schema_503(c.post("/collections/a/items", json=_item("a", 20), headers=admin),
                       "sathub.access_version")  # fmt: skip
    inst.close()
    # a restart makes the tables again (empty: a new admin key); the catalog's items are
    # pgstac's and stay, and filters on their properties work (the queryables rebuilt)
    with Installation.open(settings) as inst:
        admin = {"Authorization": f"Bearer {inst.access.bootstrap()}"}
        with TestClient(create_app(inst), raise_server_exceptions=False) as c:
            for url in URLS:
                assert c.get(url, headers=admin).status_code == 200, url
            assert _cloudy(c) == before
            r = c.post("/collections/a/items", json=_item("a", 20, cloud=99), headers=admin)
            assert r.status_code == 201, r.text
            assert _cloudy(c) == sorted([*before, "i20"])


def test_dropped_catalog_table_is_503(tmp_path: Path) -> None:
    """A half-migrated catalog: one of its sathub tables missing, the access state intact."""
    inst, settings = _installation(tmp_path)
    admin = {"Authorization": f"Bearer {inst.access.bootstrap()}"}
    with TestClient(create_app(inst), raise_server_exceptions=False) as c:
        assert c.get("/search").status_code == 200
        _drop(settings.pg_dsn, "DROP TABLE sathub.catalog_meta")
        for url in ("/search", "/search?filter=cloud%20%3E%2050", "/collections/a/items/i1"):
            _is_schema_503(c.get(url), "sathub.catalog_meta")
        _is_schema_503(c.post("/collections/a/items", json=_item("a", 21), headers=admin),
                       "sathub.catalog_meta")  # fmt: skip
        assert c.get("/admin/orgs", headers=admin).status_code == 200  # the rest serves
    inst.close()


def test_cli_with_a_missing_table_exits_with_the_message(tmp_path: Path) -> None:
    inst, settings = _installation(tmp_path)
    inst.close()
    # a table whose migration is recorded as applied: start-up does not make it again
    _drop(settings.pg_dsn, "DROP TABLE sathub.audit_log")
    r = CliRunner().invoke(cli_app, ["audit", "verify", "--data", str(settings.data)],
                           env={"SATHUB_PG_DSN": settings.pg_dsn})  # fmt: skip
    assert r.exit_code == 1, (r.exit_code, r.output)
    assert 'error: SATHUB_PG_DSN: PostgreSQL: relation "sathub.audit_log" does not exist' in " ".join(
        r.output.split()), r.output  # fmt: skip
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
