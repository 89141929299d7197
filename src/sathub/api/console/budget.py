"""The budget (``/console/budget``, ``/console/budget/commitments``): lines with their balance,
the year's report as a chart, commitments with their approval. Reads are the budget API's
route functions (``GET /budget/lines``, ``/budget/report``, ``/budget/transactions``); writes
are its routes, posted by the page (``POST /budget/commitments``, ``…/approve``, ``…/reject``)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from sathub.api.access import installation
from sathub.api.console import data
from sathub.api.console.listing import Column, listing
from sathub.api.console.render import ConsoleRoute, catalog, page
from sathub.api.gate import requires
from sathub.errors import NotFound, SathubError

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
MEASURES = ("revised", "committed", "pending", "spent", "available")
LINES = (
    Column("id", "col.id", numeric=True), Column("project", "col.project", filter=True),
    Column("category", "col.category", filter=True), Column("funding", "col.funding", filter=True),
    Column("currency", "col.currency", filter=True),
    *(Column(m, f"budget.measure.{m}", numeric=True) for m in MEASURES),
)  # fmt: skip
COMMITMENTS = (
    Column("id", "col.id", numeric=True), Column("value_date", "col.date"),
    Column("line_id", "col.line", numeric=True), Column("project", "col.project", filter=True),
    Column("counterparty", "col.counterparty"), Column("amount", "col.amount", numeric=True),
    Column("currency", "col.currency", filter=True),
    Column("status", "col.status", filter=True, labels="commitment.status."),
    Column("created_by", "col.maker"),
)  # fmt: skip


def _year(request: Request, year: str | None) -> str | None:
    """The year asked for (404 for an unknown one), else the current one, else the newest."""
    years = installation(request).budget.store.years()
    if year:
        if year not in {y.code for y in years}:
            raise NotFound(f"fiscal year {year!r} not found", field="year")
        return year
    today = time.strftime("%Y-%m-%d", time.gmtime())
    chosen = [y for y in years if str(y.start) <= today <= str(y.end)] or years[-1:]
    return chosen[0].code if chosen else None


def _years(request: Request) -> list[str]:
    return [y.code for y in installation(request).budget.store.years()]


@router.get("/budget", dependencies=[requires("budget:read")])
def budget(request: Request, year: str | None = Query(default=None, max_length=32)) -> Response:
    from sathub.api.routers.budget import list_lines, report

    code = _year(request, year)
    ctx: dict[str, Any] = {"years": _years(request), "year": code}
    if code:
        ctx["lines"] = listing(request, data.body(list_lines(request, year=code, project=None)), LINES,
                               sort="id")  # fmt: skip
        try:
            rep = data.body(report(request, by="project", year=code, version=None, currency=None,
                                   format="json"))  # fmt: skip
        except SathubError as exc:  # no approved budget yet: say so, show the lines
            ctx["report_error"] = exc.message
        else:
            ctx["report"] = rep
            ctx["chart"] = {"labels": [r["project"] for r in rep["rows"]], "y": rep["currency"],
                            "series": [{"label": catalog(request)(f"budget.measure.{m}"), "values": [float(r[m]) for r in rep["rows"]]}
                                       for m in ("revised", "committed", "spent", "available")]}  # fmt: skip
    return page(request, "budget.html", "budget.title", needs=("chart",), **ctx)


@router.get("/budget/commitments", dependencies=[requires("budget:read")])
def commitments(request: Request, year: str | None = Query(default=None, max_length=32)) -> Response:
    from sathub.api.routers.budget import list_lines, list_transactions

    code = _year(request, year)
    ctx: dict[str, Any] = {"years": _years(request), "year": code}
    if code:
        rows = data.body(list_transactions(request, year=code, line=None, kind="commitment", project=None))
        ctx["commitments"] = listing(request, rows, COMMITMENTS, sort="id", desc=True)
        ctx["lines"] = data.body(list_lines(request, year=code, project=None))
        ctx["today"] = time.strftime("%Y-%m-%d", time.gmtime())
    return page(request, "commitments.html", "commitments.title", **ctx)
