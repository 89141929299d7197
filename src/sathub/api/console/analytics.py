"""Analytics (``/console/analytics``): zonal statistics, flood, change and composite jobs
started from a form (``POST /analytics/jobs``), their progress (``GET /analytics/jobs/{id}``),
and the result on the map and as a chart (``GET /analytics/jobs/{id}/result``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from sathub.analytics.indices import INDICES
from sathub.api.access import installation
from sathub.api.console import data
from sathub.api.console.listing import Column, listing
from sathub.api.console.render import ConsoleRoute, page
from sathub.api.gate import requires

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
JOBS = (
    Column("created", "col.created"), Column("kind", "col.kind", filter=True, labels="job.kind."),
    Column("collection", "col.collection", filter=True),
    Column("status", "col.status", filter=True, labels="job.status."),
    Column("actor", "col.actor", sortable=False),
)  # fmt: skip


@router.get("/analytics", dependencies=[requires("analytics:run")])
def analytics(request: Request, job: str | None = Query(default=None, max_length=64)) -> Response:
    rows = [{**j, "collection": (j.get("parameters") or {}).get("collection", "")}
            for j in data.jobs(request, "analytics")]  # fmt: skip
    opened: dict[str, Any] | None = None
    if job:
        opened = installation(request).jobs.get(job, lane="analytics")  # 404 for an unknown one
    return page(request, "analytics.html", "analytics.title", needs=("map", "chart", "analytics"),
                jobs=listing(request, rows, JOBS, sort="created", desc=True, per=10),
                collections=[c["id"] for c in data.collections(request)],
                indices=sorted(INDICES), opened=opened)  # fmt: skip
