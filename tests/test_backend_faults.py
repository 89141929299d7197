"""Faults of the scale-out backends (issue 14, "Bad input and faults"), with real outages: a
PostgreSQL cluster and a moto S3 server of the test's own, stopped and started under the API.

- PostgreSQL or S3 unreachable at start-up or between two requests: 503 naming the backend
  (JSON, Retry-After; never a 500 or a traceback), and the same installation serves again once
  the backend is back (no restart of sathub).
- Nothing half-written: an ingest whose S3 upload fails publishes no item; an ingest whose
  catalog commit fails (PostgreSQL stopped after the upload) leaves no object in the bucket.
- Wrong credentials: opening the installation (``sathub serve``) stops with an error naming the
  setting, exit 2, no traceback.
- ``SATHUB_PG_STATEMENT_TIMEOUT_MS``: a search blocked past it (a table locked by another
  session) is a 504 naming the setting, and its connection goes back to the pool usable.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pg_support import cluster, new_database, s3_server
from test_ingest_crash import _scenes
from typer.testing import CliRunner

from sathub.api.app import create_app
from sathub.app import Installation
from sathub.catalog.pgstac.db import migrate
from sathub.cli import app as cli_app
from sathub.config import Settings
from sathub.errors import BackendUnavailable
from sathub.stack.postgres import PgCluster
from sathub.stack.s3server import ACCESS_KEY, SECRET_KEY, S3Server

CID = "faults"
COLLECTION = {
    "type": "Collection", "stac_version": "1.0.0", "id": CID, "description": "faults",
    "license": "CC0-1.0", "links": [],
    "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
}  # fmt: skip


def _item(i: int) -> dict[str, Any]:
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"i{i}", "collection": CID,
            "geometry": {"type": "Point", "coordinates": [i, i]}, "bbox": [i, i, i, i],
            "properties": {"datetime": f"2024-01-{1 + i:02d}T00:00:00Z"}, "assets": {}, "links": []}  # fmt: skip


def _is_503(r: Any, backend: str, name: str) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    body = r.json()
    assert body["backend"] == backend and name in body["description"], body
    assert r.headers["retry-after"] == "5"
    assert "Traceback" not in r.text


def _eventually(check: Any, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """A cluster of this module's own (stopped and started by the tests)."""
    cluster()  # skips like every pgstac test when PostgreSQL/PostGIS are missing
    pg = PgCluster(tmp_path_factory.mktemp("faults-pg") / "pg").start()
    migrate(pg.dsn())
    yield pg
    pg.stop("immediate")


def _pg_up(pg: PgCluster) -> None:
    if not (pg.datadir / "postmaster.pid").exists():
        pg.start()


def _own_db(pg: PgCluster, name: str) -> str:
    """A new, empty pgstac database on the module's cluster."""
    _pg_up(pg)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE postgres")
    return pg.dsn(name)


# --------------------------------------------------------------------------- PostgreSQL
def test_postgresql_down_between_requests_is_503_then_recovers(own_pg: PgCluster, tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data", pg_dsn=_own_db(own_pg, "between"))
    inst = Installation.create(settings)
    inst.catalog.create_collection(COLLECTION)
    inst.catalog.create_item(_item(1))
    admin = {"Authorization": f"Bearer {inst.access.bootstrap()}"}
    urls = ["/search", f"/collections/{CID}", f"/collections/{CID}/items/i1", "/collections"]
    with TestClient(create_app(inst), raise_server_exceptions=False) as c:
        for url in urls:
            assert c.get(url).status_code == 200, url
        own_pg.stop("fast")  # PostgreSQL goes away between two requests (sessions cut)
        try:
            for url in urls:
                _is_503(c.get(url), "postgresql", "PostgreSQL")
            _is_503(c.post("/search", json={"collections": [CID]}), "postgresql", "PostgreSQL")
            # a write while the database is away: 503, nothing written
            _is_503(c.post(f"/collections/{CID}/items", json=_item(2), headers=admin),
                    "postgresql", "PostgreSQL")  # fmt: skip
        finally:
            own_pg.start()
        # the same installation serves again: the pool replaces its dead connections
        _eventually(lambda: [c.get(url).status_code for url in urls] == [200] * len(urls) or None)
        for url in urls:
            assert c.get(url).status_code == 200
        ids = [f["id"] for f in c.get("/search").json()["features"]]
        assert ids == ["i1"]  # the write during the outage left nothing
    inst.close()


def test_postgresql_down_at_startup_serves_503_until_it_answers(own_pg: PgCluster, tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data", pg_dsn=_own_db(own_pg, "startup"))
    inst = Installation.create(settings)
    inst.catalog.create_collection(COLLECTION)
    inst.close()
    own_pg.stop("fast")
    try:
        inst = Installation.open(settings)  # does not raise: the catalog is built on first use
        with TestClient(create_app(inst), raise_server_exceptions=False) as c:
            _is_503(c.get("/search"), "postgresql", "PostgreSQL")
            _is_503(c.get(f"/collections/{CID}"), "postgresql", "PostgreSQL")
            own_pg.start()
            assert c.get(f"/collections/{CID}").status_code == 200
            assert c.get("/search").json()["features"] == []
        inst.close()
    finally:
        _pg_up(own_pg)


def test_wrong_postgresql_credentials_stop_start_up_naming_the_setting(tmp_path: Path) -> None:
    good = new_database()
    data = tmp_path / "data"
    Installation.create(Settings(data=data, pg_dsn=good)).close()
    wrong_user = good.replace("postgresql://postgres@", "postgresql://nobody:secret-pw@")
    wrong_db = good.rsplit("/", 1)[0] + "/no_such_db"
    runner = CliRunner()
    for env, setting in (({"SATHUB_PG_DSN": wrong_user}, "SATHUB_PG_DSN"),
                         ({"SATHUB_PG_DSN": wrong_db}, "SATHUB_PG_DSN"),
                         ({"SATHUB_PG_DSN": good, "SATHUB_PG_READER_DSN": wrong_user},
                          "SATHUB_PG_READER_DSN")):  # fmt: skip
        r = runner.invoke(cli_app, ["serve", "--data", str(data)], env=env)
        assert r.exit_code == 2, (env, r.exit_code, r.output)
        assert f"error: {setting}" in r.output, r.output
        assert "Traceback" not in r.output and "secret-pw" not in r.output


def test_statement_timeout_is_a_504_naming_it_and_the_connection_stays_usable(tmp_path: Path) -> None:
    dsn = new_database()
    settings = Settings(data=tmp_path / "data", pg_dsn=dsn, pg_statement_timeout_ms=500, pg_pool_size=2)
    inst = Installation.create(settings)
    inst.catalog.create_collection(COLLECTION)
    inst.catalog.create_item(_item(1))
    pool = inst.catalog.pools.reader  # type: ignore[attr-defined]

    def backends() -> set[int]:
        """The pool's connections (both taken at once), each idle and usable."""
        with pool.connection() as a, pool.connection() as b:
            for conn in (a, b):
                assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                assert conn.execute("SHOW statement_timeout").fetchone()[0] == "500ms"
            return {conn.execute("SELECT pg_backend_pid()").fetchone()[0] for conn in (a, b)}

    pids = backends()
    with TestClient(create_app(inst), raise_server_exceptions=False) as c:
        assert c.get("/search").status_code == 200
        with psycopg.connect(dsn) as locker:  # another session holds the items table
            locker.execute("LOCK TABLE pgstac.items IN ACCESS EXCLUSIVE MODE")
            t0 = time.monotonic()
            r = c.get("/search")
            waited = time.monotonic() - t0
            locker.rollback()
        assert r.status_code == 504, (r.status_code, r.text)
        body = r.json()
        assert body["field"] == "SATHUB_PG_STATEMENT_TIMEOUT_MS" and body["backend"] == "postgresql"
        assert "SATHUB_PG_STATEMENT_TIMEOUT_MS" in body["description"] and "Traceback" not in r.text
        assert 0.5 <= waited < 20, waited
        r = c.get("/search")
        assert r.status_code == 200 and [f["id"] for f in r.json()["features"]] == ["i1"]
    # the cancelled query's connection came back rolled back and was kept: the same backends
    assert backends() == pids
    # a bulk load is not bounded by it (it lifts the timeout for its own transaction)
    with inst.catalog.bulk_load() as tx:  # type: ignore[attr-defined]
        assert tx.conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
    inst.close()


# --------------------------------------------------------------------------------- S3
def _s3_settings(data: Path, server: S3Server, bucket: str, **extra: Any) -> Settings:
    return Settings(data=data, s3_bucket=bucket, s3_prefix="archive", s3_endpoint=server.endpoint,  # type: ignore[arg-type]
                    s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SECRET_KEY, **extra)  # fmt: skip


def test_s3_down_at_startup_serves_503_until_it_answers(tmp_path: Path) -> None:
    s3_server()  # moto is installed
    server = S3Server().start()
    try:
        server.create_bucket("start")
        settings = _s3_settings(tmp_path / "data", server, "start")
        inst = Installation.create(settings)
        inst.objects.put("faults/x/v1/data.bin", io.BytesIO(b"hello"))
        inst.catalog.create_collection(COLLECTION)
        item = {**_item(1), "assets": {"data": {"href": "faults/x/v1/data.bin", "roles": ["data"]}}}
        inst.catalog.create_item(item)
        admin = inst.access.bootstrap()
        inst.close()
        port = server.port
        server.stop()
        inst = Installation.open(settings)  # does not raise: the object store is built on first use
        with TestClient(create_app(inst), raise_server_exceptions=False) as c:
            headers = {"Authorization": f"Bearer {admin}"}
            assert c.get("/search").status_code == 200  # the catalog does not need S3
            _is_503(c.get(f"/collections/{CID}/items/i1/assets/data", headers=headers), "s3", "S3")
            server = S3Server(port=port).start()  # back (moto's memory is empty: a new bucket)
            server.create_bucket("start")
            assert c.get(f"/collections/{CID}/items/i1/assets/data", headers=headers).status_code == 404
        inst.close()
    finally:
        server.stop()


def _ingest_with(settings: Settings, src: Path, inst: Installation, objects: Any,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[BaseException]]:  # fmt: skip
    """ingest_paths with ``objects``; the exceptions commit() raised."""
    import sathub.ingest.pipeline as pipeline

    raised: list[BaseException] = []
    real = pipeline.commit

    def spy(*a: Any, **k: Any) -> Any:
        try:
            return real(*a, **k)
        except BaseException as exc:
            raised.append(exc)
            raise

    monkeypatch.setattr(pipeline, "commit", spy)
    report = pipeline.ingest_paths([src], CID, settings, inst.catalog, objects)
    return report, raised


class _Faulty:
    """The installation's object store, with ``after_put`` called after each put."""

    def __init__(self, inner: Any, after_put: Any) -> None:
        self.inner, self.after_put, self.puts = inner, after_put, 0

    def put(self, key: str, source: Any, **kw: Any) -> Any:
        out = self.inner.put(key, source, **kw)
        self.puts += 1
        self.after_put(self.puts)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_s3_failing_during_an_ingest_publishes_no_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s3_server()
    server = S3Server().start()
    try:
        server.create_bucket("mid")
        settings = _s3_settings(tmp_path / "data", server, "mid")
        inst = Installation.create(settings)
        inst.catalog.create_collection(COLLECTION)
        src = _scenes(tmp_path / "in", 1)
        # the S3 server dies after the first object of the scene is uploaded
        objects = _Faulty(inst.objects, lambda n: server.stop() if n == 1 else None)
        report, raised = _ingest_with(settings, src, inst, objects, monkeypatch)
        assert not report.ok and len(report.failed) == 1
        assert [type(e) for e in raised] == [BackendUnavailable], raised
        assert raised[0].backend == "s3" and "S3" in report.failed[0].message  # type: ignore[attr-defined]
        assert "catalog refused" not in report.failed[0].message
        assert list(inst.catalog.iter_items(CID)) == []
        with TestClient(create_app(inst), raise_server_exceptions=False) as c:
            assert c.get("/search").json()["features"] == []
        inst.close()
    finally:
        server.stop()


def test_a_failed_catalog_commit_leaves_no_object(own_pg: PgCluster, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    dsn = _own_db(own_pg, "commitfail")
    server = S3Server().start()
    try:
        server.create_bucket("commit")
        settings = _s3_settings(tmp_path / "data", server, "commit", pg_dsn=dsn)
        inst = Installation.create(settings)
        inst.catalog.create_collection(COLLECTION)
        src = _scenes(tmp_path / "in", 1)
        n_files = 0

        def stop_pg_after_the_last_upload(n: int) -> None:
            if n == n_files:
                own_pg.stop("fast")  # the transaction cannot commit now

        from sathub.ingest.prepare import prepare_scene

        real_prepare = prepare_scene

        def counting(*a: Any, **k: Any) -> Any:
            nonlocal n_files
            prep = real_prepare(*a, **k)
            n_files = len(prep.moves)
            return prep

        monkeypatch.setattr("sathub.ingest.pipeline.prepare_scene", counting)
        objects = _Faulty(inst.objects, stop_pg_after_the_last_upload)
        try:
            report, raised = _ingest_with(settings, src, inst, objects, monkeypatch)
        finally:
            own_pg.start()
        assert n_files >= 1 and objects.puts == n_files
        assert not report.ok
        assert [type(e) for e in raised] == [BackendUnavailable], raised
        assert raised[0].backend == "postgresql"  # type: ignore[attr-defined]
        assert list(inst.objects.list("")) == []  # every uploaded object was deleted
        _eventually(lambda: list(inst.catalog.iter_items(CID)) == [] or None)
        inst.close()
    finally:
        server.stop()
        shutil.rmtree(tmp_path / "in", ignore_errors=True)


