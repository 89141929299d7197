"""Installations for the state-store contract suites (jobs, orbits, budget): the embedded one
(files and SQLite in the data directory) and the PostgreSQL one (``SATHUB_PG_DSN``: a new
database of the test cluster), both built by :class:`sathub.app.Installation` from settings;
and the same installation reopened in another process (its own connections and runner)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sathub.app import Installation
from sathub.config import Settings

BACKENDS = ["embedded", "postgresql"]


def settings_for(backend: str, data: Path) -> Settings:
    if backend == "postgresql":
        from pg_support import pg_settings

        return pg_settings(data)  # type: ignore[no-any-return]
    return Settings(data=data)


@contextmanager
def installation(backend: str, tmp: Path) -> Iterator[Installation]:
    """A new installation of ``backend`` in ``tmp``."""
    with Installation.create(settings_for(backend, tmp / "data")) as inst:
        on_pg = backend == "postgresql"
        for part in (inst.orbits, inst.budget.store):  # the backend is the one asked for
            assert type(part).__name__.startswith("Pg") == on_pg, part
        yield inst


def reopen(data: str, pg_dsn: str | None) -> Installation:
    """The installation of ``data`` (and ``pg_dsn``) opened again, as another process does."""
    return Installation.open(Settings(data=Path(data), pg_dsn=pg_dsn))


def in_processes(inst: Installation, target: Callable[..., Any], n: int, *args: Any) -> list[Any]:
    """``target(data, pg_dsn, i, barrier, *args)`` in ``n`` spawned processes started together;
    their return values (an exception in one fails the test with its text)."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    s = inst.settings
    procs = [ctx.Process(target=_run, args=(target, str(s.data), s.pg_dsn, i, barrier, results, args))
             for i in range(n)]  # fmt: skip
    for p in procs:
        p.start()
    out = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r[1] for r in out if r[0] == "error"]
    assert not errors, errors
    return [r[1] for r in sorted(out, key=lambda r: r[2])]


def _run(target: Callable[..., Any], data: str, pg_dsn: str | None, i: int, barrier: Any,
         results: Any, args: tuple[Any, ...]) -> None:  # fmt: skip
    try:
        results.put(("ok", target(data, pg_dsn, i, barrier, *args), i))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(("error", f"process {i}: {exc!r}", i))
