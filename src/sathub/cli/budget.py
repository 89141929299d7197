"""``sathub budget …``: the programme budget. Every command calls the same
:class:`~sathub.budget.service.BudgetService` method as the API. The local CLI is trusted
(whoever runs it can read the data directory); ``--as`` names the person acting (default
``cli:<login>``), which the audit records and maker–checker compares. Reports and exports are
in :mod:`sathub.cli.budget_reports`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sathub.budget.model import CONTROLS, FUNDING_KINDS, PRICE_UNITS, PROJECT_KINDS
from sathub.cli.common import DEFAULT_DATA, DataOpt, FormatOpt, emit, err, installation, print_json, sub_app, who
from sathub.errors import InvalidInput

if TYPE_CHECKING:
    from sathub.budget.service import BudgetService

AsOpt = Annotated[str | None, typer.Option("--as", help="Who is acting (audit, maker–checker).")]
LinkOpt = Annotated[list[str] | None, typer.Option("--link", help="KIND:REF, repeatable.")]

app = sub_app("The programme budget: lines, versions, commitments, spending, reports.")
years = sub_app("Fiscal years.")
projects = sub_app("Projects (a satellite, a station, the data centre…).")
refs = sub_app("Categories, funding sources and ground stations.")
lines = sub_app("Budget lines: project × category × year × funding source.")
versions = sub_app("Versions: approve the original, revise, history.")
commitments = sub_app("Commitments and their second approval.")
rates = sub_app("Exchange rates (from a CSV file).")


@contextmanager
def service(data: Path) -> Iterator[BudgetService]:
    """The installation's budget service (exit 2 when ``data`` is not a data directory)."""
    with installation(data) as inst:
        yield inst.budget


def done(what: str, obj_id: object, warnings: list[str] | None = None) -> None:
    """``what`` on stderr (after any warnings), the new object's id on stdout."""
    for w in warnings or []:
        err.print(f"[yellow]warning:[/] {w}")
    err.print(what)
    print(obj_id)


def links(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for v in values or []:
        kind, sep, ref = v.partition(":")
        if not sep:
            raise InvalidInput(f"give KIND:REF (satellite:89001, station:YGN, agreement:3, order:ab12), "
                               f"got {v!r}", field="link")  # fmt: skip
        out.append((kind, ref))
    return out


# ------------------------------------------------------------------------ years
@years.command("add")
def years_add(code: Annotated[str, typer.Argument(help="e.g. FY2025.")],
              start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
              data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a fiscal year (twelve months); its original budget starts as a draft."""
    with service(data) as s:
        fy = s.add_year(who(as_), code, start)
    done(f"fiscal year {fy.code}: {fy.start} to {fy.end}", fy.code)


@years.command("list")
def years_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List fiscal years and the state of their budget."""
    with service(data) as s:
        rows = []
        for y in s.store.years():
            vs = s.store.versions(y.code)
            state = ("closed" if y.closed else "revised" if any(v.number > 1 and v.status == "approved" for v in vs)
                     else "approved" if any(v.status == "approved" for v in vs) else "draft")  # fmt: skip
            rows.append({"code": y.code, "start": y.start, "end": y.end, "state": state, "versions": len(vs)})
    emit(rows, ["code", "start", "end", "state", "versions"], format)


@years.command("close")
def years_close(code: Annotated[str, typer.Argument(help="The fiscal year.")],
                data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Close a year: its budget is executed; no more transactions or revisions."""
    with service(data) as s:
        s.close_year(who(as_), code)
    done(f"fiscal year {code} closed", code)


# --------------------------------------------------------------------- projects
@projects.command("add")
def projects_add(code: Annotated[str, typer.Argument(help="A short code, e.g. GS-YGN.")],
                 name: Annotated[str, typer.Option(help="The project's name.")],
                 kind: Annotated[str, typer.Option(help=", ".join(PROJECT_KINDS))],
                 programme: Annotated[str, typer.Option(help="The programme it belongs to.")],
                 description: Annotated[str, typer.Option(help="What it is.")] = "",
                 data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a project of a programme."""
    with service(data) as s:
        p = s.add_project(who(as_), code, name, kind, programme, description)
    done(f"project {p.code} added", p.code)


@projects.command("list")
def projects_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List projects."""
    with service(data) as s:
        rows = [dict(p.__dict__) for p in s.store.projects()]
    emit(rows, ["code", "name", "kind", "programme"], format)


@refs.command("add-category")
def add_category(code: Annotated[str, typer.Argument(help="A short code.")],
                 name: Annotated[str, typer.Option(help="The category's name.")],
                 data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a budget category (technology, equipment… are there from the start)."""
    with service(data) as s:
        done(f"category {code} added", s.add_category(who(as_), code, name).code)


@refs.command("add-funding")
def add_funding(code: Annotated[str, typer.Argument(help="A short code.")],
                name: Annotated[str, typer.Option(help="The funding source's name.")],
                kind: Annotated[str, typer.Option(help=", ".join(FUNDING_KINDS))],
                data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a funding source."""
    with service(data) as s:
        done(f"funding source {code} added", s.add_funding(who(as_), code, name, kind).code)


@refs.command("add-station")
def add_station(code: Annotated[str, typer.Argument(help="A short code, e.g. YGN.")],
                name: Annotated[str, typer.Option(help="The station's name.")],
                lat: Annotated[float, typer.Option(help="Latitude (degrees).")],
                lon: Annotated[float, typer.Option(help="Longitude (degrees).")],
                data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a ground station that lines and commitments can point at."""
    with service(data) as s:
        done(f"ground station {code} added", s.add_station(who(as_), code, name, lat, lon).code)


@refs.command("list")
def refs_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List categories, funding sources and ground stations."""
    with service(data) as s:
        st = s.store
        rows = ([{"kind": "category", "code": c.code, "name": c.name} for c in st.categories()]
                + [{"kind": f"funding ({f.kind})", "code": f.code, "name": f.name} for f in st.fundings()]
                + [{"kind": "station", "code": x.code, "name": x.name} for x in st.stations()])  # fmt: skip
    emit(rows, ["kind", "code", "name"], format)


# ------------------------------------------------------------------------ lines
@lines.command("add")
def lines_add(year: Annotated[str, typer.Option(help="Fiscal year.")],
              project: Annotated[str, typer.Option(help="Project code.")],
              category: Annotated[str, typer.Option(help="Category code.")],
              funding: Annotated[str, typer.Option(help="Funding source code.")],
              currency: Annotated[str, typer.Option(help="ISO 4217 code of the line's amounts.")],
              amount: Annotated[str, typer.Option(help="Into the year's open draft.")] = "0",
              control_commitment: Annotated[str, typer.Option(help=", ".join(CONTROLS))] = "stop",
              control_expenditure: Annotated[str, typer.Option(help=", ".join(CONTROLS))] = "stop",
              description: Annotated[str, typer.Option(help="What the line pays for.")] = "",
              data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Add a budget line; prints its id."""
    with service(data) as s:
        ln = s.add_line(who(as_), year, project, category, funding, currency, amount,
                        control_commitment=control_commitment, control_expenditure=control_expenditure,
                        description=description)  # fmt: skip
    done(f"line {ln.id} added", ln.id)


@lines.command("set-amount")
def lines_set_amount(line_id: Annotated[int, typer.Argument(help="The line's id.")],
                     amount: Annotated[str, typer.Argument(help="The new figure.")],
                     data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Set a line's figure in its year's open draft (the original or a revision)."""
    with service(data) as s:
        o = s.set_amount(who(as_), line_id, amount)
    done(f"line {line_id}: {amount} in version {o.detail['version']}", line_id)


@lines.command("controls")
def lines_controls(line_id: Annotated[int, typer.Argument(help="The line's id.")],
                   commitment: Annotated[str, typer.Option(help=", ".join(CONTROLS))],
                   expenditure: Annotated[str, typer.Option(help=", ".join(CONTROLS))],
                   data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Set a line's controls (stop, warn or ignore) for commitments and for expenditure."""
    with service(data) as s:
        s.set_controls(who(as_), line_id, commitment, expenditure)
    done(f"line {line_id}: commitment {commitment}, expenditure {expenditure}", line_id)


@lines.command("list")
def lines_list(year: Annotated[str | None, typer.Option(help="Only this fiscal year.")] = None,
               project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
               data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:  # fmt: skip
    """List lines with their balance (in the line's currency)."""
    from sathub.budget.money import from_minor

    with service(data) as s:
        st = s.store
        rows = []
        for ln in st.lines(year=year, project=project):
            p = st.position(ln.id)
            rows.append({**ln.__dict__, **{k: str(from_minor(getattr(p, k), ln.currency)) for k in
                                           ("revised", "committed", "pending", "spent", "available")}})  # fmt: skip
    emit(rows, ["id", "year", "project", "category", "funding", "currency", "revised", "committed",
                "pending", "spent", "available"], format)  # fmt: skip


# --------------------------------------------------------------------- versions
YearArg = Annotated[str, typer.Argument(help="The fiscal year.")]


@versions.command("revise")
def versions_revise(year: YearArg, reason: Annotated[str, typer.Option(help="Why the budget changes.")],
                    data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Open a revision of an approved year (a draft holding the current figures)."""
    with service(data) as s:
        v = s.start_revision(who(as_), year, reason)
    done(f"{year}: revision {v.number} opened (draft)", v.number)


@versions.command("approve")
def versions_approve(year: YearArg, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Approve the year's open draft (by someone other than its drafter)."""
    with service(data) as s:
        v = s.approve_version(who(as_), year)
    done(f"{year}: version {v.number} ({v.kind}) approved by {v.approved_by}", v.number)


@versions.command("discard")
def versions_discard(year: YearArg, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Discard the year's open revision."""
    with service(data) as s:
        done(f"{year}: revision discarded", s.discard_revision(who(as_), year))


@versions.command("history")
def versions_history(year: YearArg, data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """Every version of a year: who drafted and approved it, why, and each line's figure."""
    with service(data) as s:
        hist = s.history(year)
    if format == "json":
        print_json(hist)
        return
    emit([{**h, "lines": ", ".join(f"{k}: {v}" for k, v in h["amounts"].items())} for h in hist],
         ["number", "kind", "status", "created_by", "approved_by", "reason", "lines"], format)  # fmt: skip


# ------------------------------------------------------------------ transactions
@commitments.command("add")
def commitments_add(line: Annotated[int, typer.Option(help="The line committed on.")],
                    amount: Annotated[str, typer.Option(help="Amount (a decimal number).")],
                    currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
                    date: Annotated[str, typer.Option(help="Value date (YYYY-MM-DD).")],
                    counterparty: Annotated[str, typer.Option(help="The supplier.")],
                    reference: Annotated[str, typer.Option(help="Contract or order number.")] = "",
                    description: Annotated[str, typer.Option(help="What is bought.")] = "",
                    link: LinkOpt = None, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Commit money on a line (a contract or purchase order); prints the transaction id."""
    with service(data) as s:
        o = s.commit(who(as_), line, amount, currency, date, counterparty=counterparty,
                     reference=reference, description=description, links=links(link))  # fmt: skip
    state = "waiting for a second approval" if o.detail["status"] == "pending" else "approved"
    done(f"commitment {o.id}: {state}", o.id, o.warnings)


TxArg = Annotated[int, typer.Argument(help="The commitment's transaction id.")]
NoteOpt = Annotated[str, typer.Option(help="A note kept with the decision.")]


def _decide(tx_id: int, decision: str, note: str, data: Path, as_: str | None) -> None:
    with service(data) as s:
        t = s.decide(who(as_), tx_id, decision, note)
    done(f"commitment {t.id}: {t.status}", t.id)


@commitments.command("approve")
def commitments_approve(tx_id: TxArg, note: NoteOpt = "", data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Approve a commitment waiting for a second person."""
    _decide(tx_id, "approved", note, data, as_)


@commitments.command("reject")
def commitments_reject(tx_id: TxArg, note: NoteOpt = "", data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:
    """Reject a commitment waiting for a second person (its reservation is released)."""
    _decide(tx_id, "rejected", note, data, as_)


@app.command("spend")
def spend(kind: Annotated[str, typer.Option(help="expenditure or disbursement")],
          amount: Annotated[str, typer.Option(help="Amount (a decimal number).")],
          currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
          date: Annotated[str, typer.Option(help="Value date (YYYY-MM-DD).")],
          commitment: Annotated[int | None, typer.Option(help="Spent against this commitment.")] = None,
          line: Annotated[int | None, typer.Option(help="Spent directly on this line.")] = None,
          counterparty: Annotated[str, typer.Option(help="Who is paid.")] = "",
          reference: Annotated[str, typer.Option(help="Invoice or payment number.")] = "",
          description: Annotated[str, typer.Option(help="What was paid for.")] = "",
          link: LinkOpt = None, data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Record a disbursement or expenditure; prints the transaction id."""
    with service(data) as s:
        o = s.spend(who(as_), kind, amount, currency, date, line_id=line, commitment_id=commitment,
                    counterparty=counterparty, reference=reference, description=description,
                    links=links(link))  # fmt: skip
    done(f"{kind} {o.id} recorded", o.id, o.warnings)


@app.command("receive")
def receive(kind: Annotated[str, typer.Option(help="incoming_funds or incoming_commitment")],
            year: Annotated[str, typer.Option(help="Fiscal year.")],
            project: Annotated[str, typer.Option(help="Project code.")],
            funding: Annotated[str, typer.Option(help="Funding source code.")],
            amount: Annotated[str, typer.Option(help="Amount (a decimal number).")],
            currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
            date: Annotated[str, typer.Option(help="Value date (YYYY-MM-DD).")],
            counterparty: Annotated[str, typer.Option(help="Who gives the money.")],
            reference: Annotated[str, typer.Option(help="Their reference.")] = "",
            description: Annotated[str, typer.Option(help="What it is for.")] = "",
            line: Annotated[int | None, typer.Option(help="Book it on this line.")] = None,
            data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Record incoming funds or an incoming commitment (appropriation, tranche, revenue)."""
    with service(data) as s:
        o = s.receive(who(as_), kind, year, project, funding, amount, currency, date,
                      counterparty=counterparty, reference=reference, description=description,
                      line_id=line)  # fmt: skip
    done(f"{kind} {o.id} recorded", o.id)


@app.command("transactions")
def transactions(year: Annotated[str | None, typer.Option(help="Only this fiscal year.")] = None,
                 line: Annotated[int | None, typer.Option(help="Only this line.")] = None,
                 kind: Annotated[str | None, typer.Option(help="Only this kind (commitment, …).")] = None,
                 data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:  # fmt: skip
    """List transactions (amounts in their own currency)."""
    from sathub.budget.money import from_minor

    with service(data) as s:
        rows = [{**t.__dict__, "amount": str(from_minor(t.amount_minor, t.currency))}
                for t in s.store.transactions(year=year, line_id=line, kind=kind)]  # fmt: skip
    emit(rows, ["id", "kind", "status", "year", "project", "line_id", "commitment_id", "value_date", "amount",
                "currency", "rate", "counterparty", "reference"], format)  # fmt: skip


@app.command("link")
def link(owner: Annotated[str, typer.Option(help="project, line or transaction")],
         owner_id: Annotated[str, typer.Option("--id", help="Its code or number.")],
         target: Annotated[str, typer.Option("--to", help="KIND:REF (satellite:89001, station:YGN, …)")],
         note: Annotated[str, typer.Option(help="Why they are linked.")] = "",
         data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Point a project, line or transaction at a satellite, ground station, agreement or order."""
    ((kind, ref),) = links([target])
    with service(data) as s:
        lk = s.link(who(as_), owner, owner_id, kind, ref, note)
    done(f"{lk.owner} {lk.owner_id} → {lk.kind} {lk.ref}", f"{lk.kind}:{lk.ref}")


@rates.command("load")
def rates_load(file: Annotated[Path, typer.Argument(help="CSV: date,base,quote,rate.")],
               data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Load exchange rates from a CSV file: date,base,quote,rate (1 base = rate quote)."""
    try:
        content = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}", field="file") from None
    with service(data) as s:
        n = s.load_rates(who(as_), content, source=str(file))
    done(f"{n} rates loaded from {file}", n)


@rates.command("list")
def rates_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """List the exchange rates."""
    with service(data) as s:
        rows = [dict(r.__dict__) for r in s.store.rates()]
    emit(rows, ["day", "base", "quote", "rate"], format)


@app.command("price")
def price(agreement: Annotated[int, typer.Option(help="Agreement id.")],
          unit: Annotated[str, typer.Option(help=", ".join(PRICE_UNITS))],
          amount: Annotated[str, typer.Option("--price", help="Price per unit.")],
          currency: Annotated[str, typer.Option(help="ISO 4217 code.")],
          project: Annotated[str, typer.Option(help="Project the revenue goes to.")],
          funding: Annotated[str, typer.Option(help="Funding source it is booked as.")],
          data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """Price an agreement's deliveries (per GB or per km²) for revenue."""
    with service(data) as s:
        p = s.set_price(who(as_), agreement, unit, amount, currency, project, funding)
    done(f"agreement {p.agreement_id}: {p.price} {p.currency} {p.unit}", p.agreement_id)


@app.command("revenue")
def revenue(agreement: Annotated[int, typer.Option(help="Agreement id.")],
            from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
            to: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD).")],
            book: Annotated[bool, typer.Option(help="Book it as incoming funds.")] = False,
            data: DataOpt = DEFAULT_DATA, as_: AsOpt = None) -> None:  # fmt: skip
    """An agreement's revenue from its audited deliveries (JSON); --book records it."""
    from sathub.budget.revenue import catalog_area

    with installation(data) as inst:
        s = inst.budget
        area = catalog_area(inst.catalog)
        if book:
            o = s.book_revenue(who(as_), agreement, from_, to, area_km2=area)
            print_json({"transaction": o.id, **o.detail})
            return
        print_json(s.revenue(agreement, from_, to, area).as_dict())


def register(root: typer.Typer) -> None:
    """``sathub budget …`` (the reports are added to :data:`app` by
    :func:`sathub.cli.budget_reports.register`)."""
    app.add_typer(years, name="years")
    app.add_typer(projects, name="projects")
    app.add_typer(refs, name="refs")
    app.add_typer(lines, name="lines")
    app.add_typer(versions, name="versions")
    app.add_typer(commitments, name="commitments")
    app.add_typer(rates, name="rates")
    root.add_typer(app, name="budget")
