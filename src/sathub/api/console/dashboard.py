"""The console's dashboard (``/console``): what each role watches, on one page."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from sathub.api.access import installation
from sathub.api.console import data
from sathub.api.console.render import ConsoleRoute, can, page
from sathub.api.gate import actor_of, requires
from sathub.errors import SathubError

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
USAGE_ROWS = 10
ORDER_STATES = ("received", "planned", "acquired", "delivered", "failed", "cancelled")


@router.get("", dependencies=[requires("console:use")])
def dashboard(request: Request) -> Response:
    actor = actor_of(request)
    inst = installation(request)
    ctx: dict[str, Any] = {}
    if can(actor, "console:staff"):
        cols = data.collections(request)
        ctx["archive"] = {"items": sum(c["items"] for c in cols), "bytes": sum(c["bytes"] for c in cols),
                          "collections": sorted(cols, key=lambda c: -c["items"])[:8], "count": len(cols)}  # fmt: skip
        ctx["activations"] = [a for a in inst.access.store.activations(in_force_at=time.time())]
        ctx["stations"] = _next_passes(request)
    lanes = [ln for ln, perm in (("ingest", "jobs:read"), ("analytics", "analytics:run")) if can(actor, perm)]
    if lanes:
        every = [j for ln in lanes for j in data.jobs(request, ln)]
        ctx["ingests"] = ([j for j in data.jobs(request, "ingest") if j["kind"] == "ingest"][:5]
                          if "ingest" in lanes else None)  # fmt: skip
        ctx["failed"] = sorted((j for j in every if j["status"] == "failed"),
                               key=lambda j: str(j.get("created")), reverse=True)[:5]  # fmt: skip
    if actor.role == "admin":  # the agreements nearest their quota (or using the most)
        ctx["usage"] = sorted((a for a in data.agreements(request) if a["in_force"]),
                              key=lambda a: (-(a["use_share"] or 0), -a["used_bytes"]))[:USAGE_ROWS]  # fmt: skip
    elif actor.role == "partner" and actor.org_id is not None:
        ctx["usage"] = data.agreements(request, actor.org_id)
    if can(actor, "orders:read"):
        counts = Counter(o["status"] for o in data.orders(request))
        ctx["orders"] = [(s, counts.get(s, 0)) for s in ORDER_STATES]
    if can(actor, "budget:read"):
        ctx["budget"] = _budget(request)
    return page(request, "dashboard.html", "dashboard.title", month=data.this_month(), **ctx)


def _next_passes(request: Request) -> list[dict[str, Any]]:
    start, end = data.window(1)
    out = []
    for st in data.stations(request):
        found = data.passes(request, st, start, 24.0)
        out.append({**st, "passes": found["passes"][:4]})
    return out


def _budget(request: Request) -> dict[str, Any] | None:
    """The current fiscal year's execution (``GET /budget/report?by=year&year=…``)."""
    from sathub.api.routers.budget import report

    st = installation(request).budget.store
    today = time.strftime("%Y-%m-%d", time.gmtime())
    years = [y for y in st.years() if str(y.start) <= today <= str(y.end)] or st.years()[-1:]
    if not years:
        return None
    try:
        rep = data.body(report(request, by="year", year=years[0].code, version=None, currency=None,
                               format="json"))  # fmt: skip
    except SathubError:  # e.g. a year with no approved budget yet
        return None
    return {"year": years[0].code, "currency": rep["currency"], "total": rep["total"]}
