"""Background jobs: a registry of job kinds and the runner every entry point submits through.

A job kind is a name, a pydantic parameter model and one function ``run(params, ctx)`` that
returns the result document; ``ctx`` (:class:`JobContext`) reports progress, tells whether the
job was cancelled and gives the installation's parts. The API, the CLI and the console submit
with :meth:`JobRunner.submit` (parameters validated before anything is queued: a 400 naming
the field) or run a job in the foreground with :meth:`JobRunner.run_now` — the same code.

Jobs of one *lane* (``ingest``, ``analytics``) run one at a time on that lane's worker thread.
Each record is kept by a :class:`~sathub.jobs.store.JobStore` at every state change, so it
survives a restart: a job that was ``queued`` or ``running`` when its process died reads back as
``failed`` with that reason (one that another live worker runs reads as it is). Status:
``queued → running → succeeded | failed | cancelled``; the store's atomic transitions make a
queued job start at most once, and a cancel from any worker stop it before it starts (a
running job is stopped by the worker that runs it).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from sathub.errors import InvalidInput, NotFound, SathubError
from sathub.jobs.records import clean_json, now_iso
from sathub.jobs.store import JobStore


class Cancelled(SathubError):
    """The job was cancelled."""


@dataclass(frozen=True)
class JobKind:
    name: str
    params: type[BaseModel]
    run: Callable[[Any, JobContext], dict[str, Any]]
    lane: str
    # what the job's record keeps of a result (the rest stays in the result document)
    summary: Callable[[dict[str, Any]], dict[str, Any]] = lambda result: result
    # an error message when a finished run still failed (e.g. scenes that did not ingest)
    failed: Callable[[dict[str, Any]], str | None] = lambda result: None
    # checks beyond the model's, before anything is queued (InvalidInput naming the field)
    check: Callable[[Any], None] = lambda params: None


KINDS: dict[str, JobKind] = {}


def job_kind(name: str, params: type[BaseModel], *, lane: str,
             summary: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
             failed: Callable[[dict[str, Any]], str | None] | None = None,
             check: Callable[[Any], None] | None = None) -> Callable[..., Any]:  # fmt: skip
    """Register ``run(params, ctx) -> result`` as the job kind ``name``."""

    def register(run: Callable[[Any, JobContext], dict[str, Any]]) -> Callable[[Any, JobContext], dict[str, Any]]:
        KINDS[name] = JobKind(name, params, run, lane, summary or (lambda r: r),
                              failed or (lambda r: None), check or (lambda p: None))  # fmt: skip
        return run

    return register


def kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidInput(f"unknown job kind {name!r}; one of {', '.join(sorted(KINDS))}",
                           field="kind") from None  # fmt: skip


def parse_params(k: JobKind, params: dict[str, Any]) -> BaseModel:
    """The parameters as the kind's model; InvalidInput naming the first wrong field."""
    try:
        model = k.params.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "parameters"
        raise InvalidInput(f"{field}: {err.get('msg', 'invalid')}", field=field) from None
    k.check(model)
    return model


class JobContext:
    """What a running job may use: progress, cancellation, the installation's parts."""

    def __init__(self, job_id: str | None, resources: Any, actor: str | None,
                 progress: Callable[[int, int | None], None] | None = None,
                 cancel: threading.Event | None = None) -> None:  # fmt: skip
        self.job_id = job_id
        self.resources = resources  # the Installation (settings, catalog, objects, access, …)
        self.actor = actor
        self._progress = progress
        self.cancel = cancel or threading.Event()

    def progress(self, done: int, total: int | None = None) -> None:
        if self._progress is not None:
            self._progress(done, total)

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("the job was cancelled")


class JobRunner:
    """Submits, runs, reports and cancels jobs of every registered kind."""

    def __init__(self, store: JobStore, resources: Any) -> None:
        self.store = store
        self.resources = resources
        self._jobs: dict[str, dict[str, Any]] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._lanes: dict[str, ThreadPoolExecutor] = {}

    # ------------------------------------------------------------------ submit
    def submit(self, kind_name: str, params: dict[str, Any], *, actor: str | None = None,
               lane: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Validate and queue a job; returns its record. ``lane``: refuse other lanes' kinds
        (a route for one lane cannot start another's jobs)."""
        k = kind(kind_name)
        if lane is not None and k.lane != lane:
            raise InvalidInput(f"{kind_name!r} is not a {lane} job", field="kind")
        model = parse_params(k, params)
        job_id = uuid.uuid4().hex
        job: dict[str, Any] = {"id": job_id, "kind": k.name, "lane": k.lane, "status": "queued",
               "parameters": model.model_dump(mode="json", by_alias=True, exclude_none=True),
               "actor": actor, "created": now_iso(), "started": None, "finished": None,
               "error": None, "progress": {"done": 0, "total": None}, "summary": None}  # fmt: skip
        with self._lock:
            self._jobs[job_id] = job
            self._cancel[job_id] = threading.Event()
            self.store.put(job)
            queued = dict(job)
            pool = self._lanes.get(k.lane)
            if pool is None:
                pool = self._lanes[k.lane] = ThreadPoolExecutor(1, thread_name_prefix=f"sathub-{k.lane}")
        pool.submit(self._run, job_id, model)
        return queued

    def run_now(self, kind_name: str, params: dict[str, Any], *, actor: str | None = None,
                progress: Callable[[int, int | None], None] | None = None) -> dict[str, Any]:  # fmt: skip
        """Run a job in this thread (the CLI) and return its result; nothing is recorded."""
        k = kind(kind_name)
        return k.run(parse_params(k, params), JobContext(None, self.resources, actor, progress))

    # --------------------------------------------------------------------- run
    def _update(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            self._jobs[job_id].update(fields)
            self.store.put(self._jobs[job_id])

    def _run(self, job_id: str, model: BaseModel) -> None:
        job = self._jobs[job_id]
        cancel = self._cancel[job_id]
        if cancel.is_set():
            return
        k = KINDS[job["kind"]]
        claimed = self.store.transition(k.lane, job_id, "queued", {"status": "running", "started": now_iso()})
        with self._lock:
            if claimed is None:  # cancelled (by another worker, too) before it could start
                self._jobs[job_id].update(self.store.get(k.lane, job_id) or {"status": "cancelled"})
                return
            self._jobs[job_id].update(status="running", started=claimed["started"])

        def progress(done: int, total: int | None) -> None:  # in memory: no write per step
            with self._lock:
                self._jobs[job_id]["progress"] = {"done": done, "total": total}

        ctx = JobContext(job_id, self.resources, job["actor"], progress, cancel)
        try:
            result = k.run(model, ctx)
        except Cancelled:
            self._update(job_id, status="cancelled", finished=now_iso())
            return
        except Exception as exc:  # noqa: BLE001 - recorded on the job
            message = exc.message if isinstance(exc, SathubError) else f"unexpected: {exc}"
            self._update(job_id, status="failed", error=message, finished=now_iso())
            return
        # A cancel that arrives after the work is done is too late: what the job made exists
        # (a published product), so its record says what happened, not what was asked.
        result = clean_json(result)
        self.store.put_result(k.lane, job_id, result)
        error = k.failed(result)
        self._update(job_id, status="failed" if error else "succeeded", error=error,
                     summary=clean_json(k.summary(result)), finished=now_iso())  # fmt: skip

    # ------------------------------------------------------------------ report
    def get(self, job_id: str, *, lane: str | None = None) -> dict[str, Any]:
        """A job's record (NotFound for an unknown id, or one of another lane)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and (lane is None or job["lane"] == lane):
                return dict(job)
        lanes = [lane] if lane else sorted({k.lane for k in KINDS.values()})
        for ln in lanes:
            found = self.store.get(ln, job_id)
            if found is not None:
                if found.get("status") in ("queued", "running") and not self.store.is_live(ln, job_id):
                    found.update(status="failed", error="the server stopped while the job ran")
                return found
        raise NotFound(f"{lane or ''} job {job_id!r} not found".strip())

    def list(self, lane: str | None = None) -> list[dict[str, Any]]:
        """Every job (newest first), as :meth:`get` reports each."""
        out = []
        for rec in self.store.list(lane):
            out.append(self.get(rec["id"], lane=rec.get("lane")))
        return out

    def cancel(self, job_id: str, *, lane: str | None = None) -> dict[str, Any]:
        """Cancel a queued job at once, a running one at its next check (a finished job is
        returned unchanged)."""
        job = self.get(job_id, lane=lane)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        with self._lock:
            ev = self._cancel.get(job_id)
            if ev is not None:
                ev.set()  # a running job of this worker stops at its next check
            cancelled = self.store.transition(job["lane"], job_id, "queued",
                                              {"status": "cancelled", "finished": now_iso()})  # fmt: skip
            if cancelled is not None and job_id in self._jobs:
                self._jobs[job_id].update(status="cancelled", finished=cancelled["finished"])
        return self.get(job_id, lane=lane)

    def result(self, job_id: str, *, lane: str | None = None) -> dict[str, Any]:
        job = self.get(job_id, lane=lane)
        if job["status"] != "succeeded":
            raise NotFound(f"job {job_id!r} has no result (status {job['status']})")
        doc = self.store.get_result(job["lane"], job_id)
        if doc is None:
            raise NotFound(f"the result of job {job_id!r} is missing")
        return doc
