"""HTTP ingest: ``POST /ingest`` starts a job (``ingest:run``: admins and operators),
``GET /ingest/jobs/{id}`` reports it (``jobs:read``). A thin shell over
:mod:`sathub.ingest.jobs`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sathub.api.access import installation
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput
from sathub.ingest.jobs import IngestJobs

router = APIRouter(tags=["Ingest"])
_ID = re.compile(r"^[A-Za-z0-9._-]{1,256}$")


class IngestRequest(BaseModel):
    paths: list[str] = Field(min_length=1, description="Files or folders on the server.")
    collection: str = Field(description="Target collection (created if missing).")
    replace: bool = Field(default=False, description="Re-ingest scenes already present.")
    workers: int = Field(default=1, ge=1, le=64, description="Processes writing COGs.")


def _jobs(request: Request) -> IngestJobs:
    return installation(request).ingest_jobs


@router.post("/ingest", status_code=202, dependencies=[requires("ingest:run")])
def start_ingest(body: IngestRequest, request: Request) -> dict[str, Any]:
    """Start ingesting ``paths`` into ``collection``; returns the job (poll its URL)."""
    if not _ID.match(body.collection):
        raise InvalidInput(
            "collection id may use letters, digits, '.', '_' and '-'", field="collection"
        )
    for n, path in enumerate(body.paths):  # refused before a job starts, naming the path
        if "\x00" in path or not Path(path).exists():
            raise InvalidInput(f"{path!r} does not exist on the server", field=f"paths.{n}")
    job = _jobs(request).submit(
        body.paths,
        body.collection,
        replace=body.replace,
        workers=body.workers,
        actor=actor_of(request).name,
    )
    job["links"] = [
        {"rel": "monitor", "href": str(request.url_for("ingest_job", job_id=job["id"]))}
    ]
    return job


@router.get("/ingest/jobs/{job_id}", name="ingest_job", dependencies=[requires("jobs:read")])
def ingest_job(job_id: str, request: Request) -> dict[str, Any]:
    """Status and per-scene report of an ingest job."""
    return _jobs(request).get(job_id)
