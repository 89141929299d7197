"""HTTP ingest: ``POST /ingest`` starts a job (operator only), ``GET /ingest/jobs/{id}``
reports it. A thin shell over :mod:`sathub.ingest.jobs`; the permission check is
:func:`sathub.ingest.permissions.require_operator`, nowhere else."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sathub.errors import InvalidInput
from sathub.ingest.jobs import IngestJobs
from sathub.ingest.permissions import require_operator

router = APIRouter(tags=["Ingest"])
_ID = re.compile(r"^[A-Za-z0-9._-]{1,256}$")


class IngestRequest(BaseModel):
    paths: list[str] = Field(min_length=1, description="Files or folders on the server.")
    collection: str = Field(description="Target collection (created if missing).")
    replace: bool = Field(default=False, description="Re-ingest scenes already present.")
    workers: int = Field(default=1, ge=1, le=64, description="Processes writing COGs.")


def _jobs(request: Request) -> IngestJobs:
    return IngestJobs.for_app(request.app.state)


@router.post("/ingest", status_code=202)
def start_ingest(body: IngestRequest, request: Request) -> dict[str, Any]:
    """Start ingesting ``paths`` into ``collection``; returns the job (poll its URL)."""
    decision = require_operator(request)
    if not _ID.match(body.collection):
        raise InvalidInput(
            "collection id may use letters, digits, '.', '_' and '-'", field="collection"
        )
    job = _jobs(request).submit(
        body.paths,
        body.collection,
        replace=body.replace,
        workers=body.workers,
        actor=decision.actor,
    )
    job["links"] = [
        {"rel": "monitor", "href": str(request.url_for("ingest_job", job_id=job["id"]))}
    ]
    return job


@router.get("/ingest/jobs/{job_id}", name="ingest_job")
def ingest_job(job_id: str, request: Request) -> dict[str, Any]:
    """Status and per-scene report of an ingest job."""
    require_operator(request)
    return _jobs(request).get(job_id)
