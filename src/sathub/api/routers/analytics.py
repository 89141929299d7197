"""HTTP analytics: ``POST /analytics/jobs`` starts a job, ``GET /analytics/jobs/{id}`` reports
it, ``DELETE /analytics/jobs/{id}`` cancels it, ``GET /analytics/jobs/{id}/result`` returns
the result (JSON, or CSV rows of a zonal job with ``?format=csv``). A thin shell over
:mod:`sathub.analytics.jobs`. Analysts, operators and admins run them (``analytics:run``);
their derived items inherit the restrictions of their inputs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from sathub.analytics.jobs import AnalyticsParams
from sathub.api.access import installation
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput, NotFound
from sathub.jobs import JobRunner

router = APIRouter(tags=["Analytics"], dependencies=[requires("analytics:run")])
LANE = "analytics"


class JobRequest(AnalyticsParams):
    kind: Literal["zonal", "flood", "change", "composite"]


def _jobs(request: Request) -> JobRunner:
    return installation(request).jobs


def _own(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    """A job its submitter, an operator or an admin may see and cancel; anyone else's is a 404,
    exactly like a missing one."""
    actor = actor_of(request)
    if actor.role not in ("admin", "operator") and job.get("actor") != actor.name:
        raise NotFound(f"analytics job {job['id']!r} not found")
    return job


def _links(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    jid = job["id"]
    links = [{"rel": "monitor", "type": "application/json",
              "href": str(request.url_for("analytics_job", job_id=jid))}]  # fmt: skip
    if job["status"] == "succeeded":
        url = str(request.url_for("analytics_result", job_id=jid))
        links.append({"rel": "result", "type": "application/json", "href": url})
        if job["kind"] == "zonal":
            links.append({"rel": "result", "type": "text/csv", "href": f"{url}?format=csv"})
        item = (job.get("summary") or {}).get("item")
        if item:
            base = str(request.base_url).rstrip("/")
            links.append({"rel": "derived_item", "type": "application/geo+json",
                          "href": f"{base}/collections/{item['collection']}/items/{item['id']}"})  # fmt: skip
    return {**job, "links": links}


@router.post("/analytics/jobs", status_code=202)
def start_job(body: JobRequest, request: Request) -> dict[str, Any]:
    """Start an analytics job; poll the `monitor` link."""
    params = body.model_dump(by_alias=True, exclude_none=True)
    kind = params.pop("kind")  # the kind's own model checks its fields before a job starts
    job = _jobs(request).submit(kind, params, lane=LANE, actor=actor_of(request).name)
    return _links(request, job)


@router.get("/analytics/jobs/{job_id}", name="analytics_job")
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    """Status, progress and result links of a job."""
    return _links(request, _own(request, _jobs(request).get(job_id, lane=LANE)))


@router.delete("/analytics/jobs/{job_id}")
def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    """Cancel a queued or running job (a finished job is returned unchanged)."""
    _own(request, _jobs(request).get(job_id, lane=LANE))
    return _links(request, _jobs(request).cancel(job_id, lane=LANE))


@router.get("/analytics/jobs/{job_id}/result", name="analytics_result", response_model=None)
def job_result(
    job_id: str, request: Request, format: Literal["json", "csv"] = Query(default="json")
) -> Any:
    """The result document (JSON), or the rows of a zonal job as CSV."""
    _own(request, _jobs(request).get(job_id, lane=LANE))
    result = _jobs(request).result(job_id, lane=LANE)
    if format == "csv":
        from sathub.analytics.zonal_job import write_rows

        rows = result.get("intervals") or result.get("rows")
        if rows is None:
            raise InvalidInput("CSV is available for zonal jobs only", field="format")
        return Response(write_rows(rows, None, "csv"), media_type="text/csv")
    return result
