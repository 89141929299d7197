"""Access-control commands: ``orgs``, ``agreements``, ``keys``, ``collections``,
``activations``. The local CLI is trusted (whoever can run it can read the data directory);
every change is an admin action of the access service (the same method the admin API calls),
audited as ``cli:<login>``. The audit log and usage reports are in :mod:`sathub.cli.audit`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from sathub.access.admin import activation_view, agreement_view, key_view, org_view
from sathub.access.models import ORG_KINDS, ROLES
from sathub.cli.common import DEFAULT_DATA, Col, DataOpt, FormatOpt, emit, err, installation, split, sub_app, who
from sathub.errors import InvalidInput
from sathub.timeutil import parse_timestamp

orgs = sub_app("Partner organisations.")
agreements = sub_app("Data-sharing agreements.")
keys_app = sub_app("API keys.")
collections = sub_app("Open or restrict collections.")
activations = sub_app("Disaster activations.")

OrgKind = Literal["government", "international", "university", "company", "individual"]
KeyRole = Literal["admin", "operator", "analyst", "partner", "finance_officer", "budget_approver",
                  "budget_viewer"]  # fmt: skip
assert set(OrgKind.__args__) == set(ORG_KINDS) and set(KeyRole.__args__) == set(ROLES) - {"anonymous"}  # type: ignore[attr-defined]


def _when(value: str | None, option: str, *, end: bool = False) -> float | None:
    return None if value is None else parse_timestamp(value, end=end, field=option)


def _read_aoi(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the AOI {path}: {exc}", field="aoi") from None


def _print_id(value: object) -> None:
    sys.stdout.write(f"{value}\n")


# ------------------------------------------------------------------------- orgs
@orgs.command("add")
def orgs_add(name: Annotated[str, typer.Argument(help="The organisation's name.")],
             kind: Annotated[OrgKind, typer.Option(help="What kind of organisation.")],
             data: DataOpt = DEFAULT_DATA) -> None:  # fmt: skip
    """Add an organisation; prints its id."""
    with installation(data) as inst:
        org = inst.access.add_org(who(), name, kind)
    _print_id(org.id)


@orgs.command("list")
def orgs_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List organisations."""
    with installation(data) as inst:
        rows = [org_view(o) for o in inst.access.store.orgs()]
    emit(rows, ["id", "name", "kind", "created"], format)


# ------------------------------------------------------------------- agreements
@agreements.command("add")
def agreements_add(
    org: Annotated[str, typer.Option(help="Organisation name or id.")],
    collections_: Annotated[str, typer.Option("--collections", help="Collection ids, comma-separated.")],
    aoi: Annotated[Path | None, typer.Option(help="GeoJSON (Multi)Polygon file.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Acquired on or after (ISO 8601 date or datetime).")] = None,
    to: Annotated[str | None, typer.Option(help="Acquired on or before (a date: that whole day).")] = None,
    embargo_days: Annotated[float, typer.Option(min=0, help="Days after acquisition.")] = 0.0,
    quota_bytes: Annotated[int | None, typer.Option(min=0, help="Bytes per calendar month.")] = None,
    title: Annotated[str | None, typer.Option(help="Default: '<organisation> agreement'.")] = None,
    reference: Annotated[str, typer.Option(help="The agreement's own reference.")] = "",
    signed: Annotated[str | None, typer.Option(help="Signature date.")] = None,
    valid_from: Annotated[str | None, typer.Option(help="In force from (date or datetime).")] = None,
    valid_until: Annotated[str | None, typer.Option(help="In force until (a date: that whole day).")] = None,
    asset_roles: Annotated[str | None, typer.Option(help="e.g. thumbnail,overview (default: every asset).")] = None,
    licence: Annotated[str, typer.Option(help="Licence text or name.")] = "",
    purposes: Annotated[str | None, typer.Option(help="e.g. research,disaster-response")] = None,
    status: Annotated[Literal["draft", "active"], typer.Option(help="draft or active.")] = "active",
    data: DataOpt = DEFAULT_DATA,
) -> None:
    """Create an agreement; prints its id. --from and --to bound the acquisition dates it
    covers (a date alone is that whole day); --valid-from and --valid-until its validity."""
    with installation(data) as inst:
        s = inst.access
        a = s.add_agreement(
            who(), org, catalog=inst.catalog, title=title or f"{s.store.org(org).name} agreement", reference=reference,
            status=status, signed=_when(signed, "signed"), valid_from=_when(valid_from, "valid_from"),
            valid_to=_when(valid_until, "valid_until", end=True),
            collections=tuple(split(collections_) or ()), aoi=_read_aoi(aoi),
            acquired_from=_when(from_, "from"), acquired_to=_when(to, "to", end=True),
            embargo_days=embargo_days, quota_bytes=quota_bytes,
            asset_roles=tuple(split(asset_roles) or ()) or None, licence=licence,
            purposes=tuple(split(purposes) or ()))  # fmt: skip
    _print_id(a.id)


AGREEMENT_COLUMNS = [Col("id"), Col("org_id", "org"), Col("title"), Col("status"), Col("collections"),
                     Col("valid_to", "valid until"), Col("embargo_days", "embargo", "days"),
                     Col("quota_bytes", "quota", "bytes/month")]  # fmt: skip


@agreements.command("list")
def agreements_list(org: Annotated[str | None, typer.Option(help="Only this organisation's (name or id).")] = None,
                    data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:  # fmt: skip
    """List agreements."""
    with installation(data) as inst:
        store = inst.access.store
        org_id = store.org(org).id if org else None
        rows = [agreement_view(a) for a in store.agreements(org_id)]
    emit(rows, AGREEMENT_COLUMNS, format)


AgreementId = Annotated[int, typer.Argument(help="The agreement's id.")]


@agreements.command("suspend")
def agreements_suspend(agreement_id: AgreementId, data: DataOpt = DEFAULT_DATA) -> None:
    """Suspend an agreement (its grants stop at once)."""
    with installation(data) as inst:
        a = inst.access.suspend_agreement(who(), agreement_id)
    err.print(f"agreement {a.id}: {a.status}")


@agreements.command("terminate")
def agreements_terminate(agreement_id: AgreementId, data: DataOpt = DEFAULT_DATA) -> None:
    """Terminate an agreement."""
    with installation(data) as inst:
        a = inst.access.terminate_agreement(who(), agreement_id)
    err.print(f"agreement {a.id}: {a.status}")


@agreements.command("renew")
def agreements_renew(agreement_id: AgreementId,
                     until: Annotated[str, typer.Option(help="New end of validity (a date: that whole day).")],
                     data: DataOpt = DEFAULT_DATA) -> None:  # fmt: skip
    """Make an agreement active again until a new date."""
    valid_to = parse_timestamp(until, end=True, field="until")
    with installation(data) as inst:
        a = inst.access.renew_agreement(who(), agreement_id, valid_to)
    err.print(f"agreement {a.id}: {a.status}")


# ------------------------------------------------------------------------- keys
@keys_app.command("issue")
def keys_issue(
    role: Annotated[KeyRole, typer.Option(help="What the key may do (docs/access.md).")],
    org: Annotated[str | None, typer.Option(help="Organisation name or id (partners need one).")] = None,
    expires: Annotated[str | None, typer.Option(help="Last valid day (that whole day) or datetime.")] = None,
    label: Annotated[str, typer.Option(help="A note shown in listings.")] = "",
    data: DataOpt = DEFAULT_DATA,
) -> None:
    """Issue an API key. The key is printed once on stdout (nothing else); it is stored hashed."""
    exp = _when(expires, "expires", end=True)
    with installation(data) as inst:
        token, rec = inst.access.issue_key(who(), role, org, label=label, expires=exp)
    err.print(f"key {rec.id} ({role}) issued; it is shown once:")
    _print_id(token)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id.")],
                data: DataOpt = DEFAULT_DATA) -> None:  # fmt: skip
    """Revoke a key (at once, for good)."""
    with installation(data) as inst:
        inst.access.revoke_key(who(), key_id)
    err.print(f"key {key_id} revoked")


@keys_app.command("list")
def keys_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List keys (never the secrets)."""
    with installation(data) as inst:
        rows = [key_view(k) for k in inst.access.store.keys()]
    emit(rows, ["id", "prefix", "role", "org_id", "label", "expires", "revoked", "last_used"], format)


# ------------------------------------------------------------------ collections
CollectionId = Annotated[str, typer.Argument(help="A collection of the catalog.")]


def _set_level(data: Path, collection_id: str, level: str) -> None:
    with installation(data) as inst:
        also = inst.access.set_collection_level(who(), collection_id, level, catalog=inst.catalog)
    err.print(f"collection {collection_id}: {level}")
    if also:
        err.print(f"also restricted, as they hold products derived from it: {', '.join(also)}")


@collections.command("restrict")
def collections_restrict(collection_id: CollectionId, data: DataOpt = DEFAULT_DATA) -> None:
    """Restrict a collection: only agreements and activations grant its items."""
    _set_level(data, collection_id, "restricted")


@collections.command("open")
def collections_open(collection_id: CollectionId, data: DataOpt = DEFAULT_DATA) -> None:
    """Open a collection to everyone (the default)."""
    _set_level(data, collection_id, "open")


@collections.command("list")
def collections_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """Every collection of the catalog with its access level and item count."""
    with installation(data) as inst:
        restricted = inst.access.store.restricted_collections()
        counts = inst.catalog.counts()
        ids = [c["id"] for c in inst.catalog.list_collections()]
    rows = [{"id": cid, "level": "restricted" if cid in restricted else "open", "items": counts.get(cid, 0)}
            for cid in ids]  # fmt: skip
    emit(rows, ["id", "level", "items"], format)


# ------------------------------------------------------------------ activations
@activations.command("open")
def activations_open(
    name: Annotated[str, typer.Option(help="e.g. 'Charter 912: Myanmar floods'")],
    aoi: Annotated[Path, typer.Option(help="GeoJSON (Multi)Polygon file.")],
    days: Annotated[float, typer.Option(help="Open for this many days (at most 365).")],
    orgs_: Annotated[str | None, typer.Option("--orgs", help="Responder organisations (names or ids, comma-separated).")] = None,
    public: Annotated[bool, typer.Option(help="Open to everyone instead.")] = False,
    from_: Annotated[str | None, typer.Option("--from", help="Acquired on or after (date or datetime).")] = None,
    to: Annotated[str | None, typer.Option(help="Acquired on or before (a date: that whole day).")] = None,
    collections_: Annotated[str | None, typer.Option("--collections", help="Only these collections (default: all).")] = None,
    data: DataOpt = DEFAULT_DATA,
) -> None:
    """Open a disaster activation; prints its id."""
    if public == (orgs_ is not None):
        raise InvalidInput("give either --orgs A,B or --public", field="orgs")
    with installation(data) as inst:
        act = inst.access.open_activation(
            who(), name=name, aoi=_read_aoi(aoi), days=days, orgs=split(orgs_),
            collections=split(collections_), acquired_from=_when(from_, "from"),
            acquired_to=_when(to, "to", end=True), catalog=inst.catalog)  # fmt: skip
    _print_id(act.id)


@activations.command("close")
def activations_close(activation_id: Annotated[int, typer.Argument(help="The activation's id.")],
                      data: DataOpt = DEFAULT_DATA) -> None:  # fmt: skip
    """Close an activation before it expires."""
    with installation(data) as inst:
        act = inst.access.close_activation(who(), activation_id)
    err.print(f"activation {act.id} closed")


@activations.command("list")
def activations_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List activations."""
    with installation(data) as inst:
        rows = [activation_view(a) for a in inst.access.store.activations()]
    emit(rows, ["id", "name", "org_ids", "collections", "expires", "in_force"], format)


def register(app: typer.Typer) -> None:
    app.add_typer(orgs, name="orgs")
    app.add_typer(agreements, name="agreements")
    app.add_typer(keys_app, name="keys")
    app.add_typer(collections, name="collections")
    app.add_typer(activations, name="activations")
