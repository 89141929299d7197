"""Background jobs of a long-lived process (the API server), shared by ingest and analytics.

A job is a JSON record in ``DATA/jobs/<kind>-<id>.json``, written atomically at every change,
so its state survives a restart; a job that was ``queued`` or ``running`` when its process
died reads back as ``failed`` with that reason. Jobs run one at a time on a worker thread.
Subclasses build the record (:meth:`JobBook._start`) and run it (:meth:`JobBook._run`).
"""

from __future__ import annotations

import json
import math
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import NotFound, SathubError


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def clean_json(doc: Any) -> Any:
    """NaN and ±inf → null (JSON has neither), tuples → lists."""
    if isinstance(doc, float) and (math.isnan(doc) or math.isinf(doc)):
        return None
    if isinstance(doc, dict):
        return {k: clean_json(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [clean_json(v) for v in doc]
    return doc


def write_json(path: Path, doc: Any) -> None:
    """Write a JSON document atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(clean_json(doc), default=str))
    tmp.replace(path)


class JobBook:
    """The jobs of one kind: records in memory and on disk, a one-thread queue."""

    kind = "job"

    def __init__(self, settings: Settings, store: CatalogStore) -> None:
        self.settings = settings
        self.store = store
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sathub-{self.kind}")

    def path(self, job_id: str) -> Path:
        return self.settings.layout.jobs / f"{self.kind}-{job_id}.json"

    def _save(self, job: dict[str, Any]) -> None:
        write_json(self.path(job["id"]), job)

    def _start(self, fields: dict[str, Any], actor: str | None) -> dict[str, Any]:
        """Record a new job (queued) with ``fields`` and queue it; returns a copy."""
        job = {"id": uuid.uuid4().hex, "status": "queued", **fields, "actor": actor,
               "created": now_iso(), "started": None, "finished": None, "error": None}  # fmt: skip
        with self._lock:
            self._jobs[job["id"]] = job
            self._created(job["id"])
            self._save(job)
        self._pool.submit(self._run, job["id"])
        return dict(job)

    def _created(self, job_id: str) -> None:
        """Called (under the lock) when a job is recorded, before it can start."""

    def _update(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            self._jobs[job_id].update(fields)
            self._save(self._jobs[job_id])

    def _progress(self, job_id: str, **fields: Any) -> None:
        """Progress in memory only: after a restart a running job reads back as failed
        anyway, and the next state change saves the record with its latest progress."""
        with self._lock:
            self._jobs[job_id].update(fields)

    def _run(self, job_id: str) -> None:
        raise NotImplementedError

    def _failed(self, job_id: str, exc: Exception) -> None:
        """Record a job's failure: a SathubError's message, or any other error as
        ``unexpected: …`` (reported to the caller, not lost)."""
        error = exc.message if isinstance(exc, SathubError) else f"unexpected: {exc}"
        self._update(job_id, status="failed", error=error, finished=now_iso())

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            if job_id in self._jobs:
                return dict(self._jobs[job_id])
        if not job_id.isalnum():
            raise NotFound(f"{self.kind} job {job_id!r} not found")
        try:
            job = json.loads(self.path(job_id).read_text())
        except (OSError, ValueError):
            raise NotFound(f"{self.kind} job {job_id!r} not found") from None
        if job["status"] in ("queued", "running"):
            job.update(status="failed", error="the server stopped while the job ran")
        return job  # type: ignore[no-any-return]
