"""Transactions: commitments (with maker–checker above a threshold), disbursements and
expenditures (against a commitment or directly on a line), incoming commitments and funds.

Each write converts its amount to the line's currency at the value date's rate (fixed in the
transaction), checks the line's balance inside the store's write transaction (so no pair of
concurrent writes can both take the last of it) and appends the audit record before commit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from sathub.budget import controls
from sathub.budget.base import ServiceBase, choice, text
from sathub.budget.model import INCOMING, SPENDING, Approval, FiscalYear, Link, Outcome, Transaction
from sathub.budget.money import check_currency, fmt, from_minor, parse_amount, to_minor
from sathub.budget.rates import factor, parse_day
from sathub.budget.store import BudgetReader, BudgetWriter
from sathub.errors import Conflict, Forbidden, InvalidInput

LinkSpec = Iterable[tuple[str, object]]


class Ledger(ServiceBase):
    def _ready_year(self, r: BudgetReader, year: str, day: dt.date, *, approved: bool = True) -> FiscalYear:
        fy = self._open_year(r, year)
        if approved and self.current(r, year) is None:
            raise Conflict(f"{year} has no approved budget yet: approve its original budget first",
                           field="fiscal_year")  # fmt: skip
        if not fy.contains(day):
            raise InvalidInput(f"value date {day} is outside fiscal year {year} ({fy.start}..{fy.end})",
                               field="value_date")  # fmt: skip
        return fy

    def _link_all(self, w: BudgetWriter, tx_id: int, links: LinkSpec) -> list[dict[str, str]]:
        out = []
        for kind, ref in links:
            lk = Link("transaction", str(tx_id), kind, self._check_target(w, kind, ref))
            w.insert_link(lk)
            out.append({"kind": lk.kind, "ref": lk.ref})
        return out

    def _common(self, actor: str, amount: object, currency: str, value_date: object,
                counterparty: object, reference: object, description: object,
                *, counterparty_required: bool = True) -> tuple[str, str, Any, dt.date, str, str, str]:  # fmt: skip
        actor = self._actor(actor)
        currency = check_currency(currency)
        value = parse_amount(amount, currency)
        day = parse_day(value_date, "value_date")
        return (actor, currency, value, day,
                text(counterparty, "counterparty", max_len=200, required=counterparty_required),
                text(reference, "reference", max_len=200), text(description, "description", max_len=2000))  # fmt: skip

    def _tx_detail(self, tx: Transaction, **more: Any) -> dict[str, Any]:
        return {"kind": tx.kind, "line": tx.line_id, "year": tx.year, "project": tx.project,
                "amount": str(from_minor(tx.amount_minor, tx.currency)), "currency": tx.currency,
                "value_date": tx.value_date.isoformat(), "rate": tx.rate,
                "amount_line": str(from_minor(tx.amount_line_minor, tx.line_currency)),
                "line_currency": tx.line_currency, "status": tx.status, "counterparty": tx.counterparty,
                "reference": tx.reference, "commitment": tx.commitment_id, **more}  # fmt: skip

    # ---------------------------------------------------------------- commitments
    def commit(self, actor: str, line_id: int, amount: object, currency: str, value_date: object, *,
               counterparty: object, reference: object = "", description: object = "",
               links: LinkSpec = ()) -> Outcome:  # fmt: skip
        """A commitment (contract, purchase order) on a line. Above the approval threshold it
        waits for a second person (status ``pending``) but reserves the money at once."""
        actor, currency, value, day, cp, ref, desc = self._common(
            actor, amount, currency, value_date, counterparty, reference, description)
        with self.store.write() as w:
            line = w.line(int(line_id))
            w.lock_line(line.id)
            self._ready_year(w, line.year, day)
            f = factor(w, currency, line.currency, day, self.config.rate_max_age_days)
            minor = to_minor(value, currency)
            amount_line = f.apply(minor)
            r = self.config.currency
            in_reporting = factor(w, currency, r, day, self.config.rate_max_age_days).apply(minor)
            pending = in_reporting > to_minor(self.config.approval_threshold, r)
            over = controls.overrun(line, w.position(line.id), "commitment", amount_line)
            tx = Transaction(0, "commitment", line.year, line.project, line.funding, line.id, currency,
                             minor, day, line.currency, f.text, f.day, amount_line, None, cp, ref, desc,
                             "pending" if pending else "approved", actor, time.time(), over)  # fmt: skip
            tx_id = w.insert_transaction(tx)
            linked = self._link_all(w, tx_id, links)
            warnings = self._warnings(line.currency, over, "commitment")
            self._audit(actor, "commitment.add", f"tx:{tx_id}",
                        **self._tx_detail(tx, links=linked, overrun=str(from_minor(over, line.currency)),
                                          needs_second_approval=pending))  # fmt: skip
        return Outcome(tx_id, warnings, {"status": tx.status, "overrun": str(from_minor(over, line.currency))})

    @staticmethod
    def _warnings(currency: str, over: int, stage: str) -> list[str]:
        if not over:
            return []
        return [f"{stage} goes {fmt(from_minor(over, currency), currency)} past the line's available "
                "balance (control: warn); the overrun is recorded"]  # fmt: skip

    def decide(self, actor: str, tx_id: int, decision: str, note: object = "") -> Transaction:
        """Approve or reject a commitment waiting for a second approval. The maker cannot
        decide on their own commitment, and nobody decides twice."""
        actor = self._actor(actor)
        decision = choice(decision, ("approved", "rejected"), "decision")
        note = text(note, "note", max_len=2000)
        with self.store.write() as w:
            tx = w.transaction(int(tx_id))
            if tx.kind != "commitment":
                raise InvalidInput(f"transaction {tx.id} is a {tx.kind}: only commitments are approved",
                                   field="transaction")  # fmt: skip
            if any(a.approver == actor for a in w.approvals(tx.id)):
                raise Conflict(f"{actor} has already decided on commitment {tx.id}", field="approver")
            if tx.created_by == actor:
                raise Forbidden(f"{actor} entered commitment {tx.id} and cannot also approve or reject "
                                "it: a second person decides", field="approver")  # fmt: skip
            if tx.status != "pending":
                raise Conflict(f"commitment {tx.id} is not waiting for approval (it is {tx.status})",
                               field="transaction")  # fmt: skip
            self._open_year(w, tx.year)
            w.insert_approval(Approval(tx.id, actor, decision, time.time(), note))
            w.set_status(tx.id, decision)
            self._audit(actor, f"commitment.{'approve' if decision == 'approved' else 'reject'}",
                        f"tx:{tx.id}", maker=tx.created_by, note=note,
                        amount=str(from_minor(tx.amount_minor, tx.currency)), currency=tx.currency)  # fmt: skip
        return self.store.transaction(tx.id)

    # ------------------------------------------------------------------- spending
    def spend(self, actor: str, kind: str, amount: object, currency: str, value_date: object, *,
              line_id: int | None = None, commitment_id: int | None = None,
              counterparty: object = "", reference: object = "", description: object = "",
              links: LinkSpec = ()) -> Outcome:  # fmt: skip
        """A disbursement or expenditure: against a commitment (in the commitment's currency,
        never above what is left of it) or directly on a line (under the line's expenditure
        control)."""
        kind = choice(kind, tuple(sorted(SPENDING)), "kind")
        if line_id is None and commitment_id is None:
            raise InvalidInput("give the line, or the commitment it is spent against", field="line")
        actor, currency, value, day, cp, ref, desc = self._common(
            actor, amount, currency, value_date, counterparty, reference, description,
            counterparty_required=commitment_id is None)  # fmt: skip
        with self.store.write() as w:
            commitment = None
            if commitment_id is not None:
                commitment = w.transaction(int(commitment_id))
                if commitment.kind != "commitment":
                    raise InvalidInput(f"transaction {commitment.id} is not a commitment", field="commitment")
                if line_id is not None and int(line_id) != commitment.line_id:
                    raise InvalidInput(f"commitment {commitment.id} is on line {commitment.line_id}, "
                                       f"not {line_id}", field="line")  # fmt: skip
                assert commitment.line_id is not None
                line_id = commitment.line_id
            line = w.line(int(line_id))  # type: ignore[arg-type]
            w.lock_line(line.id)
            self._ready_year(w, line.year, day)
            minor = to_minor(value, currency)
            over = 0
            if commitment is not None:
                if commitment.status != "approved":
                    raise Conflict(f"commitment {commitment.id} is {commitment.status}: nothing can be "
                                   "spent against it", field="commitment")  # fmt: skip
                if currency != commitment.currency:
                    raise InvalidInput(f"commitment {commitment.id} is in {commitment.currency}: spend "
                                       "against it in that currency", field="currency")  # fmt: skip
                left = commitment.amount_minor - w.spent_on(commitment.id)
                if minor > left:
                    raise InvalidInput(
                        f"{kind} of {fmt(value, currency)} is above what is left of commitment "
                        f"{commitment.id} ({fmt(from_minor(left, currency), currency)})", field="amount")  # fmt: skip
                cp = cp or commitment.counterparty
            f = factor(w, currency, line.currency, day, self.config.rate_max_age_days)
            amount_line = f.apply(minor)
            if commitment is None:
                over = controls.overrun(line, w.position(line.id), "expenditure", amount_line)
            tx = Transaction(0, kind, line.year, line.project, line.funding, line.id, currency, minor,
                             day, line.currency, f.text, f.day, amount_line,
                             commitment.id if commitment else None, cp, ref, desc, "approved", actor,
                             time.time(), over)  # fmt: skip
            tx_id = w.insert_transaction(tx)
            linked = self._link_all(w, tx_id, links)
            self._audit(actor, f"{kind}.add", f"tx:{tx_id}",
                        **self._tx_detail(tx, links=linked, overrun=str(from_minor(over, line.currency))))
        return Outcome(tx_id, self._warnings(line.currency, over, kind),
                       {"overrun": str(from_minor(over, line.currency))})  # fmt: skip

    # ------------------------------------------------------------------- incoming
    def _receive(self, w: BudgetWriter, actor: str, kind: str, year: str, project: str, funding: str,
                 minor: int, currency: str, day: dt.date, cp: str, ref: str, desc: str,
                 line_id: int | None) -> Transaction:  # fmt: skip
        self._ready_year(w, year, day, approved=False)
        w.project(project), w.funding(funding)
        line_currency, f_text, f_day, amount_line = currency, "1", None, minor
        if line_id is not None:
            line = w.line(int(line_id))
            if (line.year, line.project, line.funding) != (year, project, funding):
                raise InvalidInput(f"line {line.id} is {line.project} × {line.year} × {line.funding}, not "
                                   f"{project} × {year} × {funding}", field="line")  # fmt: skip
            f = factor(w, currency, line.currency, day, self.config.rate_max_age_days)
            line_currency, f_text, f_day, amount_line = line.currency, f.text, f.day, f.apply(minor)
        tx = Transaction(0, kind, year, project, funding, line_id, currency, minor, day, line_currency,
                         f_text, f_day, amount_line, None, cp, ref, desc, "approved", actor, time.time(), 0)  # fmt: skip
        tx_id = w.insert_transaction(tx)
        return Transaction(**{**tx.__dict__, "id": tx_id})

    def receive(self, actor: str, kind: str, year: str, project: str, funding: str, amount: object,
                currency: str, value_date: object, *, counterparty: object, reference: object = "",
                description: object = "", line_id: int | None = None) -> Outcome:  # fmt: skip
        """Incoming funds or an incoming commitment (an appropriation, a donor tranche, a loan
        drawdown, revenue) for a project and funding source in a year."""
        kind = choice(kind, tuple(sorted(INCOMING)), "kind")
        actor, currency, value, day, cp, ref, desc = self._common(
            actor, amount, currency, value_date, counterparty, reference, description)
        with self.store.write() as w:
            tx = self._receive(w, actor, kind, year, project, funding, to_minor(value, currency),
                               currency, day, cp, ref, desc, line_id)  # fmt: skip
            self._audit(actor, f"{kind}.add", f"tx:{tx.id}", **self._tx_detail(tx, funding=funding))
        return Outcome(tx.id)
