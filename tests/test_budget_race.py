"""Concurrent commitments racing for one line's last balance never overspend it: 20 threads of
one process, and 20 processes, each trying to commit at the same moment; on the embedded store
(SQLite) and on PostgreSQL (each process with its own connection pool)."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path
from typing import Any

import pytest
from budget_support import MAKER, make_env, make_service, small_year

from sathub.errors import Conflict

RACERS = 20


BACKENDS = ["sqlite", "postgresql"]


def _dsn(backend: str) -> str | None:
    if backend == "postgresql":
        from pg_support import new_database

        return new_database()
    return None


def _setup(root: Path, dsn: str | None) -> int:
    """A line of 1,000.00 USD with 750.00 committed: 250.00 left for racers of 100.00 each."""
    env = make_env(root, pg_dsn=dsn)
    line = small_year(env.service, amount="1000.00")
    env.service.commit(MAKER, line, "750.00", "USD", "2025-02-01", counterparty="first")
    return line


def _check(root: Path, line: int, outcomes: list[str], dsn: str | None) -> None:
    env = make_env(root, pg_dsn=dsn)
    p = env.service.store.position(line)
    assert outcomes.count("ok") == 2 and outcomes.count("refused") == RACERS - 2, outcomes
    assert p.committed == 75000 + 2 * 10000 and p.available == 5000
    # a brute-force reference: the ledger's own rows, summed here
    rows = env.service.store.transactions(line_id=line, kind="commitment")
    assert sum(t.amount_line_minor for t in rows) <= p.revised
    assert env.access.audit.verify().ok
    assert sum(r["action"] == "budget.commitment.add" for r in env.access.audit.records()) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_twenty_threads(tmp_path: Path, backend: str) -> None:
    root, dsn = tmp_path / "data", _dsn(backend)
    line = _setup(root, dsn)
    env = make_env(root, pg_dsn=dsn)
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []

    def racer(i: int) -> None:
        barrier.wait()
        try:
            env.service.commit(f"racer:{i}", line, "100.00", "USD", "2025-02-02", counterparty=f"r{i}")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check(root, line, outcomes, dsn)


def _process_racer(root: str, line: int, i: int, barrier: Any, results: Any, dsn: str | None) -> None:
    from sathub.access.service import AccessService
    from sathub.config import Settings

    access = AccessService.for_layout(Settings(data=Path(root)).layout)
    svc = make_service(Path(root), access, pg_dsn=dsn)  # its own connections: only the database's locks between them
    barrier.wait()
    try:
        svc.commit(f"racer:{i}", line, "100.00", "USD", "2025-02-02", counterparty=f"p{i}")
        results.put("ok")
    except Conflict:
        results.put("refused")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(f"error: {exc!r}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_twenty_processes(tmp_path: Path, backend: str) -> None:
    root, dsn = tmp_path / "data", _dsn(backend)
    line = _setup(root, dsn)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(RACERS), ctx.Queue()
    procs = [ctx.Process(target=_process_racer, args=(str(root), line, i, barrier, results, dsn))
             for i in range(RACERS)]  # fmt: skip
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    _check(root, line, outcomes, dsn)
