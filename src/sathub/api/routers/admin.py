"""The access-control admin API (``/admin/…``, admin keys only): organisations, API keys,
agreements (create, suspend, renew, terminate), collection levels, disaster activations,
usage reports and audit verification. Every change is written to the audit log."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from sathub.access import keys, reports
from sathub.access.activations import open_activation
from sathub.access.dates import iso, month_of, parse_when
from sathub.api.access import installation, service as _service
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput

router = APIRouter(prefix="/admin", tags=["Access administration"], dependencies=[requires("admin")])


def _audit(request: Request, action: str, resource: str, **fields: Any) -> None:
    actor = actor_of(request)  # the route has required an admin
    agr, act = fields.pop("agreement_id", None), fields.pop("activation_id", None)
    _service(request).audit.append(actor.name, action, resource, agreement_id=agr,
                                   activation_id=act, detail=fields or None)  # fmt: skip


def _when(value: str | None, *, end: bool = False, field: str) -> float | None:
    return None if value is None else parse_when(value, end=end, field=field)


def _agreement_out(a: Any) -> dict[str, Any]:
    d = a.as_dict()
    for k in ("signed", "valid_from", "valid_to", "acquired_from", "acquired_to"):
        d[k] = iso(d[k])
    return d


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
    return [{**o.__dict__, "created": iso(o.created)} for o in _service(request).store.orgs()]


@router.post("/orgs", status_code=201)
def add_org(body: OrgIn, request: Request) -> dict[str, Any]:
    org = _service(request).store.add_org(body.name, body.kind)
    _audit(request, "admin.org.add", f"org:{org.id}", name=org.name, kind=org.kind)
    return {**org.__dict__, "created": iso(org.created)}


@router.get("/keys")
def list_keys(request: Request) -> list[dict[str, Any]]:
    return [{**k.__dict__, **{f: iso(getattr(k, f)) for f in ("created", "expires", "revoked", "last_used")}}
            for k in _service(request).store.keys()]  # fmt: skip


@router.post("/keys", status_code=201)
def issue_key(body: KeyIn, request: Request) -> dict[str, Any]:
    """Issue a key; the response is the only time the key is shown."""
    store = _service(request).store
    org_id = store.org(body.org).id if body.org else None
    token, rec = keys.issue(store, body.role, org_id, label=body.label,
                            expires=_when(body.expires, end=True, field="expires"))  # fmt: skip
    _audit(request, "admin.key.issue", f"key:{rec.id}", role=body.role, org=body.org)
    return {"id": rec.id, "key": token, "role": rec.role, "org_id": org_id, "expires": iso(rec.expires)}


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: int, request: Request) -> dict[str, Any]:
    _service(request).store.revoke_key(key_id)
    _audit(request, "admin.key.revoke", f"key:{key_id}")
    return {"id": key_id, "revoked": True}


@router.get("/agreements")
def list_agreements(request: Request) -> list[dict[str, Any]]:
    return [_agreement_out(a) for a in _service(request).store.agreements()]


@router.post("/agreements", status_code=201)
def add_agreement(body: AgreementIn, request: Request) -> dict[str, Any]:
    store = _service(request).store
    org = store.org(body.org)
    a = store.add_agreement(
        org.id, title=body.title, reference=body.reference, status=body.status,
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
    _audit(request, "admin.agreement.add", f"agreement:{a.id}", agreement_id=a.id, org=org.name)
    return _agreement_out(a)


def _status(request: Request, agreement_id: int, status: str, **extra: Any) -> dict[str, Any]:
    a = _service(request).store.update_agreement(agreement_id, status=status, **extra)
    _audit(request, f"admin.agreement.{status}", f"agreement:{a.id}", agreement_id=a.id,
           **{k: iso(v) for k, v in extra.items()})  # fmt: skip
    return _agreement_out(a)


@router.post("/agreements/{agreement_id}/suspend")
def suspend_agreement(agreement_id: int, request: Request) -> dict[str, Any]:
    return _status(request, agreement_id, "suspended")


@router.post("/agreements/{agreement_id}/terminate")
def terminate_agreement(agreement_id: int, request: Request) -> dict[str, Any]:
    return _status(request, agreement_id, "terminated")


@router.post("/agreements/{agreement_id}/renew")
def renew_agreement(agreement_id: int, body: RenewIn, request: Request) -> dict[str, Any]:
    return _status(request, agreement_id, "active",
                   valid_to=parse_when(body.valid_to, end=True, field="valid_to"))  # fmt: skip


@router.put("/collections/{collection_id}/access")
def set_collection_access(collection_id: str, body: LevelIn, request: Request) -> dict[str, Any]:
    installation(request).catalog.get_collection(collection_id)  # 404 for an unknown collection
    changed = _service(request).store.set_collection_level(collection_id, body.level)
    also = [c for c in changed if c != collection_id]
    _audit(request, f"admin.collection.{body.level}", f"collection:{collection_id}",
           **({"derived_also_restricted": also} if also else {}))  # fmt: skip
    return {"collection": collection_id, "level": body.level, "derived_also_restricted": also}


@router.get("/activations")
def list_activations(request: Request) -> list[dict[str, Any]]:
    now = time.time()
    return [{**a.as_dict(), "opened": iso(a.opened), "expires": iso(a.expires), "in_force": a.in_force(now)}
            for a in _service(request).store.activations()]  # fmt: skip


@router.post("/activations", status_code=201)
def add_activation(body: ActivationIn, request: Request) -> dict[str, Any]:
    actor = actor_of(request)
    act = open_activation(
        _service(request).store, name=body.name, aoi=body.aoi, days=body.days, orgs=body.orgs,
        collections=body.collections, opened_by=actor.name,
        acquired_from=_when(body.acquired_from, field="acquired_from"),
        acquired_to=_when(body.acquired_to, end=True, field="acquired_to"),
    )  # fmt: skip
    _audit(request, "admin.activation.open", f"activation:{act.id}", activation_id=act.id,
           name=act.name, expires=iso(act.expires))  # fmt: skip
    return {**act.as_dict(), "opened": iso(act.opened), "expires": iso(act.expires)}


@router.post("/activations/{activation_id}/close")
def close_activation(activation_id: int, request: Request) -> dict[str, Any]:
    act = _service(request).store.close_activation(activation_id)
    _audit(request, "admin.activation.close", f"activation:{act.id}", activation_id=act.id)
    return {**act.as_dict(), "expires": iso(act.expires)}


@router.get("/usage/{agreement_id}", responses={200: {"content": {"text/csv": {}, "image/png": {}}}})
def usage_report(agreement_id: int, request: Request, month: str | None = None,
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
