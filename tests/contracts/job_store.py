"""The JobStore contract suite (:class:`sathub.jobs.store.JobStore`): random sequences of puts,
reads, conditional transitions and results checked step by step against a plain dict that does
what the contract says (hypothesis); a runner's liveness as other runners see it; and a queued
job claimed by exactly one of several processes racing for it.

Every test runs on each backend of :data:`state_support.BACKENDS`: the embedded store (JSON
files in ``DATA/jobs/``) and PostgreSQL (``sathub.jobs_*``), built by the Installation.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_support import BACKENDS, in_processes, installation, reopen

from sathub.app import Installation
from sathub.jobs import FileJobStore, JobStore

LANES = ("ingest", "analytics")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
_examples = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def inst(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(request.param, tmp_path_factory.mktemp(f"jobs-{request.param}")) as inst:
        yield inst


def another_runner(inst: Installation) -> JobStore:
    """A second runner on the same state (another worker's store)."""
    if inst.settings.pg_dsn:
        from sathub.jobs.pg import PgJobStore

        return PgJobStore(inst.state_pool)
    return FileJobStore(inst.settings.layout.jobs)


IDS = st.integers(0, 4)
RECORDS = st.fixed_dictionaries({
    "lane": st.sampled_from(LANES), "status": st.sampled_from(STATUSES),
    "created": st.integers(0, 99).map(lambda n: f"2026-01-01T00:00:{n:02d}Z"),
    "parameters": st.dictionaries(st.sampled_from("abc"), st.integers() | st.text(max_size=5) | st.none(),
                                  max_size=3),
    "progress": st.fixed_dictionaries({"done": st.integers(0, 9), "total": st.none() | st.integers(0, 9)}),
})  # fmt: skip
OPS = st.one_of(
    st.tuples(st.just("put"), IDS, RECORDS),
    st.tuples(st.just("get"), IDS, st.sampled_from(LANES)),
    st.tuples(st.just("transition"), IDS, st.sampled_from(LANES), st.sampled_from(STATUSES),
              st.sampled_from(STATUSES)),
    st.tuples(st.just("result"), IDS, st.sampled_from(LANES), st.integers()),
    st.tuples(st.just("list"), st.none() | st.sampled_from(LANES)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])  # fmt: skip
@given(ops=st.lists(OPS, max_size=30))
def test_operations_do_what_a_dict_does(inst: Installation, ops: list[tuple[Any, ...]]) -> None:
    store = inst.jobs.store
    prefix = f"x{os.getpid()}n{next(_examples)}n"  # this example's jobs meet no other example's
    model: dict[tuple[str, str], dict[str, Any]] = {}
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for op, *args in ops:
        if op == "put":
            rec = {"id": f"{prefix}{args[0]}", **args[1]}
            store.put(rec)
            model[(rec["lane"], rec["id"])] = rec
        elif op == "get":
            key = (args[1], f"{prefix}{args[0]}")
            assert store.get(*key) == model.get(key), (op, args)
        elif op == "transition":
            key = (args[1], f"{prefix}{args[0]}")
            expect, status = args[2], args[3]
            got = store.transition(*key, expect, {"status": status, "note": status})
            if key in model and model[key]["status"] == expect:
                model[key] = model[key] | {"status": status, "note": status}
                assert got == model[key], (op, args)
            else:
                assert got is None, (op, args)
        elif op == "result":
            key = (args[1], f"{prefix}{args[0]}")
            store.put_result(*key, {"value": args[2], "nested": {"list": [1, None, "x"]}})
            results[key] = {"value": args[2], "nested": {"list": [1, None, "x"]}}
        else:
            mine = [r for r in store.list(args[0]) if r["id"].startswith(prefix)]
            expected = [r for (lane, _), r in model.items() if args[0] in (None, lane)]
            assert sorted(mine, key=repr) == sorted(expected, key=repr), (op, args)
            created = [r["created"] for r in mine]
            assert created == sorted(created, reverse=True)  # newest first
    for key, result in results.items():
        assert store.get_result(*key) == result
    for key, rec in model.items():
        assert store.is_live(*key)  # every record was written by this (open) runner


def test_ids_that_name_no_file_name_nothing(inst: Installation) -> None:
    store = inst.jobs.store
    for bad in ("../../etc/passwd", "a" * 65, "x y", "", "a\x00b", "ä"):
        assert store.get("ingest", bad) is None and store.get_result("ingest", bad) is None
        assert store.transition("ingest", bad, "queued", {"status": "running"}) is None
        assert not store.is_live("ingest", bad)
    assert store.get("in/gest", "abc") is None


def test_a_runner_is_live_until_it_closes(inst: Installation) -> None:
    mine, other = inst.jobs.store, another_runner(inst)
    other.put({"id": "livejob", "lane": "ingest", "status": "running", "created": "x"})
    assert mine.is_live("ingest", "livejob") and other.is_live("ingest", "livejob")
    assert not mine.is_live("ingest", "nosuchjob")
    other.close()  # its process stopped
    assert not mine.is_live("ingest", "livejob")
    assert mine.get("ingest", "livejob") == {"id": "livejob", "lane": "ingest", "status": "running", "created": "x"}
    # the job taken over by a live runner is live again
    assert mine.transition("ingest", "livejob", "running", {"status": "failed"}) is not None
    assert mine.is_live("ingest", "livejob")


JOBS, RACERS = 24, 6


def _claim_all(data: str, pg_dsn: str | None, i: int, barrier: Any) -> list[str]:
    inst = reopen(data, pg_dsn)
    store = inst.jobs.store
    barrier.wait()
    won = []
    for n in range(JOBS):
        job_id = f"race{n}"
        if store.transition("ingest", job_id, "queued", {"status": "running", "claimed_by": i}) is not None:
            won.append(job_id)
    inst.close()
    return won


def test_a_queued_job_is_claimed_by_exactly_one_process(inst: Installation) -> None:
    store = inst.jobs.store
    for n in range(JOBS):
        store.put({"id": f"race{n}", "lane": "ingest", "status": "queued", "created": f"{n:03d}"})
    won = in_processes(inst, _claim_all, RACERS)
    claimed = [job for w in won for job in w]
    assert sorted(claimed) == sorted(f"race{n}" for n in range(JOBS))  # each once, none lost
    for i, jobs in enumerate(won):
        for job in jobs:
            assert store.get("ingest", job)["claimed_by"] == i  # the record names the winner
