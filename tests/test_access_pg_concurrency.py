"""Several API workers on one PostgreSQL access store (issue 14, part 2): separate processes
(spawned, each with its own Installation, pool and caches) appending audit records and
charging one quota at the same time, and changing what another process has cached.

- the chain verifies, its records are numbered 1..n without a gap, and their count is exactly
  what the workers wrote (every granted download, every plain record, no refused one);
- the quota is granted exactly up to its limit, never more, whatever the interleaving;
- a key revoked or an agreement added by one process takes effect on the next request of
  another process that had the key's actor cached.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from pathlib import Path
from typing import Any

import pytest
from pg_support import new_database

from sathub.access import keys, quotas
from sathub.access.dates import month_of
from sathub.app import Installation
from sathub.config import Settings
from sathub.errors import QuotaExceeded, Unauthorized

WORKERS = 4
TRIES = 25  # downloads each worker asks for
SIZE = 1000
QUOTA = 37 * SIZE  # fewer than WORKERS * TRIES downloads fit


def _settings(data: str, dsn: str) -> Settings:
    return Settings(data=Path(data), pg_dsn=dsn)


def _worker(data: str, dsn: str, agreement_id: int, tag: int, start: Any, out: Any) -> None:
    with Installation.open(_settings(data, dsn)) as inst:
        audit, agr = inst.access.audit, inst.access.store.agreement(agreement_id)
        start.wait()
        granted = refused = 0
        for i in range(TRIES):
            audit.append(f"key:{tag}", "search", f"w{tag}/{i}")  # a plain record
            try:
                audit.append(f"key:{tag}", "download", f"c/i{i}/data", nbytes=SIZE, quota=agr)
                granted += 1
            except QuotaExceeded:
                refused += 1
        out.put((tag, granted, refused))


def _collect(procs: list[Any], out: Any) -> list[tuple[int, int, int]]:
    """Every worker's result; a worker that died fails the test at once."""
    results: list[tuple[int, int, int]] = []
    deadline = time.time() + 600
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=2))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead and time.time() < deadline, f"workers failed: exit codes {dead}"
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def test_workers_keep_the_chain_and_the_quota_exact(tmp_path: Path) -> None:
    dsn, data = new_database(), str(tmp_path / "data")
    with Installation.create(_settings(data, dsn)) as inst:
        svc = inst.access
        org = svc.add_org("admin", "Partner", "company")
        agr = svc.add_agreement("admin", org.id, title="t", collections=["c"], quota_bytes=QUOTA)
        before = len(svc.audit.records())
        ctx = multiprocessing.get_context("spawn")
        start, out = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(data, dsn, agr.id, t, start, out))
                 for t in range(WORKERS)]  # fmt: skip
        for p in procs:
            p.start()
        results = _collect(procs, out)
        granted = sum(r[1] for r in results)
        assert granted == QUOTA // SIZE  # exactly up to the limit
        assert sum(r[1] + r[2] for r in results) == WORKERS * TRIES
        assert quotas.used(svc.store, agr.id, month_of(time.time())) == (granted * SIZE, granted)
        records = svc.audit.records()
        assert len(records) - before == WORKERS * TRIES + granted
        assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
        downloads = [r for r in records if r["action"] == "download"]
        assert sum(r["bytes"] for r in downloads) == QUOTA
        result = svc.audit.verify()
        assert result.ok, result.problems


def _revoker(data: str, dsn: str, key_id: int, org_id: int) -> None:
    with Installation.open(_settings(data, dsn)) as inst:
        inst.access.add_agreement("admin", org_id, title="late", collections=["c2"])
        inst.access.revoke_key("admin", key_id)


def test_a_change_in_one_process_reaches_another_processes_cache(tmp_path: Path) -> None:
    dsn, data = new_database(), str(tmp_path / "data")
    with Installation.create(_settings(data, dsn)) as inst:
        svc = inst.access
        org = svc.store.add_org("Partner", "university")
        token, key = keys.issue(svc.store, "partner", org.id)
        now = time.time()
        first = svc.actor(f"Bearer {token}", now)
        assert svc.actor(f"Bearer {token}", now) is first and first.agreements == ()
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(target=_revoker, args=(data, dsn, key.id, org.id))
        p.start()
        p.join(timeout=300)
        assert p.exitcode == 0
        with pytest.raises(Unauthorized, match="revoked"):
            svc.actor(f"Bearer {token}", time.time())
        assert [a.title for a in svc.actor_for_key_id(key.id, now - 1).agreements] == ["late"]  # type: ignore[union-attr]
        assert svc.audit.verify().ok


def test_cli_verifies_the_chain_in_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sathub init``, ``sathub orgs add`` and ``sathub audit verify`` with ``SATHUB_PG_DSN``:
    the chain is in PostgreSQL (not in the data directory), verifies, and an edit made in the
    database is named."""
    import json

    import psycopg
    from typer.testing import CliRunner

    from sathub.cli import app as cli_app

    dsn, data = new_database(), tmp_path / "data"
    monkeypatch.setenv("SATHUB_PG_DSN", dsn)
    runner = CliRunner()
    assert runner.invoke(cli_app, ["init", str(data)]).exit_code == 0
    r = runner.invoke(cli_app, ["orgs", "add", "Acme", "--kind", "company", "--data", str(data)])
    assert r.exit_code == 0, r.output
    assert not (data / "access.db").exists()
    r = runner.invoke(cli_app, ["audit", "verify", "--data", str(data), "--format", "json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    with psycopg.connect(dsn) as c:
        n = c.execute("SELECT count(*) FROM sathub.audit_log").fetchone()
        assert n is not None and result["ok"] and result["records"] == n[0] >= 3
        c.execute("UPDATE sathub.access_orgs SET name = 'Mallory'")
    r = runner.invoke(cli_app, ["audit", "verify", "--data", str(data)])
    assert r.exit_code == 1 and "edited outside the API" in r.stderr, r.stderr
