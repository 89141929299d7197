"""``sathub budget …``: the programme budget from the command line. Every command calls the
same :class:`~sathub.budget.service.BudgetService` method as the API. The local CLI is trusted
(whoever runs it can read the data directory); ``--as`` names the person acting (default
``cli:<login>``), which the audit records and maker–checker compares. Bad input exits 2."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from sathub.budget.model import CONTROLS, FUNDING_KINDS, PRICE_UNITS, PROJECT_KINDS
from sathub.budget.service import BudgetService
from sathub.clitools import fail
from sathub.config import Settings
from sathub.errors import SathubError

out = Console(width=None if sys.stdout.isatty() else 200)  # tables whole when piped
err = Console(stderr=True)

DataOpt = Annotated[Path, typer.Option("--data", "-d", envvar="SATHUB_DATA", help="The data directory.")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Who is acting (audit, maker–checker).")]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json")]
DEFAULT_DATA = Path("sathub-data")

app = typer.Typer(help="The programme budget: lines, versions, commitments, spending, reports.",
                  no_args_is_help=True)  # fmt: skip
years = typer.Typer(help="Fiscal years.", no_args_is_help=True)
projects = typer.Typer(help="Projects (a satellite, a station, the data centre…).", no_args_is_help=True)
refs = typer.Typer(help="Categories, funding sources and ground stations.", no_args_is_help=True)
lines = typer.Typer(help="Budget lines: project × category × year × funding source.", no_args_is_help=True)
versions = typer.Typer(help="Versions: approve the original, revise, history.", no_args_is_help=True)
commitments = typer.Typer(help="Commitments and their second approval.", no_args_is_help=True)
rates = typer.Typer(help="Exchange rates (from a CSV file).", no_args_is_help=True)


def fail2(message: str) -> NoReturn:
    raise fail(message, 2)


def service(data: Path) -> BudgetService:
    from sathub.app import Installation

    try:
        return Installation.open(Settings(data=data)).budget
    except SathubError as exc:  # not a data directory; a bad SATHUB_BUDGET_* setting
        fail2(f"{exc.field}: {exc.message}" if exc.field else exc.message)


def who(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def run(fn: Any) -> Any:
    try:
        return fn()
    except SathubError as exc:
        fail2(f"{exc.field}: {exc.message}" if exc.field else exc.message)


def emit(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(orjson.dumps(rows, default=str).decode() + "\n")
        return
    if fmt != "table":
        fail2("--format must be table or json")
    table = Table(*columns)
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    out.print(table)


def done(what: str, obj_id: object, warnings: list[str] | None = None) -> None:
    for w in warnings or []:
        err.print(f"[yellow]warning:[/] {w}")
    err.print(what)
    sys.stdout.write(f"{obj_id}\n")


# ------------------------------------------------------------------------ years
@years.command("add")
def years_add(code: str, start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
              data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a fiscal year (twelve months); its original budget starts as a draft."""
    s = service(data)
    fy = run(lambda: s.add_year(who(as_), code, start))
    done(f"fiscal year {fy.code}: {fy.start} to {fy.end}", fy.code)


@years.command("list")
def years_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List fiscal years and the state of their budget."""
    s = service(data)
    rows = []
    for y in s.store.years():
        vs = s.store.versions(y.code)
        state = ("closed" if y.closed else "revised" if any(v.number > 1 and v.status == "approved" for v in vs)
                 else "approved" if any(v.status == "approved" for v in vs) else "draft")  # fmt: skip
        rows.append({"code": y.code, "start": y.start, "end": y.end, "state": state, "versions": len(vs)})
    emit(rows, ["code", "start", "end", "state", "versions"], format)


@years.command("close")
def years_close(code: str, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Close a year: its budget is executed; no more transactions or revisions."""
    s = service(data)
    run(lambda: s.close_year(who(as_), code))
    done(f"fiscal year {code} closed", code)


# --------------------------------------------------------------------- projects
@projects.command("add")
def projects_add(code: str, name: Annotated[str, typer.Option()],
                 kind: Annotated[str, typer.Option(help=", ".join(PROJECT_KINDS))],
                 programme: Annotated[str, typer.Option()], description: str = "",
                 data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a project of a programme."""
    s = service(data)
    p = run(lambda: s.add_project(who(as_), code, name, kind, programme, description))
    done(f"project {p.code} added", p.code)


@projects.command("list")
def projects_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List projects."""
    emit([p.__dict__ for p in service(data).store.projects()], ["code", "name", "kind", "programme"], format)


@refs.command("add-category")
def add_category(code: str, name: Annotated[str, typer.Option()], data: DataOpt = DEFAULT_DATA,
                 as_: AsOpt = None) -> None:  # fmt: skip
    """Add a budget category (technology, equipment… are there from the start)."""
    s = service(data)
    done(f"category {code} added", run(lambda: s.add_category(who(as_), code, name)).code)


@refs.command("add-funding")
def add_funding(code: str, name: Annotated[str, typer.Option()],
                kind: Annotated[str, typer.Option(help=", ".join(FUNDING_KINDS))],
                data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a funding source."""
    s = service(data)
    done(f"funding source {code} added", run(lambda: s.add_funding(who(as_), code, name, kind)).code)


@refs.command("add-station")
def add_station(code: str, name: Annotated[str, typer.Option()], lat: Annotated[float, typer.Option()],
                lon: Annotated[float, typer.Option()], data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a ground station that lines and commitments can point at."""
    s = service(data)
    done(f"ground station {code} added", run(lambda: s.add_station(who(as_), code, name, lat, lon)).code)


@refs.command("list")
def refs_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List categories, funding sources and ground stations."""
    st = service(data).store
    rows = ([{"kind": "category", "code": c.code, "name": c.name} for c in st.categories()]
            + [{"kind": f"funding ({f.kind})", "code": f.code, "name": f.name} for f in st.fundings()]
            + [{"kind": "station", "code": x.code, "name": x.name} for x in st.stations()])  # fmt: skip
    emit(rows, ["kind", "code", "name"], format)


# ------------------------------------------------------------------------ lines
@lines.command("add")
def lines_add(year: Annotated[str, typer.Option()], project: Annotated[str, typer.Option()],
              category: Annotated[str, typer.Option()], funding: Annotated[str, typer.Option()],
              currency: Annotated[str, typer.Option()],
              amount: Annotated[str, typer.Option(help="Into the year's open draft.")] = "0",
              control_commitment: Annotated[str, typer.Option(help=", ".join(CONTROLS))] = "stop",
              control_expenditure: Annotated[str, typer.Option(help=", ".join(CONTROLS))] = "stop",
              description: str = "", data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a budget line; prints its id."""
    s = service(data)
    ln = run(lambda: s.add_line(who(as_), year, project, category, funding, currency, amount,
                                control_commitment=control_commitment,
                                control_expenditure=control_expenditure, description=description))  # fmt: skip
    done(f"line {ln.id} added", ln.id)


@lines.command("set-amount")
def lines_set_amount(line_id: int, amount: str, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Set a line's figure in its year's open draft (the original or a revision)."""
    s = service(data)
    o = run(lambda: s.set_amount(who(as_), line_id, amount))
    done(f"line {line_id}: {amount} in version {o.detail['version']}", line_id)


@lines.command("controls")
def lines_controls(line_id: int, commitment: Annotated[str, typer.Option(help=", ".join(CONTROLS))],
                   expenditure: Annotated[str, typer.Option(help=", ".join(CONTROLS))],
                   data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Set a line's controls (stop, warn or ignore) for commitments and for expenditure."""
    s = service(data)
    run(lambda: s.set_controls(who(as_), line_id, commitment, expenditure))
    done(f"line {line_id}: commitment {commitment}, expenditure {expenditure}", line_id)


@lines.command("list")
def lines_list(year: str | None = None, project: str | None = None, data: DataOpt = DEFAULT_DATA,
               format: FormatOpt = "table") -> None:  # fmt: skip
    """List lines with their balance (in the line's currency)."""
    from sathub.budget.money import from_minor

    st = service(data).store
    rows = []
    for ln in st.lines(year=year, project=project):
        p = st.position(ln.id)
        rows.append({**ln.__dict__, **{k: str(from_minor(getattr(p, k), ln.currency)) for k in
                                       ("revised", "committed", "pending", "spent", "available")}})  # fmt: skip
    emit(rows, ["id", "year", "project", "category", "funding", "currency", "revised", "committed",
                "pending", "spent", "available"], format)  # fmt: skip


# --------------------------------------------------------------------- versions
@versions.command("revise")
def versions_revise(year: str, reason: Annotated[str, typer.Option(help="Why the budget changes.")],
                    data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Open a revision of an approved year (a draft holding the current figures)."""
    s = service(data)
    v = run(lambda: s.start_revision(who(as_), year, reason))
    done(f"{year}: revision {v.number} opened (draft)", v.number)


@versions.command("approve")
def versions_approve(year: str, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Approve the year's open draft (by someone other than its drafter)."""
    s = service(data)
    v = run(lambda: s.approve_version(who(as_), year))
    done(f"{year}: version {v.number} ({v.kind}) approved by {v.approved_by}", v.number)


@versions.command("discard")
def versions_discard(year: str, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Discard the year's open revision."""
    s = service(data)
    done(f"{year}: revision discarded", run(lambda: s.discard_revision(who(as_), year)))


@versions.command("history")
def versions_history(year: str, data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """Every version of a year: who drafted and approved it, why, and each line's figure."""
    s = service(data)
    hist = run(lambda: s.history(year))
    if format == "json":
        emit(hist, [], "json")
        return
    emit([{**h, "lines": ", ".join(f"{k}: {v}" for k, v in h["amounts"].items())} for h in hist],
         ["number", "kind", "status", "created_by", "approved_by", "reason", "lines"], format)  # fmt: skip


# ------------------------------------------------------------------ transactions
def _links(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for v in values or []:
        kind, sep, ref = v.partition(":")
        if not sep:
            fail2(f"link: give KIND:REF (satellite:89001, station:YGN, agreement:3, order:ab12), got {v!r}")
        out.append((kind, ref))
    return out


LinkOpt = Annotated[list[str] | None, typer.Option("--link", help="KIND:REF, repeatable.")]


@commitments.command("add")
def commitments_add(line: Annotated[int, typer.Option()], amount: Annotated[str, typer.Option()],
                    currency: Annotated[str, typer.Option()],
                    date: Annotated[str, typer.Option(help="Value date (YYYY-MM-DD).")],
                    counterparty: Annotated[str, typer.Option(help="The supplier.")],
                    reference: str = "", description: str = "", link: LinkOpt = None,
                    data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Commit money on a line (a contract or purchase order); prints the transaction id."""
    s = service(data)
    o = run(lambda: s.commit(who(as_), line, amount, currency, date, counterparty=counterparty,
                             reference=reference, description=description, links=_links(link)))  # fmt: skip
    state = "waiting for a second approval" if o.detail["status"] == "pending" else "approved"
    done(f"commitment {o.id}: {state}", o.id, o.warnings)


def _decide(tx_id: int, decision: str, note: str, data: Path, as_: str | None) -> None:
    s = service(data)
    t = run(lambda: s.decide(who(as_), tx_id, decision, note))
    done(f"commitment {t.id}: {t.status}", t.id)


@commitments.command("approve")
def commitments_approve(tx_id: int, note: str = "", data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Approve a commitment waiting for a second person."""
    _decide(tx_id, "approved", note, data, as_)


@commitments.command("reject")
def commitments_reject(tx_id: int, note: str = "", data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Reject a commitment waiting for a second person (its reservation is released)."""
    _decide(tx_id, "rejected", note, data, as_)


@app.command("spend")
def spend(kind: Annotated[str, typer.Option(help="expenditure or disbursement")],
          amount: Annotated[str, typer.Option()], currency: Annotated[str, typer.Option()],
          date: Annotated[str, typer.Option(help="Value date (YYYY-MM-DD).")],
          commitment: Annotated[int | None, typer.Option(help="Spent against this commitment.")] = None,
          line: Annotated[int | None, typer.Option(help="Spent directly on this line.")] = None,
          counterparty: str = "", reference: str = "", description: str = "", link: LinkOpt = None,
          data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Record a disbursement or expenditure; prints the transaction id."""
    s = service(data)
    o = run(lambda: s.spend(who(as_), kind, amount, currency, date, line_id=line, commitment_id=commitment,
                            counterparty=counterparty, reference=reference, description=description,
                            links=_links(link)))  # fmt: skip
    done(f"{kind} {o.id} recorded", o.id, o.warnings)


@app.command("receive")
def receive(kind: Annotated[str, typer.Option(help="incoming_funds or incoming_commitment")],
            year: Annotated[str, typer.Option()], project: Annotated[str, typer.Option()],
            funding: Annotated[str, typer.Option()], amount: Annotated[str, typer.Option()],
            currency: Annotated[str, typer.Option()], date: Annotated[str, typer.Option()],
            counterparty: Annotated[str, typer.Option(help="Who gives the money.")],
            reference: str = "", description: str = "", line: int | None = None,
            data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Record incoming funds or an incoming commitment (appropriation, tranche, revenue)."""
    s = service(data)
    o = run(lambda: s.receive(who(as_), kind, year, project, funding, amount, currency, date,
                              counterparty=counterparty, reference=reference, description=description,
                              line_id=line))  # fmt: skip
    done(f"{kind} {o.id} recorded", o.id)


@app.command("transactions")
def transactions(year: str | None = None, line: int | None = None, kind: str | None = None,
                 data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:  # fmt: skip
    """List transactions (amounts in their own currency)."""
    from sathub.budget.money import from_minor

    rows = [{**t.__dict__, "amount": str(from_minor(t.amount_minor, t.currency))}
            for t in service(data).store.transactions(year=year, line_id=line, kind=kind)]  # fmt: skip
    emit(rows, ["id", "kind", "status", "year", "project", "line_id", "commitment_id", "value_date", "amount",
                "currency", "rate", "counterparty", "reference"], format)  # fmt: skip


@app.command("link")
def link(owner: Annotated[str, typer.Option(help="project, line or transaction")],
         owner_id: Annotated[str, typer.Option("--id", help="Its code or number.")],
         target: Annotated[str, typer.Option("--to", help="KIND:REF (satellite:89001, station:YGN, …)")],
         note: str = "", data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Point a project, line or transaction at a satellite, ground station, agreement or order."""
    s = service(data)
    ((kind, ref),) = _links([target])
    lk = run(lambda: s.link(who(as_), owner, owner_id, kind, ref, note))
    done(f"{lk.owner} {lk.owner_id} → {lk.kind} {lk.ref}", f"{lk.kind}:{lk.ref}")


@rates.command("load")
def rates_load(file: Path, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Load exchange rates from a CSV file: date,base,quote,rate (1 base = rate quote)."""
    s = service(data)
    try:
        content = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail2(f"file: cannot read {file}: {exc}")
    n = run(lambda: s.load_rates(who(as_), content, source=str(file)))
    done(f"{n} rates loaded from {file}", n)


@rates.command("list")
def rates_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List the exchange rates."""
    emit([r.__dict__ for r in service(data).store.rates()], ["day", "base", "quote", "rate"], format)


@app.command("price")
def price(agreement: Annotated[int, typer.Option(help="Agreement id.")],
          unit: Annotated[str, typer.Option(help=", ".join(PRICE_UNITS))], amount: Annotated[str, typer.Option("--price")],
          currency: Annotated[str, typer.Option()], project: Annotated[str, typer.Option()],
          funding: Annotated[str, typer.Option()], data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Price an agreement's deliveries (per GB or per km²) for revenue."""
    s = service(data)
    p = run(lambda: s.set_price(who(as_), agreement, unit, amount, currency, project, funding))
    done(f"agreement {p.agreement_id}: {p.price} {p.currency} {p.unit}", p.agreement_id)


@app.command("revenue")
def revenue(agreement: Annotated[int, typer.Option(help="Agreement id.")],
            from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
            to: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD).")],
            book: Annotated[bool, typer.Option(help="Book it as incoming funds.")] = False,
            data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """An agreement's revenue from its audited deliveries; ``--book`` records it."""
    from sathub.app import Installation
    from sathub.budget.revenue import catalog_area

    s = service(data)
    area = catalog_area(Installation.open(Settings(data=data)).catalog)
    if book:
        o = run(lambda: s.book_revenue(who(as_), agreement, from_, to, area_km2=area))
        sys.stdout.write(orjson.dumps({"transaction": o.id, **o.detail}).decode() + "\n")
        return
    sys.stdout.write(orjson.dumps(run(lambda: s.revenue(agreement, from_, to, area)).as_dict()).decode() + "\n")


def register(root: typer.Typer) -> None:
    from sathub.budget import cli_reports

    app.add_typer(years, name="years")
    app.add_typer(projects, name="projects")
    app.add_typer(refs, name="refs")
    app.add_typer(lines, name="lines")
    app.add_typer(versions, name="versions")
    app.add_typer(commitments, name="commitments")
    app.add_typer(rates, name="rates")
    cli_reports.register(app)
    root.add_typer(app, name="budget")
