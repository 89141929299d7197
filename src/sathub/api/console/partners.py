"""Partners: organisations, their agreements, keys and usage.

Admins see every organisation (``/console/partners``), every agreement and key; a partner
sees its own organisation's page and nothing else: another organisation's page answers 404,
exactly like one that does not exist. Writes are the admin API's routes (``/admin/orgs``,
``/admin/agreements…``, ``/admin/keys…``), posted by the page; usage reports are
:func:`sathub.access.reports.usage`, as ``GET /admin/usage/{id}`` answers them.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from sathub.access import reports
from sathub.access.models import ORG_KINDS
from sathub.api.access import installation
from sathub.api.console import data
from sathub.api.console.listing import Column, listing
from sathub.api.console.render import ConsoleRoute, page
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput, NotFound

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
ROLES_ISSUED = ("partner", "analyst", "operator", "admin", "finance_officer", "budget_approver",
                "budget_viewer")  # fmt: skip
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

ORGS = (
    Column("id", "col.id", numeric=True), Column("name", "col.name"),
    Column("kind", "col.kind", filter=True, labels="org.kind."),
    Column("agreements", "col.agreements", numeric=True), Column("keys", "col.keys", numeric=True),
    Column("created", "col.created"),
)  # fmt: skip
AGREEMENTS = (
    Column("id", "col.id", numeric=True), Column("title", "col.title"),
    Column("org", "col.organisation", filter=True),
    Column("status", "col.status", filter=True, labels="agreement.status."),
    Column("valid_to", "col.valid_to"), Column("collections", "col.collections"),
    Column("quota_bytes", "col.quota", numeric=True), Column("used_bytes", "col.used", numeric=True),
)  # fmt: skip
KEYS = (
    Column("id", "col.id", numeric=True), Column("prefix", "col.prefix"),
    Column("role", "col.role", filter=True, labels="role."), Column("org", "col.organisation", filter=True),
    Column("label", "col.label"), Column("state", "col.state", filter=True, labels="key.state."),
    Column("expires", "col.expires"), Column("last_used", "col.last_used"),
)  # fmt: skip


def _org_or_404(request: Request, org_id: int) -> Any:
    """The organisation, if the caller may open its pages; another's is a 404, worded as the
    store words a missing one."""
    if not data.partner_of(actor_of(request), org_id):
        raise NotFound(f"organisation {org_id!r} not found", field="org")
    return installation(request).access.store.org(org_id)


def _agreement_of(request: Request, org_id: int, agreement_id: int) -> Any:
    org = _org_or_404(request, org_id)
    a = installation(request).access.store.agreement(agreement_id)
    if a.org_id != org.id:
        raise NotFound(f"agreement {agreement_id} not found", field="agreement")
    return a


def _month(value: str | None) -> str:
    month = value or data.this_month()
    if not MONTH.match(month):
        raise InvalidInput("month must be YYYY-MM", field="month")
    return month


@router.get("/partners", dependencies=[requires("admin")])
def organisations(request: Request) -> Response:
    from sathub.api.routers.admin import list_orgs

    agreements = data.agreements(request)
    keys = data.keys(request)
    rows = [{**o, "agreements": sum(1 for a in agreements if a["org_id"] == o["id"]),
             "keys": sum(1 for k in keys if k["org_id"] == o["id"])} for o in list_orgs(request)]  # fmt: skip
    return page(request, "partners.html", "partners.title", kinds=ORG_KINDS,
                orgs=listing(request, rows, ORGS, sort="name"))  # fmt: skip


@router.get("/partners/{org_id}", dependencies=[requires("console:org")])
def organisation(request: Request, org_id: int, agreement: int | None = None,
                 month: str | None = None) -> Response:  # fmt: skip
    org = _org_or_404(request, org_id)
    rows = data.agreements(request, org.id)
    ctx: dict[str, Any] = {"org": org, "agreements": listing(request, rows, AGREEMENTS, sort="id", prefix="a_"),
                           "roles": ROLES_ISSUED}  # fmt: skip
    if actor_of(request).role == "admin":
        ctx["keys"] = listing(request, data.keys(request, org.id), KEYS, sort="id", prefix="k_")
        ctx["collections"] = [c["id"] for c in data.collections(request)]
    chosen = agreement if agreement is not None else (rows[0]["id"] if rows else None)
    if chosen is not None:
        a = _agreement_of(request, org.id, chosen)
        month_ = _month(month)
        svc = installation(request).access
        report = reports.usage(svc.store, svc.audit, a.id, month_)
        ctx["usage"] = {**report, "chart": _usage_chart(report), "month": month_}
        ctx["aois"] = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": r["aoi"], "properties": {"id": r["id"], "title": r["title"]}}
            for r in rows if r.get("aoi")]}  # fmt: skip
    return page(request, "organisation.html", "organisation.title", title_params={"name": org.name},
                needs=("map", "chart"), **ctx)  # fmt: skip


def _usage_chart(report: dict[str, Any]) -> dict[str, Any]:
    lo, hi = reports.month_bounds(report["month"])
    days = [f"{report['month']}-{d:02d}" for d in range(1, round((hi - lo) / 86400) + 1)]
    per_day = [report["days"].get(d, {}).get("bytes", 0) for d in days]
    total, cumulative = 0, []
    for v in per_day:
        total += v
        cumulative.append(total)
    return {"labels": [d[-2:] for d in days], "bytes": per_day, "cumulative": cumulative,
            "quota": report["quota_bytes"]}  # fmt: skip


@router.get("/partners/{org_id}/usage/{agreement_id}.csv", dependencies=[requires("console:org")])
def usage_csv(request: Request, org_id: int, agreement_id: int, month: str | None = None) -> Response:
    """An agreement's usage records of a month as CSV (what ``GET /admin/usage/{id}?format=csv``
    answers), for its own organisation's partners too."""
    from sathub.api.routers.admin import usage_report

    a = _agreement_of(request, org_id, agreement_id)
    month_ = _month(month)
    resp = usage_report(a.id, request, month=month_, format="csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="usage-{a.id}-{month_}.csv"'
    return resp


@router.get("/agreements", dependencies=[requires("admin")])
def agreements(request: Request) -> Response:
    return page(request, "agreements.html", "agreements.title",
                agreements=listing(request, data.agreements(request), AGREEMENTS, sort="id"))  # fmt: skip


@router.get("/keys", dependencies=[requires("admin")])
def keys(request: Request) -> Response:
    from sathub.api.routers.admin import list_orgs

    return page(request, "keys.html", "keys.title", roles=ROLES_ISSUED, orgs=list_orgs(request),
                keys=listing(request, data.keys(request), KEYS, sort="id", desc=True))  # fmt: skip
