"""The budget service: every change to the budget is one method here, which validates its input,
writes in one store transaction and appends the change to the hash-chained audit log inside
that transaction (just before it commits). The CLI and the API call these same methods.

Bad input raises :class:`~sathub.errors.InvalidInput` (400), unknown objects
:class:`~sathub.errors.NotFound` (404), state conflicts — a closed year, an over-budget
commitment under ``stop``, an approval given twice — :class:`~sathub.errors.Conflict` (409), and
the maker approving their own commitment or budget :class:`~sathub.errors.Forbidden` (403);
each names the field, and nothing is written. A crash between the audit append and the commit
leaves an audit record of a change that did not commit, never a change without its record.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

from sathub.budget import rates as rates_mod
from sathub.budget import revenue as revenue_mod
from sathub.budget.config import BudgetConfig
from sathub.budget.base import Audit, LinkResolver, add_months, choice, code, text
from sathub.budget.ledger import Ledger
from sathub.budget.model import (
    CONTROLS,
    DEFAULT_CATEGORIES,
    FUNDING_KINDS,
    OWNER_KINDS,
    PRICE_UNITS,
    PROJECT_KINDS,
    Category,
    FiscalYear,
    FundingSource,
    Line,
    Link,
    Outcome,
    Price,
    Project,
    Station,
    Version,
)
from sathub.budget.money import check_currency, fmt, from_minor, parse_amount, to_minor
from sathub.budget.store import BudgetReader, BudgetStore
from sathub.errors import Conflict, Forbidden, InvalidInput

class BudgetService(Ledger):
    """One installation's budget: a :class:`BudgetStore`, the audit log and the settings."""

    def __init__(self, store: BudgetStore, audit: Audit, config: BudgetConfig | None = None,
                 resolver: LinkResolver | None = None) -> None:  # fmt: skip
        super().__init__(store, audit, config, resolver)
        self._seed()

    @classmethod
    def for_settings(cls, settings: Any, audit: Audit | None = None, *, store: BudgetStore | None = None,
                     orbits: Any = None) -> BudgetService:  # fmt: skip
        """The service of a data directory: ``store`` (default: the embedded ``DATA/budget.db``),
        links resolved in ``orbits`` (default: the data directory's files); audit in access.db."""
        from sathub.budget.links import DataDirResolver
        from sathub.budget.sqlite import SQLiteBudgetStore

        if audit is None:
            from sathub.access.service import AccessService

            audit = AccessService.for_layout(settings.layout).audit
        if store is None:
            store = SQLiteBudgetStore(Path(settings.layout.root) / "budget.db")
        return cls(store, audit, BudgetConfig.from_settings(settings),
                   DataDirResolver(settings, orbits, getattr(audit, "store", None)))  # fmt: skip

    def _seed(self) -> None:
        if self.store.categories():
            return
        with self.store.write() as w:
            if not w.categories():
                for c, name in DEFAULT_CATEGORIES:
                    w.insert_category(Category(c, name))

    # ------------------------------------------------------------------ structure
    def add_year(self, actor: str, year: str, start: object = None) -> FiscalYear:
        """A fiscal year of twelve months from ``start`` (default: the first day of the
        configured start month in the first four-digit number of the code, FY2025 → 2025);
        its original budget starts as a draft (version 1)."""
        actor, year = self._actor(actor), code(year, "fiscal_year")
        if start is None:
            m = re.search(r"(\d{4})", year)
            if m is None:
                raise InvalidInput("give the start date of a fiscal year whose code has no year",
                                   field="start")  # fmt: skip
            first = dt.date(int(m.group(1)), self.config.fy_start_month, 1)
        else:
            first = rates_mod.parse_day(start, "start")
        last = add_months(first, 12) - dt.timedelta(days=1)
        fy = FiscalYear(year, first, last)
        with self.store.write() as w:
            for other in w.years():
                if other.start <= last and first <= other.end:
                    raise InvalidInput(f"{year} ({first}..{last}) overlaps {other.code} "
                                       f"({other.start}..{other.end})", field="start")  # fmt: skip
            w.insert_year(fy)
            w.insert_version(year, 1, "original budget", actor, time.time())
            self._audit(actor, "year.add", f"year:{year}", start=first.isoformat(), end=last.isoformat())
        return fy

    def add_project(self, actor: str, project: str, name: str, kind: str, programme: str,
                    description: str = "") -> Project:  # fmt: skip
        p = Project(code(project, "project"), text(name, "name", max_len=200, required=True),
                    choice(kind, PROJECT_KINDS, "kind"), text(programme, "programme", max_len=200, required=True),
                    text(description, "description", max_len=2000))  # fmt: skip
        actor = self._actor(actor)
        with self.store.write() as w:
            w.insert_project(p)
            self._audit(actor, "project.add", f"project:{p.code}", name=p.name, kind=p.kind,
                        programme=p.programme)  # fmt: skip
        return p

    def add_category(self, actor: str, category: str, name: str) -> Category:
        c = Category(code(category, "category"), text(name, "name", max_len=200, required=True))
        actor = self._actor(actor)
        with self.store.write() as w:
            w.insert_category(c)
            self._audit(actor, "category.add", f"category:{c.code}", name=c.name)
        return c

    def add_funding(self, actor: str, funding: str, name: str, kind: str) -> FundingSource:
        f = FundingSource(code(funding, "funding"), text(name, "name", max_len=200, required=True),
                          choice(kind, FUNDING_KINDS, "kind"))  # fmt: skip
        actor = self._actor(actor)
        with self.store.write() as w:
            w.insert_funding(f)
            self._audit(actor, "funding.add", f"funding:{f.code}", name=f.name, kind=f.kind)
        return f

    def add_station(self, actor: str, station: str, name: str, lat_deg: float, lon_deg: float) -> Station:
        try:
            lat, lon = float(lat_deg), float(lon_deg)
        except (TypeError, ValueError):
            raise InvalidInput("latitude and longitude must be numbers", field="lat") from None
        if not -90 <= lat <= 90 or not -180 <= lon <= 180:
            raise InvalidInput(f"position {lat}, {lon} is outside [-90, 90] × [-180, 180]", field="lat")
        s = Station(code(station, "station"), text(name, "name", max_len=200, required=True), lat, lon)
        actor = self._actor(actor)
        with self.store.write() as w:
            w.insert_station(s)
            self._audit(actor, "station.add", f"station:{s.code}", name=s.name, lat=lat, lon=lon)
        return s

    # ---------------------------------------------------------------------- lines
    def add_line(self, actor: str, year: str, project: str, category: str, funding: str,
                 currency: str, amount: object = "0", *, control_commitment: str = "stop",
                 control_expenditure: str = "stop", description: str = "") -> Line:  # fmt: skip
        """A budget line; its amount goes into the year's open draft (the original budget or a
        revision). Without an open draft a new line starts at zero."""
        actor = self._actor(actor)
        currency = check_currency(currency)
        value = parse_amount(amount, currency, allow_zero=True)
        line = Line(0, year, project, category, funding, currency,
                    choice(control_commitment, CONTROLS, "control_commitment"),
                    choice(control_expenditure, CONTROLS, "control_expenditure"),
                    text(description, "description", max_len=2000), actor)  # fmt: skip
        with self.store.write() as w:
            self._open_year(w, year)
            w.project(project), w.category(category), w.funding(funding)  # NotFound names the field
            draft = self.draft(w, year)
            if draft is None and value:
                raise InvalidInput(f"{year} has no open draft: a new line starts at zero; start a "
                                   "revision to give it an amount", field="amount")  # fmt: skip
            line_id = w.insert_line(line)
            if draft is not None:
                w.set_amount(draft.id, line_id, to_minor(value, currency))
            self._audit(actor, "line.add", f"line:{line_id}", year=year, project=project,
                        category=category, funding=funding, currency=currency, amount=str(value),
                        version=draft.number if draft else None)  # fmt: skip
        return self.store.line(line_id)

    def set_amount(self, actor: str, line_id: int, amount: object) -> Outcome:
        """Set a line's figure in its year's open draft (the original or a revision)."""
        actor = self._actor(actor)
        with self.store.write() as w:
            line = w.line(line_id)
            self._open_year(w, line.year)
            value = parse_amount(amount, line.currency, allow_zero=True)
            draft = self.draft(w, line.year)
            if draft is None:
                raise Conflict(f"{line.year} has no open draft: start a revision first", field="version")
            before = w.amounts(draft.id).get(line_id, 0)
            w.set_amount(draft.id, line_id, to_minor(value, line.currency))
            self._audit(actor, "line.amount", f"line:{line_id}", version=draft.number,
                        before=str(from_minor(before, line.currency)), after=str(value),
                        currency=line.currency)  # fmt: skip
        return Outcome(line_id, detail={"version": draft.number, "amount": str(value)})

    def set_controls(self, actor: str, line_id: int, commitment: str, expenditure: str) -> Line:
        actor = self._actor(actor)
        c, e = choice(commitment, CONTROLS, "control_commitment"), choice(expenditure, CONTROLS, "control_expenditure")
        with self.store.write() as w:
            line = w.line(line_id)
            w.set_controls(line_id, c, e)
            self._audit(actor, "line.controls", f"line:{line_id}", before=[line.control_commitment,
                        line.control_expenditure], after=[c, e])  # fmt: skip
        return self.store.line(line_id)

    # ------------------------------------------------------------------- versions
    def start_revision(self, actor: str, year: str, reason: str) -> Version:
        """Open a revision: a new draft version holding the current figures, to be changed
        with :meth:`set_amount` and approved by a different person."""
        actor, reason = self._actor(actor), text(reason, "reason", max_len=2000, required=True)
        with self.store.write() as w:
            self._open_year(w, year)
            current = self.current(w, year)
            if current is None:
                raise Conflict(f"{year}'s original budget is not approved yet: change the draft",
                               field="version")  # fmt: skip
            if self.draft(w, year) is not None:
                raise Conflict(f"{year} already has an open revision", field="version")
            number = current.number + 1
            vid = w.insert_version(year, number, reason, actor, time.time())
            for line_id, minor in w.amounts(current.id).items():
                w.set_amount(vid, line_id, minor)
            self._audit(actor, "version.revise", f"year:{year}", version=number, reason=reason)
        return next(v for v in self.store.versions(year) if v.number == number)

    def approve_version(self, actor: str, year: str) -> Version:
        """Approve the open draft: the original budget (version 1) or a revision. The approver
        cannot be the person who drafted it. Under a ``stop`` commitment control a revision
        cannot cut a line below what is already committed and spent."""
        actor = self._actor(actor)
        with self.store.write() as w:
            self._open_year(w, year)
            draft = self.draft(w, year)
            if draft is None:
                raise Conflict(f"{year} has no draft to approve", field="version")
            if draft.created_by == actor:
                raise Forbidden(f"{actor} drafted version {draft.number} of {year} and cannot also "
                                "approve it: a second person approves", field="approver")  # fmt: skip
            amounts = w.amounts(draft.id)
            for line in w.lines(year=year):
                p = w.position(line.id)
                used = p.committed + p.pending + p.direct_spent
                if line.control_commitment == "stop" and amounts.get(line.id, 0) < used:
                    raise InvalidInput(
                        f"line {line.id}: {fmt(from_minor(amounts.get(line.id, 0), line.currency), line.currency)} "
                        f"is below the {fmt(from_minor(used, line.currency), line.currency)} already "
                        "committed and spent", field="amount")  # fmt: skip
            w.approve_version(draft.id, actor, time.time())
            self._audit(actor, "version.approve", f"year:{year}", version=draft.number,
                        kind=draft.kind, drafted_by=draft.created_by, reason=draft.reason)  # fmt: skip
        return next(v for v in self.store.versions(year) if v.number == draft.number)

    def discard_revision(self, actor: str, year: str) -> int:
        actor = self._actor(actor)
        with self.store.write() as w:
            w.year(year)  # NotFound for an unknown year
            draft = self.draft(w, year)
            if draft is None or draft.number == 1:
                raise Conflict(f"{year} has no open revision to discard", field="version")
            w.delete_version(draft.id)
            self._audit(actor, "version.discard", f"year:{year}", version=draft.number)
        return draft.number

    def close_year(self, actor: str, year: str) -> FiscalYear:
        """Close a year (its budget is executed): no more transactions or revisions."""
        actor = self._actor(actor)
        with self.store.write() as w:
            self._open_year(w, year)
            if self.current(w, year) is None:
                raise Conflict(f"{year} has no approved budget", field="fiscal_year")
            if self.draft(w, year) is not None:
                raise Conflict(f"{year} has an open draft: approve or discard it first", field="version")
            if any(t.status == "pending" for t in w.transactions(year=year, kind="commitment")):
                raise Conflict(f"{year} has commitments waiting for approval", field="fiscal_year")
            w.close_year(year, time.time(), actor)
            self._audit(actor, "year.close", f"year:{year}")
        return self.store.year(year)

    # ---------------------------------------------------------------- rates, links
    def load_rates(self, actor: str, csv_text: str, source: str = "") -> int:
        actor = self._actor(actor)
        parsed = rates_mod.parse_csv(csv_text)
        with self.store.write() as w:
            n = w.upsert_rates(parsed)
            self._audit(actor, "rates.load", "rates", count=n, source=text(source, "source", max_len=500),
                        first=min(r.day for r in parsed).isoformat(),
                        last=max(r.day for r in parsed).isoformat())  # fmt: skip
        return n

    def _check_owner(self, r: BudgetReader, owner: str, owner_id: object) -> str:
        owner = choice(owner, OWNER_KINDS, "owner")
        if owner == "project":
            return r.project(str(owner_id)).code
        try:
            n = int(str(owner_id))
        except ValueError:
            raise InvalidInput(f"{owner} ids are numbers, got {owner_id!r}", field="owner_id") from None
        return str(r.line(n).id if owner == "line" else r.transaction(n).id)

    def link(self, actor: str, owner: str, owner_id: object, kind: str, ref: object, note: str = "") -> Link:
        """Point a project, line or transaction at a satellite (NORAD id), ground station,
        agreement (id) or acquisition order (id)."""
        actor = self._actor(actor)
        with self.store.write() as w:
            lk = Link(owner, self._check_owner(w, owner, owner_id), kind, self._check_target(w, kind, ref),
                      text(note, "note", max_len=500))  # fmt: skip
            w.insert_link(lk)
            self._audit(actor, "link.add", f"{lk.owner}:{lk.owner_id}", kind=lk.kind, ref=lk.ref)
        return lk

    def set_price(self, actor: str, agreement_id: int, unit: str, price: object, currency: str,
                  project: str, funding: str) -> Price:  # fmt: skip
        """The price of an agreement's deliveries (per GB or per km²), booked as own revenue of
        ``project`` from ``funding``."""
        actor = self._actor(actor)
        currency = check_currency(currency)
        value = parse_amount(price, currency, field="price")
        p = Price(int(agreement_id), choice(unit, PRICE_UNITS, "unit"), str(value), currency, project, funding)
        with self.store.write() as w:
            self._check_target(w, "agreement", p.agreement_id)
            w.project(project), w.funding(funding)
            w.upsert_price(p)
            self._audit(actor, "price.set", f"agreement:{p.agreement_id}", unit=p.unit, price=p.price,
                        currency=currency, project=project, funding=funding)  # fmt: skip
        return p

    def revenue(self, agreement_id: int, start: object, end: object,
                area_km2: revenue_mod.AreaFn | None = None) -> revenue_mod.Revenue:  # fmt: skip
        """What an agreement's deliveries in [start, end] earn at its price (not booked)."""
        first, last = rates_mod.parse_day(start, "start"), rates_mod.parse_day(end, "end")
        if last < first:
            raise InvalidInput(f"the period ends ({last}) before it starts ({first})", field="end")
        price = self.store.price(int(agreement_id))
        records = self.audit.records(agreement_id=price.agreement_id)
        return revenue_mod.compute(price, records, first, last, area_km2)

    def book_revenue(self, actor: str, agreement_id: int, start: object, end: object,
                     value_date: object = None, area_km2: revenue_mod.AreaFn | None = None) -> Outcome:  # fmt: skip
        """Book an agreement's revenue for a period as own-revenue incoming funds of its
        project (value date: the period's last day unless given). A period overlapping one
        already booked for the agreement is refused."""
        actor = self._actor(actor)
        rev = self.revenue(agreement_id, start, end, area_km2)
        if rev.amount <= 0:
            raise InvalidInput(f"agreement {rev.agreement_id} delivered nothing billable from "
                               f"{rev.start} to {rev.end}", field="agreement")  # fmt: skip
        day = rev.end if value_date is None else rates_mod.parse_day(value_date, "value_date")
        price = self.store.price(rev.agreement_id)
        with self.store.write() as w:
            for a, b, tx_id in w.bookings(rev.agreement_id):
                if a <= rev.end and rev.start <= b:
                    raise Conflict(f"agreement {rev.agreement_id}'s revenue from {a} to {b} is booked "
                                   f"already (transaction {tx_id})", field="start")  # fmt: skip
            year = next((y.code for y in w.years() if y.contains(day)), None)
            if year is None:
                raise InvalidInput(f"no fiscal year contains {day}", field="value_date")
            tx = self._receive(w, actor, "incoming_funds", year, price.project, price.funding,
                               to_minor(rev.amount, rev.currency), rev.currency, day,
                               f"agreement {rev.agreement_id}",
                               f"agreement:{rev.agreement_id} {rev.start}..{rev.end}",
                               f"{rev.quantity} {'GB' if rev.unit == 'per_gb' else 'km²'} delivered "
                               f"at {rev.price} {rev.currency} {rev.unit.replace('_', ' ')}", None)  # fmt: skip
            w.insert_booking(rev.agreement_id, rev.start, rev.end, tx.id)
            self._audit(actor, "revenue.book", f"tx:{tx.id}", **rev.as_dict())
        return Outcome(tx.id, detail=rev.as_dict())

    # ---------------------------------------------------------------------- reads
    def history(self, year: str) -> list[dict[str, Any]]:
        """Every version of a year with each line's figure: the revision history."""
        self.store.year(year)
        lines = {ln.id: ln for ln in self.store.lines(year=year)}
        out = []
        for v in self.store.versions(year):
            amounts = self.store.amounts(v.id)
            out.append({**v.__dict__, "kind": v.kind,
                        "amounts": {str(i): str(from_minor(amounts.get(i, 0), ln.currency))
                                    for i, ln in lines.items()}})  # fmt: skip
        return out
