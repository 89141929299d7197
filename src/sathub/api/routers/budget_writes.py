"""Budget writes (``POST/PUT/DELETE /budget/…``): each route calls one
:class:`~sathub.budget.service.BudgetService` method, the same the CLI calls; the caller's key
names the actor (audit, maker–checker)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt, StrictStr

from sathub.api.routers.budget_deps import Id, actor_of, ok, requires, service

router = APIRouter(prefix="/budget", tags=["Budget"])
Amount = Annotated[StrictStr | StrictInt, Field(description='Decimal text, e.g. "1250.50" (never a float).')]
Day = Annotated[str, Field(max_length=10, description="YYYY-MM-DD")]
Text = Annotated[str, Field(default="", max_length=2000)]
Code = Annotated[str, Field(max_length=40)]
LinkKind = Literal["satellite", "station", "agreement", "order"]
Control = Literal["stop", "warn", "ignore"]


class LinkIn(BaseModel):
    kind: LinkKind
    ref: str = Field(max_length=100)


class YearIn(BaseModel):
    code: Code
    start: Day | None = None


class ProjectIn(BaseModel):
    code: Code
    name: str = Field(max_length=200)
    kind: Literal["satellite", "launch", "ground_station", "data_centre", "training", "administration", "other"]
    programme: str = Field(max_length=200)
    description: Text = ""


class CodeNameIn(BaseModel):
    code: Code
    name: str = Field(max_length=200)


class FundingIn(CodeNameIn):
    kind: Literal["government", "donor", "loan", "own_revenue"]


class StationIn(CodeNameIn):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class LineIn(BaseModel):
    year: Code
    project: Code
    category: Code
    funding: Code
    currency: str = Field(max_length=3)
    amount: Amount = "0"
    control_commitment: Control = "stop"
    control_expenditure: Control = "stop"
    description: Text = ""


class AmountIn(BaseModel):
    amount: Amount


class ControlsIn(BaseModel):
    commitment: Control
    expenditure: Control


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class NoteIn(BaseModel):
    note: Text = ""


class TxIn(BaseModel):
    amount: Amount
    currency: str = Field(max_length=3)
    value_date: Day
    counterparty: str = Field(default="", max_length=200)
    reference: str = Field(default="", max_length=200)
    description: Text = ""


class CommitmentIn(TxIn):
    line: int = Field(ge=1, le=2**63 - 1)
    links: list[LinkIn] = Field(default_factory=list, max_length=50)


class SpendIn(TxIn):
    kind: Literal["expenditure", "disbursement"]
    line: int | None = Field(default=None, ge=1, le=2**63 - 1)
    commitment: int | None = Field(default=None, ge=1, le=2**63 - 1)
    links: list[LinkIn] = Field(default_factory=list, max_length=50)


class IncomingIn(TxIn):
    kind: Literal["incoming_funds", "incoming_commitment"]
    year: Code
    project: Code
    funding: Code
    line: int | None = Field(default=None, ge=1, le=2**63 - 1)


class OwnerLinkIn(LinkIn):
    owner: Literal["project", "line", "transaction"]
    owner_id: str = Field(max_length=40)
    note: Text = ""


class RatesIn(BaseModel):
    csv: str = Field(max_length=20_000_000, description="date,base,quote,rate (1 base = rate quote)")
    source: str = Field(default="", max_length=500)


class PriceIn(BaseModel):
    unit: Literal["per_gb", "per_km2"]
    price: Amount
    currency: str = Field(max_length=3)
    project: Code
    funding: Code


class BookIn(BaseModel):
    start: Day
    end: Day
    value_date: Day | None = None


def _links(links: list[LinkIn]) -> list[tuple[str, object]]:
    return [(lk.kind, lk.ref) for lk in links]


@router.post("/years", status_code=201, dependencies=[requires("budget:write")])
def add_year(body: YearIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).add_year(actor.name, body.code, body.start), 201)


@router.post("/years/{code}/close", dependencies=[requires("budget:approve")])
def close_year(code: str, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).close_year(actor.name, code))


@router.post("/years/{code}/revisions", status_code=201, dependencies=[requires("budget:write")])
def start_revision(code: str, body: ReasonIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).start_revision(actor.name, code, body.reason), 201)


@router.delete("/years/{code}/revisions", dependencies=[requires("budget:write")])
def discard_revision(code: str, request: Request) -> Response:
    actor = actor_of(request)
    return ok({"discarded": service(request).discard_revision(actor.name, code)})


@router.post("/years/{code}/approve", dependencies=[requires("budget:approve")])
def approve_version(code: str, request: Request) -> Response:
    """Approve the year's open draft (the original or a revision); not by its drafter."""
    actor = actor_of(request)
    return ok(service(request).approve_version(actor.name, code))


@router.post("/projects", status_code=201, dependencies=[requires("budget:write")])
def add_project(body: ProjectIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).add_project(actor.name, body.code, body.name, body.kind, body.programme,
                                           body.description), 201)  # fmt: skip


@router.post("/categories", status_code=201, dependencies=[requires("budget:write")])
def add_category(body: CodeNameIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).add_category(actor.name, body.code, body.name), 201)


@router.post("/fundings", status_code=201, dependencies=[requires("budget:write")])
def add_funding(body: FundingIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).add_funding(actor.name, body.code, body.name, body.kind), 201)


@router.post("/stations", status_code=201, dependencies=[requires("budget:write")])
def add_station(body: StationIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).add_station(actor.name, body.code, body.name, body.lat, body.lon), 201)


@router.post("/lines", status_code=201, dependencies=[requires("budget:write")])
def add_line(body: LineIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).add_line(
        actor.name, body.year, body.project, body.category, body.funding, body.currency, body.amount,
        control_commitment=body.control_commitment, control_expenditure=body.control_expenditure,
        description=body.description), 201)  # fmt: skip


@router.put("/lines/{line_id}/amount", dependencies=[requires("budget:write")])
def set_amount(line_id: Id, body: AmountIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).set_amount(actor.name, line_id, body.amount))


@router.put("/lines/{line_id}/controls", dependencies=[requires("budget:write")])
def set_controls(line_id: Id, body: ControlsIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).set_controls(actor.name, line_id, body.commitment, body.expenditure))


@router.post("/commitments", status_code=201, dependencies=[requires("budget:write")])
def commit(body: CommitmentIn, request: Request) -> Response:
    """A commitment; above the approval threshold it waits for a second person (``pending``)."""
    actor = actor_of(request)
    return ok(service(request).commit(
        actor.name, body.line, body.amount, body.currency, body.value_date, counterparty=body.counterparty,
        reference=body.reference, description=body.description, links=_links(body.links)), 201)  # fmt: skip


@router.post("/commitments/{tx_id}/approve", dependencies=[requires("budget:approve")])
def approve_commitment(tx_id: Id, body: NoteIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).decide(actor.name, tx_id, "approved", body.note))


@router.post("/commitments/{tx_id}/reject", dependencies=[requires("budget:approve")])
def reject_commitment(tx_id: Id, body: NoteIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).decide(actor.name, tx_id, "rejected", body.note))


@router.post("/spending", status_code=201, dependencies=[requires("budget:write")])
def spend(body: SpendIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).spend(
        actor.name, body.kind, body.amount, body.currency, body.value_date, line_id=body.line,
        commitment_id=body.commitment, counterparty=body.counterparty, reference=body.reference,
        description=body.description, links=_links(body.links)), 201)  # fmt: skip


@router.post("/incoming", status_code=201, dependencies=[requires("budget:write")])
def receive(body: IncomingIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).receive(
        actor.name, body.kind, body.year, body.project, body.funding, body.amount, body.currency,
        body.value_date, counterparty=body.counterparty, reference=body.reference,
        description=body.description, line_id=body.line), 201)  # fmt: skip


@router.post("/links", status_code=201, dependencies=[requires("budget:write")])
def link(body: OwnerLinkIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).link(actor.name, body.owner, body.owner_id, body.kind, body.ref, body.note), 201)


@router.post("/rates", status_code=201, dependencies=[requires("budget:write")])
def load_rates(body: RatesIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok({"loaded": service(request).load_rates(actor.name, body.csv, body.source)}, 201)


@router.put("/prices/{agreement_id}", dependencies=[requires("budget:write")])
def set_price(agreement_id: Id, body: PriceIn, request: Request) -> Response:
    actor = actor_of(request)
    return ok(service(request).set_price(actor.name, agreement_id, body.unit, body.price, body.currency,
                                         body.project, body.funding))  # fmt: skip


@router.post("/revenue/{agreement_id}/book", status_code=201, dependencies=[requires("budget:write")])
def book_revenue(agreement_id: Id, body: BookIn, request: Request) -> Response:
    from sathub.budget.revenue import catalog_area

    actor = actor_of(request)
    return ok(service(request).book_revenue(actor.name, agreement_id, body.start, body.end, body.value_date,
                                            catalog_area(request.app.state.installation.catalog)), 201)  # fmt: skip
