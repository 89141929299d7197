"""Jobs shared by several API workers (one job store, many runners): a job another process
owns is reported as it is while its owner lives and as failed once the owner is dead or
silent; a cancel through a runner that does not own the job reaches the owner through the
store. The cross-process version runs in tests/test_stack_workers.py."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sathub.jobs import FileJobStore, JobContext, JobRunner, job_kind
from sathub.jobs import runner as runner_mod
from sathub.timeutil import format_datetime

RELEASE = threading.Event()


class NoParams(BaseModel):
    pass


@job_kind("test-hold", NoParams, lane="holdlane")
def _hold(params: NoParams, ctx: JobContext) -> dict[str, Any]:
    while not RELEASE.wait(0.02):
        ctx.check()
    return {"ok": True}


def _record(owner: str, beat: datetime) -> dict[str, Any]:
    return {"id": "a" * 32, "kind": "test-hold", "lane": "holdlane", "status": "running",
            "parameters": {}, "actor": None, "created": format_datetime(beat), "started": None,
            "finished": None, "error": None, "progress": {"done": 0, "total": None},
            "summary": None, "owner": owner, "heartbeat": format_datetime(beat)}  # fmt: skip


def test_another_hosts_job_is_running_until_its_heartbeat_is_stale(tmp_path: Path) -> None:
    store = FileJobStore(tmp_path)
    reader = JobRunner(store, None)
    now = datetime.now(UTC)
    store.put(_record("other-host:4242:tok", now))
    job = reader.get("a" * 32)
    assert job["status"] == "running" and "owner" not in job  # the owner is not shown
    store.put(_record("other-host:4242:tok", now - timedelta(seconds=runner_mod.STALE_S + 5)))
    assert reader.get("a" * 32)["status"] == "failed"
    assert reader.get("a" * 32)["error"] == runner_mod.DIED


def test_a_dead_process_of_this_host_fails_its_job_at_once(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    store = FileJobStore(tmp_path)
    store.put(_record(f"{runner_mod.HOST}:{dead.stdout.strip()}:tok", datetime.now(UTC)))
    assert JobRunner(store, None).get("a" * 32)["status"] == "failed"
    store.put(_record(f"{runner_mod.HOST}:1:tok", datetime.now(UTC)))  # pid 1 lives
    assert JobRunner(store, None).get("a" * 32)["status"] == "running"


def test_a_cancel_through_another_runner_reaches_the_owner(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(runner_mod, "HEARTBEAT_S", 0.1)
    RELEASE.clear()
    store = FileJobStore(tmp_path)
    owner, other = JobRunner(store, None), JobRunner(store, None)
    owner._owner = "other-host:4242:tok"  # as if it ran on another machine
    first = owner.submit("test-hold", {})
    second = owner.submit("test-hold", {})  # queued behind the first (one lane thread)
    # the other runner sees the owner's jobs as they are; it cancels through the store
    assert other.get(second["id"])["status"] == "queued"
    other.cancel(second["id"])
    assert store.get("holdlane", second["id"])["cancel_requested"] is True
    other.cancel(first["id"])
    deadline = time.time() + 10
    while time.time() < deadline and {other.get(j["id"])["status"] for j in (first, second)} != {"cancelled"}:
        time.sleep(0.05)
    assert other.get(first["id"])["status"] == "cancelled"  # running: stopped at its next check
    assert other.get(second["id"])["status"] == "cancelled"  # queued: never started
    assert owner.get(second["id"])["started"] is None
    RELEASE.set()
    owner.close()
