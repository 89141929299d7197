"""Access-control commands: ``orgs``, ``agreements``, ``keys``, ``collections``,
``activations``, ``audit``, ``usage``. The local CLI is trusted (whoever can run it can read
the data directory); every change it makes is audited as ``cli:<user>``."""

from __future__ import annotations

import getpass
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from sathub.access.dates import iso, month_of, parse_when
from sathub.access.models import ORG_KINDS, ROLES
from sathub.access.service import AccessService
from sathub.clitools import fail
from sathub.config import load_settings
from sathub.errors import AuditUnavailable, SathubError

err = Console(stderr=True)
out = Console()

DataOpt = Annotated[Path, typer.Option("--data", "-d", envvar="SATHUB_DATA", help="The data directory.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json")]


def _service(data: Path) -> AccessService:
    settings = _run(lambda: load_settings(data=data))
    if not settings.layout.catalog_db.exists():
        _fail(f"{data} is not a sathub data directory (run: sathub init {data})")
    return _run(lambda: AccessService.for_settings(settings))


def _fail(message: str) -> NoReturn:
    raise fail(message, 2)  # exit status 2: bad input


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    table = Table(*columns)
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    out.print(table)


def _run(fn: Any) -> Any:
    try:
        return fn()
    except SathubError as exc:
        _fail(exc.message)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _read_aoi(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the AOI {path}: {exc}")


orgs = typer.Typer(help="Partner organisations.", no_args_is_help=True)
agreements = typer.Typer(help="Data-sharing agreements.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
collections = typer.Typer(help="Open or restrict collections.", no_args_is_help=True)
activations = typer.Typer(help="Disaster activations.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@orgs.command("add")
def orgs_add(name: str, kind: Annotated[str, typer.Option(help=", ".join(ORG_KINDS))],
             data: DataOpt = Path("sathub-data")) -> None:  # fmt: skip
    """Add an organisation; prints its id."""
    s = _service(data)
    org = _run(lambda: s.store.add_org(name, kind))
    s.audit.append(_who(), "admin.org.add", f"org:{org.id}", detail={"name": name, "kind": kind})
    sys.stdout.write(f"{org.id}\n")


@orgs.command("list")
def orgs_list(data: DataOpt = Path("sathub-data"), format: FormatOpt = "table") -> None:
    """List organisations."""
    rows = [{"id": o.id, "name": o.name, "kind": o.kind, "created": iso(o.created)}
            for o in _service(data).store.orgs()]  # fmt: skip
    _emit(rows, ["id", "name", "kind", "created"], format)


@agreements.command("add")
def agreements_add(
    org: Annotated[str, typer.Option(help="Organisation name or id.")],
    collections_: Annotated[str, typer.Option("--collections", help="C1,C2,…")],
    aoi: Annotated[Path | None, typer.Option(help="GeoJSON (Multi)Polygon file.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Acquired on/after (ISO date).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Acquired on/before (ISO date).")] = None,
    embargo_days: Annotated[float, typer.Option(help="Days after acquisition.")] = 0,
    quota_bytes: Annotated[int | None, typer.Option(help="Bytes per month.")] = None,
    title: Annotated[str | None, typer.Option()] = None,
    reference: str = "",
    signed: Annotated[str | None, typer.Option(help="Signature date.")] = None,
    valid_from: Annotated[str | None, typer.Option(help="In force from (ISO date).")] = None,
    valid_until: Annotated[str | None, typer.Option(help="In force until (ISO date, inclusive).")] = None,
    asset_roles: Annotated[str | None, typer.Option(help="e.g. thumbnail,overview (default: all)")] = None,
    licence: str = "",
    purposes: Annotated[str | None, typer.Option(help="e.g. research,disaster-response")] = None,
    status: Annotated[str, typer.Option(help="draft or active")] = "active",
    data: DataOpt = Path("sathub-data"),
) -> None:
    """Create an agreement; prints its id. ``--from/--to`` bound the acquisition dates it covers
    (a date alone is that whole day); ``--valid-from/--valid-until`` its validity."""
    s = _service(data)

    def go() -> Any:
        o = s.store.org(org)
        fields = dict(
            title=title or f"{o.name} agreement", reference=reference, status=status,
            signed=parse_when(signed, field="signed") if signed else None,
            valid_from=parse_when(valid_from, field="valid_from") if valid_from else None,
            valid_to=parse_when(valid_until, end=True, field="valid_until") if valid_until else None,
            collections=tuple(_split(collections_) or ()), aoi=_read_aoi(aoi),
            acquired_from=parse_when(from_, field="from") if from_ else None,
            acquired_to=parse_when(to, end=True, field="to") if to else None,
            embargo_days=embargo_days, quota_bytes=quota_bytes,
            asset_roles=tuple(_split(asset_roles) or ()) or None, licence=licence,
            purposes=tuple(_split(purposes) or ()),
        )  # fmt: skip
        return s.store.add_agreement(o.id, **fields)

    a = _run(go)
    s.audit.append(_who(), "admin.agreement.add", f"agreement:{a.id}", agreement_id=a.id,
                   detail={"org": org, "collections": list(a.collections)})  # fmt: skip
    sys.stdout.write(f"{a.id}\n")


@agreements.command("list")
def agreements_list(org: Annotated[str | None, typer.Option()] = None,
                    data: DataOpt = Path("sathub-data"), format: FormatOpt = "table") -> None:  # fmt: skip
    """List agreements."""
    s = _service(data)
    org_id = _run(lambda: s.store.org(org).id) if org else None
    rows = []
    for a in s.store.agreements(org_id):
        d = a.as_dict()
        for k in ("valid_from", "valid_to", "acquired_from", "acquired_to", "signed"):
            d[k] = iso(d[k])
        rows.append(d)
    _emit(rows, ["id", "org_id", "title", "status", "collections", "valid_to", "embargo_days",
                 "quota_bytes"], format)  # fmt: skip


def _set_status(data: Path, agreement_id: int, status: str, **extra: Any) -> None:
    s = _service(data)
    a = _run(lambda: s.store.update_agreement(agreement_id, status=status, **extra))
    s.audit.append(_who(), f"admin.agreement.{status}", f"agreement:{a.id}", agreement_id=a.id,
                   detail={"status": status, **{k: iso(v) for k, v in extra.items()}})  # fmt: skip
    err.print(f"agreement {a.id}: {status}")


@agreements.command("suspend")
def agreements_suspend(agreement_id: int, data: DataOpt = Path("sathub-data")) -> None:
    """Suspend an agreement (its grants stop at once)."""
    _set_status(data, agreement_id, "suspended")


@agreements.command("terminate")
def agreements_terminate(agreement_id: int, data: DataOpt = Path("sathub-data")) -> None:
    """Terminate an agreement."""
    _set_status(data, agreement_id, "terminated")


@agreements.command("renew")
def agreements_renew(agreement_id: int,
                     until: Annotated[str, typer.Option(help="New end of validity (ISO date, inclusive).")],
                     data: DataOpt = Path("sathub-data")) -> None:  # fmt: skip
    """Make an agreement active again until a new date."""
    _set_status(data, agreement_id, "active", valid_to=_run(lambda: parse_when(until, end=True, field="until")))


@keys_app.command("issue")
def keys_issue(
    role: Annotated[str, typer.Option(help=", ".join(ROLES[:-1]))],
    org: Annotated[str | None, typer.Option(help="Organisation name or id (partners).")] = None,
    expires: Annotated[str | None, typer.Option(help="Last valid day or datetime.")] = None,
    label: str = "",
    data: DataOpt = Path("sathub-data"),
) -> None:
    """Issue an API key. The key is printed once on stdout (nothing else); it is stored hashed."""
    from sathub.access import keys

    s = _service(data)

    def go() -> Any:
        org_id = s.store.org(org).id if org else None
        exp = parse_when(expires, end=True, field="expires") if expires else None
        return keys.issue(s.store, role, org_id, label=label, expires=exp)

    token, rec = _run(go)
    s.audit.append(_who(), "admin.key.issue", f"key:{rec.id}", detail={"role": role, "org": org})
    err.print(f"key {rec.id} ({role}) issued; it is shown once:")
    sys.stdout.write(token + "\n")


@keys_app.command("revoke")
def keys_revoke(key_id: int, data: DataOpt = Path("sathub-data")) -> None:
    """Revoke a key (at once, for good)."""
    s = _service(data)
    _run(lambda: s.store.revoke_key(key_id))
    s.audit.append(_who(), "admin.key.revoke", f"key:{key_id}")
    err.print(f"key {key_id} revoked")


@keys_app.command("list")
def keys_list(data: DataOpt = Path("sathub-data"), format: FormatOpt = "table") -> None:
    """List keys (never the secrets)."""
    rows = []
    for k in _service(data).store.keys():
        d = dict(k.__dict__)
        for f in ("created", "expires", "revoked", "last_used"):
            d[f] = iso(d[f])
        rows.append(d)
    _emit(rows, ["id", "prefix", "role", "org_id", "label", "expires", "revoked", "last_used"], format)


def _set_level(data: Path, collection_id: str, level: str) -> None:
    from sathub.app import Installation

    s = _service(data)
    with Installation.open(_run(lambda: load_settings(data=data))) as inst:
        _run(lambda: inst.catalog.get_collection(collection_id))  # unknown collection: exit 2
    _run(lambda: s.store.set_collection_level(collection_id, level))
    s.audit.append(_who(), f"admin.collection.{level}", f"collection:{collection_id}")
    err.print(f"collection {collection_id}: {level}")


@collections.command("restrict")
def collections_restrict(collection_id: str, data: DataOpt = Path("sathub-data")) -> None:
    """Restrict a collection: only agreements and activations grant its items."""
    _set_level(data, collection_id, "restricted")


@collections.command("open")
def collections_open(collection_id: str, data: DataOpt = Path("sathub-data")) -> None:
    """Open a collection to everyone (the default)."""
    _set_level(data, collection_id, "open")


@activations.command("open")
def activations_open(
    name: Annotated[str, typer.Option(help="e.g. 'Charter 912: Myanmar floods'")],
    aoi: Annotated[Path, typer.Option(help="GeoJSON (Multi)Polygon file.")],
    days: Annotated[float, typer.Option(help="Open for this many days.")],
    orgs_: Annotated[str | None, typer.Option("--orgs", help="Responder organisations.")] = None,
    public: Annotated[bool, typer.Option(help="Open to everyone.")] = False,
    from_: Annotated[str | None, typer.Option("--from")] = None,
    to: Annotated[str | None, typer.Option("--to")] = None,
    collections_: Annotated[str | None, typer.Option("--collections")] = None,
    data: DataOpt = Path("sathub-data"),
) -> None:
    """Open a disaster activation; prints its id."""
    from sathub.access.activations import open_activation

    if public == (orgs_ is not None):
        _fail("give either --orgs A,B or --public")
    s = _service(data)
    act = _run(lambda: open_activation(
        s.store, name=name, aoi=_read_aoi(aoi), days=days, orgs=_split(orgs_),
        acquired_from=parse_when(from_, field="from") if from_ else None,
        acquired_to=parse_when(to, end=True, field="to") if to else None,
        collections=_split(collections_), opened_by=_who()))  # fmt: skip
    s.audit.append(_who(), "admin.activation.open", f"activation:{act.id}", activation_id=act.id,
                   detail={"name": name, "expires": iso(act.expires)})  # fmt: skip
    sys.stdout.write(f"{act.id}\n")


@activations.command("close")
def activations_close(activation_id: int, data: DataOpt = Path("sathub-data")) -> None:
    """Close an activation before it expires."""
    s = _service(data)
    act = _run(lambda: s.store.close_activation(activation_id))
    s.audit.append(_who(), "admin.activation.close", f"activation:{act.id}", activation_id=act.id)
    err.print(f"activation {act.id} closed")


@activations.command("list")
def activations_list(data: DataOpt = Path("sathub-data"), format: FormatOpt = "table") -> None:
    """List activations."""
    now = time.time()
    rows = [{**a.as_dict(), "in_force": a.in_force(now), "expires": iso(a.expires)}
            for a in _service(data).store.activations()]  # fmt: skip
    _emit(rows, ["id", "name", "org_ids", "collections", "expires", "in_force"], format)


@audit_app.command("verify")
def audit_verify(
    data: DataOpt = Path("sathub-data"),
    anchor_file: Annotated[list[Path] | None, typer.Option(
        "--anchor-file", help="An exported copy of anchor lines (e.g. from syslog); repeatable.")] = None,
    format: FormatOpt = "table",
) -> None:
    """Check the audit log: hash chain, head, anchors, quota counters, access rows and pending
    tile uses; say what could not be checked. Exit 1 when something was tampered with."""
    if format not in ("table", "json"):
        _fail("--format must be table or json")
    for f in anchor_file or []:
        if not f.is_file():
            _fail(f"--anchor-file {f}: no such file")
    s = _service(data)
    try:
        s.audit.flush_tiles()  # finished hours to the chain (a tampered row becomes evidence)
    except AuditUnavailable:
        pass  # this process cannot write: verify says why
    result = s.audit.verify(anchor_file or [])
    if format == "json":
        sys.stdout.write(orjson.dumps(result.as_dict()).decode() + "\n")
    else:
        for line in result.checked:
            err.print(f"[green]checked:[/] {line}", highlight=False, soft_wrap=True)
        for line in result.not_checked:
            err.print(f"[yellow]not checked:[/] {line}", highlight=False, soft_wrap=True)
        for line in result.problems:
            err.print(f"[red]tampered:[/] {line}", highlight=False, soft_wrap=True)
        if result.ok:
            err.print(f"[green]ok:[/] {result.records} records, chain intact", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


def usage(
    agreement: Annotated[int, typer.Option(help="Agreement id.")],
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    format: Annotated[str, typer.Option("--format", help="json, csv or png")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (png needs one).")] = None,
    data: DataOpt = Path("sathub-data"),
) -> None:
    """Usage report of an agreement for a month."""
    from sathub.access import reports

    s = _service(data)
    report = _run(lambda: reports.usage(s.store, s.audit, agreement, month or month_of(time.time())))
    if format == "json":
        payload = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    elif format == "csv":
        payload = reports.to_csv(report).encode()
    elif format == "png":
        if output is None:
            _fail("--format png needs --output FILE")
        payload = reports.to_png(report)
    else:
        _fail("--format must be json, csv or png")
    if output is None:
        sys.stdout.buffer.write(payload)
    else:
        output.write_bytes(payload)
        err.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(orgs, name="orgs")
    app.add_typer(agreements, name="agreements")
    app.add_typer(keys_app, name="keys")
    app.add_typer(collections, name="collections")
    app.add_typer(activations, name="activations")
    app.add_typer(audit_app, name="audit")
    app.command()(usage)
