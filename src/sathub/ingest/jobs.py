"""Ingest jobs run in the background of a long-lived process (the API server).

One job = one batch. Jobs run one at a time on a worker thread (the COG work itself may use
``workers`` processes); status and report are kept in memory and written to
``DATA/jobs/ingest-<id>.json`` so they survive a restart (a job that was running when the
process died is reported as ``failed``).
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import NotFound, SathubError


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class IngestJobs:
    def __init__(self, settings: Settings, store: CatalogStore) -> None:
        self.settings = settings
        self.store = store
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sathub-ingest")

    def _path(self, job_id: str) -> Path:
        return self.settings.layout.jobs / f"ingest-{job_id}.json"

    def _save(self, job: dict[str, Any]) -> None:
        self.settings.layout.jobs.mkdir(parents=True, exist_ok=True)
        tmp = self._path(job["id"]).with_suffix(".tmp")
        tmp.write_text(json.dumps(job))
        tmp.replace(self._path(job["id"]))

    def submit(
        self,
        paths: list[str],
        collection: str,
        *,
        replace: bool = False,
        workers: int = 1,
        actor: str | None = None,
    ) -> dict[str, Any]:
        job = {
            "id": uuid.uuid4().hex,
            "status": "queued",
            "collection": collection,
            "paths": paths,
            "replace": replace,
            "workers": workers,
            "actor": actor,
            "created": _now(),
            "started": None,
            "finished": None,
            "progress": 0,
            "total": None,
            "report": None,
            "error": None,
        }
        with self._lock:
            self._jobs[job["id"]] = job
            self._save(job)
        self._pool.submit(self._run, job["id"])
        return dict(job)

    def _update(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            self._jobs[job_id].update(fields)
            self._save(self._jobs[job_id])

    def _run(self, job_id: str) -> None:
        from sathub.ingest.pipeline import ingest_paths

        job = self._jobs[job_id]
        self._update(job_id, status="running", started=_now())
        count = {"n": 0}

        def progress(_: Any) -> None:
            count["n"] += 1
            self._update(job_id, progress=count["n"])

        try:
            report = ingest_paths(
                [Path(p) for p in job["paths"]],
                job["collection"],
                self.settings,
                self.store,
                workers=job["workers"],
                replace=job["replace"],
                progress=progress,
                on_total=lambda n: self._update(job_id, total=n),
            )
        except SathubError as exc:
            self._update(job_id, status="failed", error=exc.message, finished=_now())
            return
        except Exception as exc:  # noqa: BLE001 - reported to the caller, not lost
            self._update(job_id, status="failed", error=f"unexpected: {exc}", finished=_now())
            return
        self._update(
            job_id,
            status="succeeded" if report.ok else "failed",
            report=report.to_dict(),
            finished=_now(),
            error=None if report.ok else f"{len(report.failed)} scene(s) failed",
        )

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            if job_id in self._jobs:
                return dict(self._jobs[job_id])
        try:
            job = json.loads(self._path(job_id).read_text())
        except (OSError, ValueError):
            raise NotFound(f"ingest job {job_id!r} not found") from None
        if job["status"] in ("queued", "running"):
            job.update(status="failed", error="the server stopped while the job ran")
        return job
