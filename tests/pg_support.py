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
