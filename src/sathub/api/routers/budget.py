"""The programme budget API (``/budget/…``): reads, reports and exports here; writes in
:mod:`sathub.api.routers.budget_writes`. Roles: ``budget_viewer`` reads, ``finance_officer``
writes lines and transactions, ``budget_approver`` approves versions and commitments above the
threshold, ``admin`` does everything; for every other caller the budget does not exist (404;
401 without a key). See docs/budget.md."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from sathub.api.routers.budget_deps import Id, Norad, ok, requires, service
from sathub.budget import charts, exports, iati, reports
from sathub.budget.money import from_minor
from sathub.budget.rates import parse_day
from sathub.errors import InvalidInput

router = APIRouter(prefix="/budget", tags=["Budget"])
PNG: dict[str, Any] = {"content": {"image/png": {}}}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/years", dependencies=[requires("budget:read")])
def list_years(request: Request) -> Response:
    st = service(request).store
    return ok([{**y.__dict__, "closed": y.closed, "versions": st.versions(y.code)} for y in st.years()])


@router.get("/years/{code}/versions", dependencies=[requires("budget:read")])
def history(code: str, request: Request) -> Response:
    """Every version of a year (original, revisions): who, when, why, and each line's figure."""
    return ok(service(request).history(code))


@router.get("/projects", dependencies=[requires("budget:read")])
def list_projects(request: Request) -> Response:
    st = service(request).store
    return ok([{**p.__dict__, "links": st.links(owner="project", owner_id=p.code)} for p in st.projects()])


@router.get("/refs", dependencies=[requires("budget:read")])
def refs(request: Request) -> Response:
    """Categories, funding sources and ground stations."""
    st = service(request).store
    return ok({"categories": st.categories(), "fundings": st.fundings(), "stations": st.stations()})


def _line(svc: object, line_id: Id) -> dict[str, object]:
    st = svc.store  # type: ignore[attr-defined]
    ln = st.line(line_id)
    p = st.position(line_id)
    return {**ln.__dict__, **{k: str(from_minor(getattr(p, k), ln.currency)) for k in
                              ("revised", "committed", "pending", "spent", "direct_spent", "available")},
            "links": st.links(owner="line", owner_id=str(ln.id))}  # fmt: skip


@router.get("/lines", dependencies=[requires("budget:read")])
def list_lines(request: Request, year: str | None = None, project: str | None = None) -> Response:
    """Lines with their balance in their own currency under the current approved version."""
    svc = service(request)
    return ok([_line(svc, ln.id) for ln in svc.store.lines(year=year, project=project)])


@router.get("/lines/{line_id}", dependencies=[requires("budget:read")])
def get_line(line_id: Id, request: Request) -> Response:
    return ok(_line(service(request), line_id))


def _tx(st: object, t: object) -> dict[str, object]:
    d = dict(t.__dict__)  # type: ignore[attr-defined]
    d["amount"] = str(from_minor(d.pop("amount_minor"), d["currency"]))
    d["amount_line"] = str(from_minor(d.pop("amount_line_minor"), d["line_currency"]))
    d["overrun"] = str(from_minor(d.pop("overrun_minor"), d["line_currency"]))
    return d


@router.get("/transactions", dependencies=[requires("budget:read")])
def list_transactions(request: Request, year: str | None = None, line: int | None = None,
                      kind: str | None = None, project: str | None = None) -> Response:  # fmt: skip
    st = service(request).store
    return ok([_tx(st, t) for t in st.transactions(year=year, line_id=line, kind=kind, project=project)])


@router.get("/transactions/{tx_id}", dependencies=[requires("budget:read")])
def get_transaction(tx_id: Id, request: Request) -> Response:
    st = service(request).store
    t = st.transaction(tx_id)
    return ok({**_tx(st, t), "approvals": st.approvals(t.id),
               "links": st.links(owner="transaction", owner_id=str(t.id))})  # fmt: skip


@router.get("/links", dependencies=[requires("budget:read")])
def list_links(request: Request, kind: str | None = None, ref: str | None = None) -> Response:
    return ok(service(request).store.links(kind=kind, ref=ref))


@router.get("/rates", dependencies=[requires("budget:read")])
def list_rates(request: Request) -> Response:
    return ok(service(request).store.rates())


@router.get("/report", responses={200: {"content": {"text/csv": {}, "image/png": {}, XLSX: {}}}}, dependencies=[requires("budget:read")])
def report(request: Request,
           by: Annotated[str, Query(max_length=100, description="year, quarter, project, category, funding, line")] = "category",
           year: str | None = None, version: int | None = None,
           currency: Annotated[str | None, Query(max_length=3)] = None,
           format: Literal["json", "csv", "xlsx", "png"] = "json") -> Response:  # fmt: skip
    """Approved vs revised vs committed vs pending vs spent vs available, received and pledged."""
    svc = service(request)
    group_by = [g.strip() for g in by.split(",") if g.strip()]
    if not group_by:
        raise InvalidInput("group by at least one dimension", field="by")
    rep = reports.report(svc.store, svc.config, group_by, currency=currency, year=year, version=version)
    if format == "csv":
        return Response(exports.report_csv(rep), media_type="text/csv")
    if format == "xlsx":
        return Response(exports.report_xlsx(rep, svc.store), media_type=XLSX,
                        headers={"Content-Disposition": 'attachment; filename="budget.xlsx"'})  # fmt: skip
    if format == "png":
        return Response(charts.report_chart(rep, f"Budget by {', '.join(group_by)}"), media_type="image/png")
    return ok(rep.as_dict())


@router.get("/forecast", responses={200: PNG}, dependencies=[requires("budget:read")])
def forecast(request: Request, year: str, as_of: str | None = None,
             format: Literal["json", "png"] = "json") -> Response:  # fmt: skip
    """Burn rate and year-end forecast per project (method: docs/budget.md)."""
    svc = service(request)
    day = parse_day(as_of, "as_of") if as_of else dt.date.today()
    if format == "png":
        return Response(charts.burn_chart(svc.store, svc.config, year, day), media_type="image/png")
    return ok(reports.forecast(svc.store, svc.config, year, day))


@router.get("/satellites/{norad_id}", dependencies=[requires("budget:read")])
def satellite_cost(norad_id: Norad, request: Request) -> Response:
    """What a satellite has cost so far against its budget."""
    svc = service(request)
    return ok(reports.satellite_cost(svc.store, svc.config, norad_id))


@router.get("/revenue/{agreement_id}", dependencies=[requires("budget:read")])
def revenue(agreement_id: Id, request: Request, start: str, end: str) -> Response:
    """An agreement's revenue from its audited deliveries in [start, end] (not booked)."""
    from sathub.budget.revenue import catalog_area

    rev = service(request).revenue(agreement_id, start, end, catalog_area(request.app.state.installation.catalog))
    return ok(rev.as_dict())


@router.get("/exports/iati", responses={200: {"content": {"application/xml": {}}}}, dependencies=[requires("budget:read")])
def iati_export(request: Request) -> Response:
    """The IATI activity file (2.03), validated against the bundled schema before it is sent."""
    svc = service(request)
    xml = iati.activities(svc.store, svc.config)
    problems = iati.validate(xml)
    if problems:  # a bug, not bad input: fail loudly rather than publish an invalid file
        raise RuntimeError(f"IATI export does not validate: {problems[:3]}")
    return Response(xml, media_type="application/xml")


@router.get("/exports/fdp", responses={200: {"content": {"application/zip": {}}}}, dependencies=[requires("budget:read")])
def fdp_export(request: Request) -> Response:
    """The Fiscal Data Package (datapackage.json + budget.csv) as a zip."""
    svc = service(request)
    return Response(exports.fdp_zip(svc.store, svc.config), media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="budget-fdp.zip"'})  # fmt: skip

