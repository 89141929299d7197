"""The archive page (``/console/archive``): collections with their access level (admins
toggle it through ``PUT /admin/collections/{id}/access``), ingest jobs with their progress and
failures (``POST /ingest``), and ``verify`` runs (``POST /ingest/verify``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from sathub.api.console import data
from sathub.api.console.listing import Column, listing
from sathub.api.console.render import ConsoleRoute, can, page
from sathub.api.gate import actor_of, requires

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

COLLECTIONS = (
    Column("id", "col.collection"), Column("title", "col.title"),
    Column("items", "col.items", numeric=True), Column("bytes", "col.size", numeric=True),
    Column("level", "col.level", filter=True, labels="level."),
)  # fmt: skip
JOBS = (
    Column("created", "col.created"), Column("collection", "col.collection", filter=True),
    Column("status", "col.status", filter=True, labels="job.status."),
    Column("ingested", "col.ingested", numeric=True), Column("failed", "col.failed", numeric=True),
    Column("actor", "col.actor", sortable=False),
)  # fmt: skip
VERIFY = (
    Column("created", "col.created"), Column("status", "col.status", filter=True, labels="job.status."),
    Column("checked_assets", "col.checked_assets", numeric=True),
    Column("problems", "col.problems", numeric=True),
)  # fmt: skip


def _ingest_row(job: dict[str, Any]) -> dict[str, Any]:
    counts = (job.get("summary") or {}).get("counts") or {}
    return {**job, "collection": (job.get("parameters") or {}).get("collection", ""),
            "ingested": sum(v for k, v in counts.items() if k != "failed") if counts else None,
            "failed": counts.get("failed") if counts else None,
            "failures": [o for o in (job.get("summary") or {}).get("outcomes", []) if o.get("status") == "failed"]}  # fmt: skip


def _verify_row(job: dict[str, Any]) -> dict[str, Any]:
    s = job.get("summary") or {}
    return {**job, "checked_assets": s.get("checked_assets"), "checked_bytes": s.get("checked_bytes"),
            "problems": len(s.get("problems", [])) if s else None, "by_kind": s.get("by_kind", {}),
            "problem_list": s.get("problems", [])}  # fmt: skip


@router.get("/archive", dependencies=[requires("console:staff")])
def archive(request: Request) -> Response:
    actor = actor_of(request)
    ctx: dict[str, Any] = {"collections": listing(request, data.collections(request), COLLECTIONS,
                                                  sort="id", prefix="c_")}  # fmt: skip
    if can(actor, "jobs:read"):
        jobs = data.jobs(request, "ingest")
        ctx["jobs"] = listing(request, [_ingest_row(j) for j in jobs if j["kind"] == "ingest"], JOBS,
                              sort="created", desc=True, per=10, prefix="j_")  # fmt: skip
        ctx["verify"] = listing(request, [_verify_row(j) for j in jobs if j["kind"] == "verify"], VERIFY,
                                sort="created", desc=True, per=10, prefix="v_")  # fmt: skip
    return page(request, "archive.html", "archive.title", **ctx)
