"""A throwaway PostgreSQL cluster for the tests that run on the pgstac backend: one per test
process, started on first use (initdb in a temp dir, a free port, trust auth on 127.0.0.1),
``pypgstac migrate`` once into a template database, then a fresh database per store
(``CREATE DATABASE … TEMPLATE``: milliseconds, not a migration each time)."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TEMPLATE = "sathub_template"
_lock = threading.Lock()
_state: dict[str, object] = {}
_counter = itertools.count()


def available() -> str | None:
    """Why the pgstac backend cannot be tested here (None: it can)."""
    try:
        from sathub.stack.postgres import pg_bindir

        pg_bindir()
    except RuntimeError as exc:
        return str(exc)
    if not any(Path("/usr/share/postgresql").glob("*/extension/postgis.control")):
        return "PostGIS is not installed (Debian: postgresql-15-postgis-3)"
    try:
        import pypgstac  # noqa: F401
    except ImportError:
        return "pypgstac is not installed"
    return None


def cluster():  # type: ignore[no-untyped-def]
    """The test process's cluster (started once, stopped at exit)."""
    with _lock:
        if "cluster" not in _state:
            why = available()
            if why:
                pytest.skip(f"pgstac backend: {why}")
            import psycopg

            from sathub.catalog.pgstac.db import migrate
            from sathub.stack.postgres import PgCluster

            root = Path(tempfile.mkdtemp(prefix="sathub-pg-"))
            pg = PgCluster(root / "pg").start()
            atexit.register(lambda: (pg.stop("immediate"), shutil.rmtree(root, ignore_errors=True)))
            with psycopg.connect(pg.dsn(), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {TEMPLATE}")
            migrate(pg.dsn(TEMPLATE))
            _state["cluster"] = pg
        return _state["cluster"]


def new_database() -> str:
    """The DSN of a new database holding an empty pgstac catalog."""
    import psycopg

    pg = cluster()
    name = f"sathub_{os.getpid()}_{next(_counter)}"
    with _lock, psycopg.connect(pg.dsn(), autocommit=True) as conn:
        for attempt in range(100):  # a closed session of the template may linger an instant
            try:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 99:
                    raise
                time.sleep(0.1)
    return str(pg.dsn(name))


def pg_settings(data: Path, **extra: object):  # type: ignore[no-untyped-def]
    """Settings of an installation whose catalog is a new pgstac database."""
    from sathub.config import Settings

    return Settings(data=data, pg_dsn=new_database(), **extra)  # type: ignore[arg-type]


@contextmanager
def pgstac_store(tmp: Path) -> Iterator[object]:
    """A new pgstac catalog, built by the Installation from its settings."""
    from sathub.app import Installation

    with Installation.create(pg_settings(tmp / "data")) as inst:
        yield inst.catalog


BACKENDS = ["sqlite", "pgstac"]


# Hypothesis examples run on the pgstac backend per property test: each pgstac search is a
# plpgsql call of some 5-30 ms (against ~0.3 ms for SQLite), so its share of the draws is
# smaller; SQLite runs them all. In CI the draws are derandomised, so both are fixed sets.
PGSTAC_EXAMPLES = 25


def spend_example(store: object) -> bool:
    """False once a pgstac store has run its share of a property test's examples."""
    if type(store).__name__ != "PgstacStore":
        return True
    left = getattr(store, "_examples_left", PGSTAC_EXAMPLES)
    setattr(store, "_examples_left", left - 1)
    return bool(left > 0)


def reset_examples(store: object) -> None:
    setattr(store, "_examples_left", PGSTAC_EXAMPLES)


# ------------------------------------------------------------------ the S3-compatible server
_buckets = itertools.count()


def s3_server():  # type: ignore[no-untyped-def]
    """The test process's S3 server (moto's standalone server; started once)."""
    with _lock:
        if "s3" not in _state:
            try:
                import moto  # noqa: F401
            except ImportError:
                pytest.skip("moto[server] is not installed")
            from sathub.stack.s3server import S3Server

            server = S3Server().start()
            atexit.register(server.stop)
            _state["s3"] = server
        return _state["s3"]


def s3_settings(**extra: object) -> dict[str, object]:
    """Settings fields for a new, empty bucket of the test S3 server."""
    from sathub.stack.s3server import ACCESS_KEY, SECRET_KEY

    server = s3_server()
    bucket = f"sathub-{os.getpid()}-{next(_buckets)}"
    server.create_bucket(bucket)
    return {"s3_bucket": bucket, "s3_prefix": "archive", "s3_endpoint": server.endpoint,
            "s3_access_key_id": ACCESS_KEY, "s3_secret_access_key": SECRET_KEY, **extra}


@contextmanager
def s3_store(tmp: Path) -> Iterator[object]:
    """A new S3 object store, built by the Installation from its settings."""
    from sathub.app import Installation
    from sathub.config import Settings

    with Installation.create(Settings(data=tmp / "data", **s3_settings())) as inst:  # type: ignore[arg-type]
        yield inst.objects
