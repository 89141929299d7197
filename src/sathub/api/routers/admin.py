"""The access-control admin API (``/admin/…``, admin keys only): organisations, API keys,
agreements (create, suspend, renew, terminate), collection levels, disaster activations,
usage reports and audit verification. Every change is an admin action of the access service
(:mod:`sathub.access.admin`): written and audited together, as the CLI does."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from sathub.access import reports
from sathub.access.admin import activation_view, agreement_view, key_view, org_view
from sathub.access.dates import month_of
from sathub.api.access import installation, service as _service
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput
from sathub.timeutil import iso, parse_timestamp

# Ids are SQLite (and PostgreSQL) 64-bit integers: a larger one is a 422 naming the parameter,
# not an OverflowError from the driver (a 500, found by schemathesis's stateful phase).
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]

router = APIRouter(prefix="/admin", tags=["Access administration"], dependencies=[requires("admin")])


def _actor(request: Request) -> str:
    return actor_of(request).name  # the route has required an admin


def _when(value: str | None, *, end: bool = False, field: str) -> float | None:
    return None if value is None else parse_timestamp(value, end=end, field=field)


class OrgIn(BaseModel):
    name: str = Field(max_length=200)
    kind: Literal["government", "international", "university", "company", "individual"]


class KeyIn(BaseModel):
    role: Literal["admin", "operator", "analyst", "partner", "finance_officer", "budget_approver",
                  "budget_viewer"]
    org: str | None = Field(default=None, max_length=200, description="Organisation name or id.")
    expires: str | None = Field(default=None, max_length=40, description="ISO date or datetime.")
    label: str = Field(default="", max_length=200)


class AgreementIn(BaseModel):
    org: str = Field(max_length=200)
    title: str = Field(max_length=500)
    collections: list[str] = Field(min_length=1, max_length=1000)
    reference: str = Field(default="", max_length=200)
    status: Literal["draft", "active"] = "active"
    signed: str | None = Field(default=None, max_length=40)
    valid_from: str | None = Field(default=None, max_length=40)
    valid_to: str | None = Field(default=None, max_length=40)
    aoi: dict[str, Any] | None = None
    acquired_from: str | None = Field(default=None, max_length=40)
    acquired_to: str | None = Field(default=None, max_length=40)
    embargo_days: float = Field(default=0, ge=0, le=36500)
    asset_roles: list[str] | None = None
    licence: str = Field(default="", max_length=100_000)
    quota_bytes: int | None = Field(default=None, ge=0)
    purposes: list[str] = Field(default_factory=list, max_length=100)


class RenewIn(BaseModel):
    valid_to: str = Field(max_length=40, description="New end of validity (a date: that whole day).")


class LevelIn(BaseModel):
    level: Literal["open", "restricted"]


class ActivationIn(BaseModel):
    name: str = Field(max_length=500)
    aoi: dict[str, Any]
    days: float = Field(gt=0, le=365)
    orgs: list[str] | None = Field(default=None, description="Responders; null opens it to the public.")
    collections: list[str] | None = None
    acquired_from: str | None = Field(default=None, max_length=40)
    acquired_to: str | None = Field(default=None, max_length=40)


@router.get("/orgs")
def list_orgs(request: Request) -> list[dict[str, Any]]:
    return [org_view(o) for o in _service(request).store.orgs()]


@router.post("/orgs", status_code=201)
def add_org(body: OrgIn, request: Request) -> dict[str, Any]:
    return org_view(_service(request).add_org(_actor(request), body.name, body.kind))


@router.get("/keys")
def list_keys(request: Request) -> list[dict[str, Any]]:
    return [key_view(k) for k in _service(request).store.keys()]


@router.post("/keys", status_code=201)
def issue_key(body: KeyIn, request: Request) -> dict[str, Any]:
    """Issue a key; the response is the only time the key is shown."""
    token, rec = _service(request).issue_key(_actor(request), body.role, body.org, label=body.label,
                                             expires=_when(body.expires, end=True, field="expires"))  # fmt: skip
    return {"id": rec.id, "key": token, "role": rec.role, "org_id": rec.org_id, "expires": iso(rec.expires)}


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: Id, request: Request) -> dict[str, Any]:
    _service(request).revoke_key(_actor(request), key_id)
    return {"id": key_id, "revoked": True}


@router.get("/agreements")
def list_agreements(request: Request) -> list[dict[str, Any]]:
    return [agreement_view(a) for a in _service(request).store.agreements()]


@router.post("/agreements", status_code=201)
def add_agreement(body: AgreementIn, request: Request) -> dict[str, Any]:
    a = _service(request).add_agreement(
        _actor(request), body.org, catalog=installation(request).catalog, title=body.title, reference=body.reference, status=body.status,
        signed=_when(body.signed, field="signed"),
        valid_from=_when(body.valid_from, field="valid_from"),
        valid_to=_when(body.valid_to, end=True, field="valid_to"),
        collections=tuple(body.collections), aoi=body.aoi,
        acquired_from=_when(body.acquired_from, field="acquired_from"),
        acquired_to=_when(body.acquired_to, end=True, field="acquired_to"),
        embargo_days=body.embargo_days,
        asset_roles=tuple(body.asset_roles) if body.asset_roles is not None else None,
        licence=body.licence, quota_bytes=body.quota_bytes, purposes=tuple(body.purposes),
    )  # fmt: skip
    return agreement_view(a)


@router.post("/agreements/{agreement_id}/suspend")
def suspend_agreement(agreement_id: Id, request: Request) -> dict[str, Any]:
    return agreement_view(_service(request).suspend_agreement(_actor(request), agreement_id))


@router.post("/agreements/{agreement_id}/terminate")
def terminate_agreement(agreement_id: Id, request: Request) -> dict[str, Any]:
    return agreement_view(_service(request).terminate_agreement(_actor(request), agreement_id))


@router.post("/agreements/{agreement_id}/renew")
def renew_agreement(agreement_id: Id, body: RenewIn, request: Request) -> dict[str, Any]:
    until = parse_timestamp(body.valid_to, end=True, field="valid_to")
    return agreement_view(_service(request).renew_agreement(_actor(request), agreement_id, until))


@router.put("/collections/{collection_id}/access")
def set_collection_access(collection_id: str, body: LevelIn, request: Request) -> dict[str, Any]:
    also = _service(request).set_collection_level(_actor(request), collection_id, body.level,
                                                  catalog=installation(request).catalog)  # fmt: skip
    return {"collection": collection_id, "level": body.level, "derived_also_restricted": also}


@router.get("/activations")
def list_activations(request: Request) -> list[dict[str, Any]]:
    now = time.time()
    return [activation_view(a, now) for a in _service(request).store.activations()]


@router.post("/activations", status_code=201)
def add_activation(body: ActivationIn, request: Request) -> dict[str, Any]:
    act = _service(request).open_activation(
        _actor(request), name=body.name, aoi=body.aoi, days=body.days, orgs=body.orgs,
        collections=body.collections, catalog=installation(request).catalog,
        acquired_from=_when(body.acquired_from, field="acquired_from"),
        acquired_to=_when(body.acquired_to, end=True, field="acquired_to"),
    )  # fmt: skip
    return activation_view(act)


@router.post("/activations/{activation_id}/close")
def close_activation(activation_id: Id, request: Request) -> dict[str, Any]:
    return activation_view(_service(request).close_activation(_actor(request), activation_id))


@router.get("/usage/{agreement_id}", responses={200: {"content": {"text/csv": {}, "image/png": {}}}})
def usage_report(agreement_id: Id, request: Request, month: str | None = None,
                 format: Literal["json", "csv", "png"] = "json") -> Response:  # fmt: skip
    """Usage of an agreement in a month (``YYYY-MM``, default this month): JSON, CSV or PNG."""
    s = _service(request)
    month = month or month_of(time.time())
    if len(month) != 7:
        raise InvalidInput("month must be YYYY-MM", field="month")
    report = reports.usage(s.store, s.audit, agreement_id, month)
    if format == "csv":
        return Response(reports.to_csv(report), media_type="text/csv")
    if format == "png":
        return Response(reports.to_png(report), media_type="image/png")
    from sathub.api.responses import json_response

    return json_response(report)


@router.get("/audit/verify")
def verify_audit(request: Request) -> dict[str, Any]:
    """Recompute the audit log (chain, head, anchors, quota counters, access rows, pending
    tiles): ``{"ok", "records", "problems", "checked", "not_checked"}``."""
    s = _service(request)
    s.audit.flush_tiles()
    return s.audit.verify().as_dict()
