#!/usr/bin/env python3
"""Audit appends with several writer processes, embedded (SQLite ``access.db``) vs the
PostgreSQL access store (issue 14): records/s of N processes each appending (plain, and
charged against one agreement's quota) to one chain, and the time of a full verification.
Starts a throwaway PostgreSQL cluster itself (``sathub.stack.postgres``).

Usage::

    .venv/bin/python bench/bench_access_pg.py --records 2000 --processes 4
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import Stopwatch, print_table, run_processes  # noqa: E402

from sathub.app import Installation  # noqa: E402
from sathub.config import Settings  # noqa: E402


def writer(data: str, dsn: str | None, n: int, tag: int, agreement_id: int, ready: Any) -> None:
    with Installation.open(Settings(data=Path(data), pg_dsn=dsn)) as inst:
        audit = inst.access.audit
        agr = inst.access.store.agreement(agreement_id)
        ready.wait()
        for i in range(n):
            if i % 2:
                audit.append(f"key:{tag}", "download", f"c/i{i}/data", nbytes=i, quota=agr)
            else:
                audit.append(f"key:{tag}", "search", f"/search?{i}")


def run(label: str, data: Path, dsn: str | None, n: int, procs: int) -> list[tuple[str, str]]:
    with Installation.create(Settings(data=data, pg_dsn=dsn)) as inst:
        org = inst.access.store.add_org("Acme", "company")
        agr = inst.access.store.add_agreement(org.id, title="t", collections=("c",), quota_bytes=10**15)
    per = n // procs
    elapsed = run_processes(writer, [(str(data), dsn, per, k, agr.id) for k in range(procs)])
    with Installation.open(Settings(data=data, pg_dsn=dsn)) as inst:
        with Stopwatch() as verify:
            result = inst.access.audit.verify()
    assert result.ok, result.problems
    return [(f"{label}: {procs} processes × {per:,} appends (half charged)", f"{procs * per / elapsed:,.0f} /s"),
            (f"{label}: verify ({result.records:,} records)", f"{verify.s:.2f} s")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--processes", type=int, default=4)
    args = ap.parse_args()
    from sathub.stack.postgres import PgCluster

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="sathub-bench-access-") as tmp:
        rows += run("SQLite", Path(tmp) / "sqlite", None, args.records, args.processes)
        with PgCluster(Path(tmp) / "pg") as pg:
            import psycopg

            with psycopg.connect(pg.dsn(), autocommit=True) as c:
                c.execute("CREATE DATABASE bench")
            rows += run("PostgreSQL", Path(tmp) / "pgdata", pg.dsn("bench"), args.records, args.processes)
    print(f"sathub access state bench — {args.records:,} records, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print_table(("operation", "result"), rows)


if __name__ == "__main__":
    main()
