"""The job runner: kinds registered with a parameter model, validated before anything is queued,
one worker per lane, cancel, results, restart semantics (the contract every job store keeps)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from sathub.errors import InvalidInput, NotFound
from sathub.jobs import KINDS, FileJobStore, JobContext, JobRunner, JobStore, job_kind

GATE = threading.Event()


class SleepParams(BaseModel):
    n: int = Field(ge=1, le=100)


@job_kind("test-count", SleepParams, lane="testlane", failed=lambda r: "odd" if r["n"] % 2 else None)
def _count(params: SleepParams, ctx: JobContext) -> dict[str, Any]:
    for i in range(params.n):
        ctx.check()
        GATE.wait(5)
        ctx.progress(i + 1, params.n)
    return {"n": params.n, "actor": ctx.actor}


def _wait(runner: JobRunner, job_id: str) -> dict[str, Any]:
    for _ in range(200):
        job = runner.get(job_id)
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def _store(backend: str, tmp_path: Path) -> JobStore:
    """A job store of ``backend`` over ``tmp_path`` (the same state each time it is asked)."""
    if backend == "postgresql":
        from pg_support import new_database
        from psycopg_pool import ConnectionPool

        from sathub.jobs.pg import PgJobStore

        dsn = _DSNS.setdefault(tmp_path, new_database())
        return PgJobStore(ConnectionPool(dsn, min_size=1, max_size=4, open=True))
    return FileJobStore(tmp_path / "jobs")


_DSNS: dict[Path, str] = {}


@pytest.fixture(params=["embedded", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def runner(backend: str, tmp_path: Path) -> JobRunner:
    GATE.set()
    return JobRunner(_store(backend, tmp_path), resources=None)


def test_kinds_are_registered_and_parameters_checked_before_queueing(runner: JobRunner) -> None:
    assert KINDS["test-count"].lane == "testlane"
    with pytest.raises(InvalidInput) as e:
        runner.submit("test-count", {"n": 0})
    assert e.value.field == "n"
    with pytest.raises(InvalidInput, match="unknown job kind"):
        runner.submit("nope", {})
    with pytest.raises(InvalidInput, match="not a ingest job"):
        runner.submit("test-count", {"n": 1}, lane="ingest")
    assert runner.store.list() == []  # nothing was recorded


def test_run_report_result_and_failure(runner: JobRunner) -> None:
    ok = runner.submit("test-count", {"n": 2}, actor="me")
    assert ok["status"] == "queued" and ok["parameters"] == {"n": 2}
    done = _wait(runner, ok["id"])
    assert done["status"] == "succeeded" and done["progress"] == {"done": 2, "total": 2}
    assert runner.result(ok["id"]) == {"n": 2, "actor": "me"}
    bad = _wait(runner, runner.submit("test-count", {"n": 3})["id"])
    assert bad["status"] == "failed" and bad["error"] == "odd"
    with pytest.raises(NotFound):
        runner.result(bad["id"])
    with pytest.raises(NotFound):
        runner.get(ok["id"], lane="analytics")  # another lane's job does not exist there
    assert runner.run_now("test-count", {"n": 1}, actor="cli") == {"n": 1, "actor": "cli"}


def test_cancel_queued_and_running(runner: JobRunner) -> None:
    GATE.clear()
    first = runner.submit("test-count", {"n": 50})
    second = runner.submit("test-count", {"n": 1})
    assert runner.cancel(second["id"])["status"] == "cancelled"  # queued behind the first
    runner.cancel(first["id"])
    GATE.set()
    assert _wait(runner, first["id"])["status"] == "cancelled"
    assert _wait(runner, second["id"])["status"] == "cancelled"


def test_records_survive_a_restart(runner: JobRunner, backend: str, tmp_path: Path) -> None:
    job = _wait(runner, runner.submit("test-count", {"n": 2})["id"])
    fresh = JobRunner(_store(backend, tmp_path), resources=None)
    assert fresh.get(job["id"]) == job and fresh.result(job["id"])["n"] == 2
    dead = _store(backend, tmp_path)  # a process that wrote a running job, then died
    dead.put(job | {"id": "a" * 32, "status": "running"})
    assert fresh.get("a" * 32)["status"] == "running"  # its runner is alive: as it is
    dead.close()
    assert fresh.get("a" * 32)["status"] == "failed"
    assert [j["id"] for j in fresh.list("testlane")] != []
    for bad in ("../../etc/passwd", "a" * 65, "x y", ""):
        with pytest.raises(NotFound):
            fresh.get(bad)


def test_another_worker_sees_live_jobs_and_cancels_queued_ones(runner: JobRunner, backend: str,
                                                               tmp_path: Path) -> None:  # fmt: skip
    """Two workers on one store: a job of the first is reported as it is by the second (not as
    failed: its runner is alive), and the second's cancel of a queued job keeps the first from
    ever starting it."""
    GATE.clear()
    first = runner.submit("test-count", {"n": 50})
    second = runner.submit("test-count", {"n": 1})
    other = JobRunner(_store(backend, tmp_path), resources=None)
    assert other.get(first["id"])["status"] in ("queued", "running")
    assert other.get(second["id"])["status"] == "queued"
    assert other.cancel(second["id"])["status"] == "cancelled"
    runner.cancel(first["id"])
    GATE.set()
    assert _wait(runner, first["id"])["status"] == "cancelled"
    assert _wait(runner, second["id"])["status"] == "cancelled"
    assert runner.store.get("testlane", second["id"])["started"] is None  # never started
    assert other.get(second["id"])["status"] == "cancelled"
