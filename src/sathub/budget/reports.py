"""Budget reports: approved vs revised vs committed vs pending vs spent vs available, and
incoming funds (received) and commitments (pledged), grouped by any of fiscal year, quarter,
project, category, funding source and line; burn rate and year-end forecast; a satellite's
cost against its budget.

Method. Every figure is first converted to the reporting currency **once, on its own**, at the
fiscal year's *budget rate* (the rate of the year's first day, from the line's currency — or
the transaction's own currency when it has no line), rounded half up to the minor unit. A
line's annual figures are spread over the four fiscal quarters in equal parts of whole minor
units (the first quarters take the remainder). Each report cell is the sum of such converted
pieces, so every total equals the sum of its parts to the minor unit, whatever the grouping,
and a line's available balance in the report is its balance in its own currency at the budget
rate: exchange moves after the budget was set never look like over- or under-spending.

``available = revised − committed − pending − spent without a commitment`` (see
:mod:`sathub.budget.controls`). Rejected commitments count nowhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sathub.budget.config import BudgetConfig
from sathub.budget.model import FiscalYear, Line, Transaction
from sathub.budget.money import check_currency, from_minor, to_minor
from sathub.budget.rates import Factor, factor
from sathub.budget.store import BudgetReader
from sathub.errors import InvalidInput

MEASURES = ("approved", "revised", "committed", "pending", "spent", "available", "received", "pledged")
DIMENSIONS = ("year", "quarter", "project", "category", "funding", "line")
RUN_RATE_DAYS = 90
NONE = "(none)"  # category and line of incoming money recorded without a line


@dataclass
class Fact:
    dims: dict[str, str]
    values: dict[str, int]  # minor units of the reporting currency


@dataclass
class Report:
    currency: str
    group_by: list[str]
    rows: list[dict[str, Any]]
    total: dict[str, Decimal]
    version: int | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def cell(v: Any) -> Any:
            return str(v) if isinstance(v, Decimal) else v

        return {"currency": self.currency, "group_by": self.group_by, "version": self.version,
                "measures": list(MEASURES),
                "rows": [{k: cell(v) for k, v in r.items()} for r in self.rows],
                "total": {k: cell(v) for k, v in self.total.items()}, "notes": self.notes}  # fmt: skip


def split4(total: int) -> list[int]:
    """``total`` minor units in four whole parts summing to it exactly."""
    base, rest = divmod(total, 4)
    return [base + (1 if q < rest else 0) for q in range(4)]


class _Rates:
    """Budget-rate factors to the reporting currency, one per (currency, year)."""

    def __init__(self, r: BudgetReader, config: BudgetConfig, currency: str) -> None:
        self.r, self.config, self.currency = r, config, currency
        self._cache: dict[tuple[str, str], Factor] = {}

    def __call__(self, src: str, fy: FiscalYear) -> Factor:
        key = (src, fy.code)
        if key not in self._cache:
            self._cache[key] = factor(self.r, src, self.currency, fy.start, self.config.rate_max_age_days,
                                      field="rate")  # fmt: skip
        return self._cache[key]


def _version_ids(r: BudgetReader, year: str, version: int | None) -> tuple[int | None, int | None]:
    vs = r.versions(year)
    original = next((v.id for v in vs if v.number == 1 and v.status == "approved"), None)
    if version is None:
        approved = [v for v in vs if v.status == "approved"]
        return original, approved[-1].id if approved else None
    chosen = next((v.id for v in vs if v.number == version), None)
    if chosen is None:
        raise InvalidInput(f"{year} has no version {version}", field="version")
    return original, chosen


def _line_dims(fy: FiscalYear, line: Line | None, project: str, funding: str) -> dict[str, str]:
    return {"year": fy.code, "project": project, "funding": funding,
            "category": line.category if line else NONE, "line": str(line.id) if line else NONE}  # fmt: skip


def facts(r: BudgetReader, config: BudgetConfig, *, currency: str | None = None,
          year: str | None = None, version: int | None = None) -> list[Fact]:  # fmt: skip
    """Every figure of the ledger as one converted piece (see the module's method)."""
    cur = check_currency(currency or config.currency)
    rate = _Rates(r, config, cur)
    years = [r.year(year)] if year else r.years()
    out: list[Fact] = []
    for fy in years:
        lines = {ln.id: ln for ln in r.lines(year=fy.code)}
        original, revised = _version_ids(r, fy.code, version if year else None)
        a_orig = r.amounts(original) if original else {}
        a_rev = r.amounts(revised) if revised else {}
        for ln in lines.values():
            f = rate(ln.currency, fy)
            ap, rv = split4(f.apply(a_orig.get(ln.id, 0))), split4(f.apply(a_rev.get(ln.id, 0)))
            for q in range(4):
                dims = {**_line_dims(fy, ln, ln.project, ln.funding), "quarter": f"Q{q + 1}"}
                out.append(Fact(dims, {"approved": ap[q], "revised": rv[q], "available": rv[q]}))
        for tx in r.transactions(year=fy.code):
            if tx.status == "rejected":
                continue
            tx_line = lines.get(tx.line_id) if tx.line_id is not None else None
            value = rate(tx.line_currency, fy).apply(tx.amount_line_minor)
            dims = {**_line_dims(fy, tx_line, tx.project, tx.funding), "quarter": f"Q{fy.quarter(tx.value_date)}"}
            out.append(Fact(dims, _tx_values(tx, value)))
    return out


def _tx_values(tx: Transaction, value: int) -> dict[str, int]:
    if tx.kind == "commitment":
        key = "committed" if tx.status == "approved" else "pending"
        return {key: value, "available": -value}
    if tx.kind in ("disbursement", "expenditure"):
        return {"spent": value, "available": 0 if tx.commitment_id is not None else -value}
    return {"received" if tx.kind == "incoming_funds" else "pledged": value}


def group(all_facts: list[Fact], group_by: list[str], currency: str) -> Report:
    for g in group_by:
        if g not in DIMENSIONS:
            raise InvalidInput(f"group_by must be among {', '.join(DIMENSIONS)}, got {g!r}", field="group_by")
    sums: dict[tuple[str, ...], dict[str, int]] = {}
    for f in all_facts:
        key = tuple(f.dims[g] for g in group_by)
        acc = sums.setdefault(key, dict.fromkeys(MEASURES, 0))
        for m, v in f.values.items():
            acc[m] += v
    rows = []
    total = dict.fromkeys(MEASURES, 0)
    for key in sorted(sums):
        acc = sums[key]
        rows.append({**dict(zip(group_by, key, strict=True)),
                     **{m: from_minor(acc[m], currency) for m in MEASURES}})  # fmt: skip
        for m in MEASURES:
            total[m] += acc[m]
    return Report(currency, list(group_by), rows, {m: from_minor(total[m], currency) for m in MEASURES})


def report(r: BudgetReader, config: BudgetConfig, group_by: list[str], *, currency: str | None = None,
           year: str | None = None, version: int | None = None) -> Report:  # fmt: skip
    """The report grouped by ``group_by`` (e.g. ``["category"]``, ``["year", "quarter"]``);
    ``version`` (with ``year``) shows that version's figures as *revised*."""
    if version is not None and year is None:
        raise InvalidInput("a version belongs to a fiscal year: give the year too", field="version")
    cur = check_currency(currency or config.currency)
    out = group(facts(r, config, currency=cur, year=year, version=version), group_by, cur)
    out.version = version
    return out


# -------------------------------------------------------------------- forecast
def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def forecast(r: BudgetReader, config: BudgetConfig, year: str, as_of: dt.date, *,
             currency: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Burn rate and year-end forecast per project, as of a day.

    ``spent`` is what was spent up to ``as_of``; ``open_commitments`` what approved
    commitments dated up to then still hold (their amount less what was spent against them,
    never below zero), plus commitments pending approval; the *run rate* is what was spent
    without a commitment in the last 90 days, per day, and it is projected over the days left
    in the year. ``forecast = spent + open_commitments + run rate × days left``;
    ``variance = revised − forecast`` (negative: the year is heading over budget). The burn
    rate is everything spent in the last 90 days, per month (÷ 3).
    """
    cur = check_currency(currency or config.currency)
    rate = _Rates(r, config, cur)
    fy = r.year(year)
    if not fy.start <= as_of <= fy.end:
        raise InvalidInput(f"as_of {as_of} is outside {year} ({fy.start}..{fy.end})", field="as_of")
    lines = {ln.id: ln for ln in r.lines(year=year)}
    _, revised_id = _version_ids(r, year, None)
    rev = r.amounts(revised_id) if revised_id else {}
    days_left = (fy.end - as_of).days
    window = as_of - dt.timedelta(days=RUN_RATE_DAYS)
    per: dict[str, dict[str, int]] = {}
    txs = [t for t in r.transactions(year=year) if t.status != "rejected" and t.value_date <= as_of]
    conv = {t.id: rate(t.line_currency, fy).apply(t.amount_line_minor) for t in txs}
    for ln in lines.values():
        acc = per.setdefault(ln.project, dict.fromkeys(("revised", "spent", "open", "recent", "recent_direct"), 0))
        acc["revised"] += rate(ln.currency, fy).apply(rev.get(ln.id, 0))
    spent_on: dict[int, int] = {}
    for t in txs:
        if t.kind in ("disbursement", "expenditure") and t.commitment_id is not None:
            spent_on[t.commitment_id] = spent_on.get(t.commitment_id, 0) + conv[t.id]
    for t in txs:
        if t.kind not in ("commitment", "disbursement", "expenditure"):
            continue
        acc = per.setdefault(t.project, dict.fromkeys(("revised", "spent", "open", "recent", "recent_direct"), 0))
        if t.kind == "commitment":
            acc["open"] += max(0, conv[t.id] - spent_on.get(t.id, 0)) if t.status == "approved" else conv[t.id]
            continue
        acc["spent"] += conv[t.id]
        if t.value_date > window:
            acc["recent"] += conv[t.id]
            if t.commitment_id is None:
                acc["recent_direct"] += conv[t.id]
    rows = []
    keys = ("revised", "spent", "open_commitments", "run_rate_per_day", "projected", "forecast",
            "variance", "burn_rate_per_month")  # fmt: skip
    total = dict.fromkeys(keys, 0)
    for project in sorted(per):
        a = per[project]
        projected = _round(Decimal(a["recent_direct"]) * days_left / RUN_RATE_DAYS)
        fc = a["spent"] + a["open"] + projected
        row = {"revised": a["revised"], "spent": a["spent"], "open_commitments": a["open"],
               "run_rate_per_day": _round(Decimal(a["recent_direct"]) / RUN_RATE_DAYS),
               "projected": projected, "forecast": fc, "variance": a["revised"] - fc,
               "burn_rate_per_month": _round(Decimal(a["recent"]) / 3)}  # fmt: skip
        for k in keys:
            total[k] += row[k]
        rows.append({"project": project, **{k: str(from_minor(v, cur)) for k, v in row.items()}})
    return {"year": year, "as_of": as_of.isoformat(), "currency": cur, "days_left": days_left,
            "run_rate_days": RUN_RATE_DAYS, "rows": rows,
            "total": {k: str(from_minor(v, cur)) for k, v in total.items()}}  # fmt: skip


# ------------------------------------------------------------------- satellites
def satellite_cost(r: BudgetReader, config: BudgetConfig, norad_id: int, *,
                   currency: str | None = None) -> dict[str, Any]:  # fmt: skip
    """What a satellite has cost so far against its budget: the lines linked to it (directly
    or through their project) with their figures, and transactions linked to it on other lines."""
    cur = check_currency(currency or config.currency)
    if not 0 <= int(norad_id) <= 999_999_999:
        raise InvalidInput(f"not a NORAD catalogue number: {norad_id}", field="norad_id")
    ref = str(int(norad_id))
    projects = {lk.owner_id for lk in r.links(owner="project", kind="satellite", ref=ref)}
    line_ids = {int(lk.owner_id) for lk in r.links(owner="line", kind="satellite", ref=ref)}
    line_ids |= {ln.id for p in projects for ln in r.lines(project=p)}
    tx_ids = {int(lk.owner_id) for lk in r.links(owner="transaction", kind="satellite", ref=ref)}
    pieces = [f for f in facts(r, config, currency=cur) if f.dims["line"] != NONE and int(f.dims["line"]) in line_ids]
    by_line = group(pieces, ["year", "line", "project", "category"], cur)
    extra_txs = [t for t in (r.transaction(i) for i in sorted(tx_ids))
                 if t.line_id not in line_ids and t.status != "rejected"]  # fmt: skip
    extra = dict.fromkeys(("committed", "spent"), 0)
    for t in extra_txs:
        fy = r.year(t.year)
        value = _Rates(r, config, cur)(t.line_currency, fy).apply(t.amount_line_minor)
        if t.kind == "commitment" and t.status == "approved":
            extra["committed"] += value
        elif t.kind in ("disbursement", "expenditure"):
            extra["spent"] += value
    return {"norad_id": int(norad_id), "currency": cur, "projects": sorted(projects),
            "lines": by_line.as_dict()["rows"], "budget": by_line.as_dict()["total"],
            "other_transactions": [t.id for t in extra_txs],
            "other": {k: str(from_minor(v, cur)) for k, v in extra.items()},
            "spent_so_far": str(from_minor(to_minor(by_line.total["spent"], cur) + extra["spent"], cur))}  # fmt: skip
