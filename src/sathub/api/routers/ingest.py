"""HTTP ingest: ``POST /ingest`` starts an ``ingest`` job and ``POST /ingest/verify`` a
``verify`` job (``ingest:run``: admins and operators), ``GET /ingest/jobs/{id}`` reports either
(``jobs:read``). A thin shell over the job
runner (:mod:`sathub.jobs`) and the ingest job kind (:mod:`sathub.ingest.jobs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from sathub.api.access import installation
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput
from sathub.ingest.jobs import IngestParams, VerifyParams

router = APIRouter(tags=["Ingest"])


def _links(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    return {**job, "links": [{"rel": "monitor", "type": "application/json",
                              "href": str(request.url_for("ingest_job", job_id=job["id"]))}]}  # fmt: skip


@router.post("/ingest", status_code=202, dependencies=[requires("ingest:run")])
def start_ingest(body: IngestParams, request: Request) -> dict[str, Any]:
    """Start ingesting ``paths`` into ``collection``; returns the job (poll its ``monitor``
    link). Paths must be absolute (a relative one, ``""`` included, would name the server
    process's working directory, which no client knows); paths that do not exist on the
    server are refused before a job starts."""
    for n, path in enumerate(body.paths):
        if "\x00" in path or not Path(path).is_absolute():
            raise InvalidInput(f"{path!r} is not an absolute path on the server", field=f"paths.{n}")
        if not Path(path).exists():
            raise InvalidInput(f"{path!r} does not exist on the server", field=f"paths.{n}")
    job = installation(request).jobs.submit("ingest", body.model_dump(), lane="ingest",
                                            actor=actor_of(request).name)  # fmt: skip
    return _links(request, job)


@router.post("/ingest/verify", status_code=202, dependencies=[requires("ingest:run")])
def start_verify(request: Request, body: VerifyParams | None = None) -> dict[str, Any]:
    """Re-check the archive in the background (``sathub verify`` without ``--repair``): every
    asset's size and checksum, and orphan files; poll the job's ``monitor`` link."""
    job = installation(request).jobs.submit("verify", (body or VerifyParams()).model_dump(),
                                            lane="ingest", actor=actor_of(request).name)  # fmt: skip
    return _links(request, job)


@router.get("/ingest/jobs/{job_id}", name="ingest_job", dependencies=[requires("jobs:read")])
def ingest_job(job_id: str, request: Request) -> dict[str, Any]:
    """Status, progress ``{done, total}`` and, when finished, the per-scene report
    (``summary``) of an ingest job."""
    return _links(request, installation(request).jobs.get(job_id, lane="ingest"))
