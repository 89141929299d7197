"""Ingest jobs run in the background of a long-lived process (the API server).

One job = one batch. Jobs run one at a time on a worker thread (the COG work itself may use
``workers`` processes); status and report are kept in memory and written to
``DATA/jobs/ingest-<id>.json`` so they survive a restart (a job that was running when the
process died is reported as ``failed``). See :class:`sathub.jobs.JobBook`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.jobs import JobBook
from sathub.storage.base import ObjectStore
from sathub.jobs import now_iso as _now


class IngestJobs(JobBook):
    kind = "ingest"

    def __init__(self, settings: Settings, store: CatalogStore, objects: ObjectStore) -> None:
        super().__init__(settings, store)
        self.objects = objects

    def submit(
        self,
        paths: list[str],
        collection: str,
        *,
        replace: bool = False,
        workers: int = 1,
        actor: str | None = None,
    ) -> dict[str, Any]:
        return self._start({"collection": collection, "paths": paths, "replace": replace,
                            "workers": workers, "progress": 0, "total": None, "report": None},
                           actor)  # fmt: skip

    def _run(self, job_id: str) -> None:
        from sathub.ingest.pipeline import ingest_paths

        job = self._jobs[job_id]
        self._update(job_id, status="running", started=_now())
        count = {"n": 0}

        def progress(_: Any) -> None:
            count["n"] += 1
            self._progress(job_id, progress=count["n"])

        try:
            report = ingest_paths(
                [Path(p) for p in job["paths"]],
                job["collection"],
                self.settings,
                self.store,
                self.objects,
                workers=job["workers"],
                replace=job["replace"],
                progress=progress,
                on_total=lambda n: self._update(job_id, total=n),
            )
        except Exception as exc:  # noqa: BLE001 - recorded on the job
            self._failed(job_id, exc)
            return
        self._update(
            job_id,
            status="succeeded" if report.ok else "failed",
            report=report.to_dict(),
            finished=_now(),
            error=None if report.ok else f"{len(report.failed)} scene(s) failed",
        )
