"""Reports on random ledgers: every total equals the sum of its parts to the minor unit, in
every grouping and reporting currency, and equals an independent recomputation from the raw
inputs (each amount converted on its own, rounded half up, then summed)."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

from budget_support import CHECKER, MAKER, make_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sathub.budget import reports
from sathub.budget.config import BudgetConfig

CURRENCIES = ["USD", "MMK", "EUR", "JPY", "KWD"]
DIGITS = {"USD": 2, "MMK": 2, "EUR": 2, "JPY": 0, "KWD": 3}
# 1 unit of the currency in USD, on 1 January and on 1 July (quoted as the file gives them)
JAN = {"USD": Decimal(1), "MMK": 1 / Decimal(2100), "EUR": Decimal("1.08"), "JPY": 1 / Decimal(150),
       "KWD": Decimal("3.25")}  # fmt: skip
JUL = {"USD": Decimal(1), "MMK": 1 / Decimal("2100.5"), "EUR": Decimal("1.10"), "JPY": 1 / Decimal(148),
       "KWD": Decimal("3.26")}  # fmt: skip
RATES = """date,base,quote,rate
2025-01-01,USD,MMK,2100
2025-01-01,EUR,USD,1.08
2025-01-01,USD,JPY,150
2025-01-01,KWD,USD,3.25
2025-07-01,USD,MMK,2100.5
2025-07-01,EUR,USD,1.10
2025-07-01,USD,JPY,148
2025-07-01,KWD,USD,3.26
"""
PAIRS = [("c1", "GOV"), ("c2", "GOV"), ("c1", "DONOR"), ("c3", "DONOR")]


def _exact(c: str) -> tuple[Decimal, Decimal]:
    """(numerator, denominator) of 1 ``c`` in USD as the file quotes it."""
    return {"USD": (Decimal(1), Decimal(1)), "MMK": (Decimal(1), Decimal(2100)),
            "EUR": (Decimal("1.08"), Decimal(1)), "JPY": (Decimal(1), Decimal(150)),
            "KWD": (Decimal("3.25"), Decimal(1))}[c]  # fmt: skip


def _exact_jul(c: str) -> tuple[Decimal, Decimal]:
    return {"USD": (Decimal(1), Decimal(1)), "MMK": (Decimal(1), Decimal("2100.5")),
            "EUR": (Decimal("1.10"), Decimal(1)), "JPY": (Decimal(1), Decimal(148)),
            "KWD": (Decimal("3.26"), Decimal(1))}[c]  # fmt: skip


def conv(minor: int, src: str, dst: str, july: bool = False) -> int:
    """Reference conversion: via USD as two exact fractions, rounded half up once."""
    if src == dst:
        return minor
    table = _exact_jul if july else _exact
    (n1, d1), (n2, d2) = table(src), table(dst)
    with localcontext() as ctx:
        ctx.prec = 80
        value = Decimal(minor).scaleb(-DIGITS[src]) * n1 * d2 / (d1 * n2)
        return int(value.quantize(Decimal(1).scaleb(-DIGITS[dst]), rounding=ROUND_HALF_UP).scaleb(DIGITS[dst]))


line_st = st.tuples(st.sampled_from(["P1", "P2"]), st.sampled_from(range(len(PAIRS))),
                    st.sampled_from(CURRENCIES), st.integers(0, 10**9))  # fmt: skip
tx_st = st.tuples(st.sampled_from(["commitment", "expenditure", "disbursement", "spend_on",
                                   "incoming_funds", "incoming_commitment"]),
                  st.integers(0, 7), st.sampled_from(CURRENCIES), st.integers(1, 10**7),
                  st.dates(dt.date(2025, 1, 1), dt.date(2025, 12, 31)))  # fmt: skip


def build(root: Path, line_specs: list[Any], tx_specs: list[Any]) -> tuple[Any, list[dict[str, Any]]]:
    env = make_env(root, BudgetConfig(currency="USD", approval_threshold=Decimal("20000"),
                                      rate_max_age_days=200))  # fmt: skip
    s = env.service
    s.load_rates(MAKER, RATES)
    s.add_year(MAKER, "FY2025", "2025-01-01")
    for p in ("P1", "P2"):
        s.add_project(MAKER, p, p, "other", "prog")
    for c in ("c1", "c2", "c3"):
        s.add_category(MAKER, c, c)
    s.add_funding(MAKER, "GOV", "gov", "government")
    s.add_funding(MAKER, "DONOR", "donor", "donor")
    lines: list[dict[str, Any]] = []
    for project, pair, cur, minor in line_specs:
        cat, fund = PAIRS[pair]
        if any((ln["project"], ln["category"], ln["funding"]) == (project, cat, fund) for ln in lines):
            continue
        amount = Decimal(minor).scaleb(-DIGITS[cur])
        ln = s.add_line(MAKER, "FY2025", project, cat, fund, cur, str(amount),
                        control_commitment="ignore", control_expenditure="ignore")  # fmt: skip
        lines.append({"id": ln.id, "project": project, "category": cat, "funding": fund, "currency": cur,
                      "minor": minor})  # fmt: skip
    s.approve_version(CHECKER, "FY2025")
    ledger: list[dict[str, Any]] = []
    for kind, li, cur, minor, day in tx_specs:
        if not lines:
            break
        ln = lines[li % len(lines)]
        amount = str(Decimal(minor).scaleb(-DIGITS[cur]))
        rate_line = conv(minor, cur, ln["currency"], day >= dt.date(2025, 7, 1))
        row = {"kind": kind, "line": ln, "currency": cur, "minor": minor, "line_minor": rate_line,
               "day": day, "status": "approved", "commitment": None}  # fmt: skip
        if kind == "commitment":
            out = s.commit(MAKER, ln["id"], amount, cur, day, counterparty="x")
            row["status"] = out.detail["status"]
            row["id"] = out.id
        elif kind in ("expenditure", "disbursement"):
            s.spend(MAKER, kind, amount, cur, day, line_id=ln["id"], counterparty="x")
        elif kind == "spend_on":
            open_c = [r for r in ledger if r["kind"] == "commitment" and r["status"] == "approved"
                      and r["line"] is ln and r["left"] > 0]  # fmt: skip
            if not open_c:
                continue
            c = open_c[-1]
            part = max(1, min(c["left"], minor))
            amount = str(Decimal(part).scaleb(-DIGITS[c["currency"]]))
            s.spend(MAKER, "expenditure", amount, c["currency"], day, commitment_id=c["id"])
            c["left"] -= part
            row.update(kind="expenditure", currency=c["currency"], minor=part, commitment=c["id"],
                       line_minor=conv(part, c["currency"], ln["currency"], day >= dt.date(2025, 7, 1)))  # fmt: skip
        else:
            s.receive(MAKER, kind, "FY2025", ln["project"], ln["funding"], amount, cur, day, counterparty="x",
                      line_id=ln["id"])  # fmt: skip
        row["left"] = minor if kind == "commitment" else 0
        ledger.append(row)
    return env, lines, ledger  # type: ignore[return-value]


def expected(lines: list[dict[str, Any]], ledger: list[dict[str, Any]], cur: str) -> dict[tuple[str, ...], dict[str, int]]:
    """Reference totals per line id (and per quarter for transactions), from the raw inputs."""
    out: dict[tuple[str, ...], dict[str, int]] = {}

    def add(key: tuple[str, ...], measure: str, value: int) -> None:
        acc = out.setdefault(key, dict.fromkeys(reports.MEASURES, 0))
        acc[measure] += value

    for ln in lines:
        v = conv(ln["minor"], ln["currency"], cur)
        for m in ("approved", "revised", "available"):
            add((str(ln["id"]),), m, v)
    for r in ledger:
        v = conv(r["line_minor"], r["line"]["currency"], cur)
        key = (str(r["line"]["id"]),)
        if r["kind"] == "commitment":
            add(key, "committed" if r["status"] == "approved" else "pending", v)
            add(key, "available", -v)
        elif r["kind"] in ("expenditure", "disbursement"):
            add(key, "spent", v)
            if r["commitment"] is None:
                add(key, "available", -v)
        else:
            add(key, "received" if r["kind"] == "incoming_funds" else "pledged", v)
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line_st, min_size=1, max_size=6), st.lists(tx_st, max_size=25),
       st.sampled_from(["USD", "MMK", "JPY", "KWD"]))  # fmt: skip
def test_totals_equal_the_sum_of_their_parts(line_specs: Any, tx_specs: Any, cur: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        env, lines, ledger = build(Path(d) / "data", line_specs, tx_specs)
        ref = expected(lines, ledger, cur)
        ref_total = {m: sum(v[m] for v in ref.values()) for m in reports.MEASURES}
        by_line = reports.report(env.service.store, env.service.config, ["line"], currency=cur)
        got = {(r["line"],): {m: int(r[m].scaleb(DIGITS[cur])) for m in reports.MEASURES} for r in by_line.rows}
        assert got == ref
        dims = list(reports.DIMENSIONS)
        for k in (1, 2):
            for group_by in itertools.combinations(dims, k):
                rep = reports.report(env.service.store, env.service.config, list(group_by), currency=cur)
                for m in reports.MEASURES:
                    parts = sum(int(r[m].scaleb(DIGITS[cur])) for r in rep.rows)
                    assert parts == int(rep.total[m].scaleb(DIGITS[cur])) == ref_total[m], (group_by, m)
        # quarters of a line add up to the line
        q = reports.report(env.service.store, env.service.config, ["line", "quarter"], currency=cur)
        for ln in lines:
            rows = [r for r in q.rows if r["line"] == str(ln["id"])]
            assert sum(r["revised"] for r in rows) == by_line.rows[[r["line"] for r in by_line.rows].index(str(ln["id"]))]["revised"]
        env.access.close()


def test_quarter_split_is_exact() -> None:
    for total in (0, 1, 2, 3, 4, 5, 7, 10**12 + 3):
        parts = reports.split4(total)
        assert sum(parts) == total and max(parts) - min(parts) <= 1


def test_forecast_method(tmp_path: Path) -> None:
    """spent + open commitments + 90-day direct run rate × days left, by hand."""
    env = make_env(tmp_path / "data")
    s = env.service
    s.load_rates(MAKER, RATES)
    s.add_year(MAKER, "FY2025", "2025-01-01")
    s.add_project(MAKER, "P1", "P1", "other", "prog")
    s.add_funding(MAKER, "GOV", "gov", "government")
    line = s.add_line(MAKER, "FY2025", "P1", "equipment", "GOV", "USD", "100000").id
    s.approve_version(CHECKER, "FY2025")
    c = int(s.commit(MAKER, line, "10000", "USD", "2025-02-01", counterparty="x").id)
    s.spend(MAKER, "expenditure", "4000", "USD", "2025-03-01", commitment_id=c)
    s.spend(MAKER, "expenditure", "900", "USD", "2025-05-15", line_id=line, counterparty="salaries")
    s.spend(MAKER, "expenditure", "900", "USD", "2025-06-15", line_id=line, counterparty="salaries")
    s.spend(MAKER, "expenditure", "500", "USD", "2025-01-10", line_id=line, counterparty="old")
    as_of = dt.date(2025, 6, 30)
    f = reports.forecast(s.store, s.config, "FY2025", as_of)
    days_left = (dt.date(2025, 12, 31) - as_of).days
    projected = (Decimal(1800) * days_left / 90).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    row = f["total"]
    assert Decimal(row["spent"]) == 4000 + 900 + 900 + 500
    assert Decimal(row["open_commitments"]) == 6000
    assert Decimal(row["projected"]) == projected
    assert Decimal(row["forecast"]) == 6300 + 6000 + projected
    assert Decimal(row["variance"]) == 100000 - Decimal(row["forecast"])
    # burn rate: everything spent in the 90 days up to as_of (the March payment is older), ÷ 3
    assert Decimal(row["burn_rate_per_month"]) == Decimal(1800) / 3
