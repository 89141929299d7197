"""HTTP analytics: ``POST /analytics/jobs`` starts a job, ``GET /analytics/jobs/{id}`` reports
it, ``DELETE /analytics/jobs/{id}`` cancels it, ``GET /analytics/jobs/{id}/result`` returns
the result (JSON, or CSV rows of a zonal job with ``?format=csv``). A thin shell over
:mod:`sathub.analytics.jobs`. Analysts, operators and admins run them (``analytics:run``);
their derived items inherit the restrictions of their inputs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from sathub.analytics.jobs import AnalyticsJobs
from sathub.api.access import installation
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput

router = APIRouter(tags=["Analytics"], dependencies=[requires("analytics:run")])


class JobRequest(BaseModel):
    kind: Literal["zonal", "flood", "change", "composite"]
    collection: str = Field(description="Source collection.")
    aoi: dict[str, Any] = Field(description="GeoJSON polygon(s), WGS84; `id` property per polygon.")
    index: str | None = Field(default=None, description="Index name (zonal, change, flood).")
    from_: str | None = Field(default=None, alias="from", description="zonal: first day.")
    to: str | None = Field(default=None, description="zonal: last day.")
    interval: str | None = Field(default=None, description="zonal: 10d or month.")
    before: str | None = Field(default=None, description="flood/change: D1/D2.")
    after: str | None = Field(default=None, description="flood/change: D3/D4.")
    period: str | None = Field(default=None, description="composite: D1/D2.")
    bands: list[str] | None = Field(default=None, description="composite: common names.")
    threshold: float | None = Field(default=None, description="change: |difference|.")
    mask: Literal["auto", "asset", "spectral", "none"] = Field(
        default="auto", description="Cloud mask: auto (SCL/QA_PIXEL asset if any, else none), "
        "asset, spectral, none.")

    model_config = {"populate_by_name": True}


_REQUIRED = {"zonal": ("index",), "flood": ("before", "after"), "change": ("before", "after"),
             "composite": ("period",)}  # fmt: skip


def _jobs(request: Request) -> AnalyticsJobs:
    return installation(request).analytics_jobs


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
    kind = params.pop("kind")
    for name in _REQUIRED[kind]:
        if not params.get(name):
            raise InvalidInput(f"a {kind} job needs {name!r}", field=name)
    job = _jobs(request).submit(kind, params, actor=actor_of(request).name)
    return _links(request, job)


@router.get("/analytics/jobs/{job_id}", name="analytics_job")
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    """Status, progress and result links of a job."""
    return _links(request, _jobs(request).get(job_id))


@router.delete("/analytics/jobs/{job_id}")
def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    """Cancel a queued or running job (a finished job is returned unchanged)."""
    return _links(request, _jobs(request).cancel(job_id))


@router.get("/analytics/jobs/{job_id}/result", name="analytics_result", response_model=None)
def job_result(
    job_id: str, request: Request, format: Literal["json", "csv"] = Query(default="json")
) -> Any:
    """The result document (JSON), or the rows of a zonal job as CSV."""
    jobs = _jobs(request)
    result = jobs.result(job_id)
    if format == "csv":
        from sathub.analytics.zonal_job import write_rows

        rows = result.get("intervals") or result.get("rows")
        if rows is None:
            raise InvalidInput("CSV is available for zonal jobs only", field="format")
        return Response(write_rows(rows, None, "csv"), media_type="text/csv")
    return result
