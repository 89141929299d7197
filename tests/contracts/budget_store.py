"""The BudgetStore contract suite (:mod:`sathub.budget.store`): a write is all or nothing and a
refused row leaves it usable; unknown rows are NotFound naming the field; a line's position
equals the sums of its ledger rows (brute force, hypothesis); and the demo programme budget
(every kind of write the service makes) reads back identically from PostgreSQL and from the
embedded SQLite store (the reference implementation). The race of concurrent commitments for
one line's last balance is tests/test_budget_race.py, on both backends.

Every parametrised test runs on each backend of :data:`state_support.BACKENDS`, built by the
Installation (embedded: ``DATA/budget.db``; PostgreSQL: ``sathub.budget_*``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from budget_support import Resolver, small_year
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_support import BACKENDS, installation

from sathub.app import Installation
from sathub.budget import demo
from sathub.budget.config import BudgetConfig
from sathub.budget.model import FiscalYear, Project, Transaction
from sathub.budget.service import BudgetService
from sathub.errors import Conflict, InvalidInput, NotFound

CONFIG = BudgetConfig(currency="USD", rate_max_age_days=200)


def service(inst: Installation) -> BudgetService:
    """The installation's budget store behind a service with fixed settings and links."""
    return BudgetService(inst.budget.store, inst.access.audit, CONFIG, Resolver())


@pytest.fixture(scope="module", params=BACKENDS)
def inst(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(request.param, tmp_path_factory.mktemp(f"budget-{request.param}")) as inst:
        yield inst


@pytest.fixture(scope="module")
def line(inst: Installation) -> int:
    return small_year(service(inst), amount="1000000.00")


_codes = itertools.count()


def test_a_write_is_all_or_nothing(inst: Installation) -> None:
    store = inst.budget.store
    code = f"AON{next(_codes)}"
    with pytest.raises(RuntimeError), store.write() as w:
        w.insert_year(FiscalYear(code, dt.date(2030, 1, 1), dt.date(2030, 12, 31)))
        w.insert_project(Project(code, "n", "satellite", "p"))
        assert w.year(code).code == code  # the write sees its own rows
        raise RuntimeError("stop")
    with pytest.raises(NotFound):
        store.year(code)
    with pytest.raises(NotFound):
        store.project(code)


def test_a_refused_row_leaves_the_write_usable(inst: Installation) -> None:
    store = inst.budget.store
    code = f"REF{next(_codes)}"
    with store.write() as w:
        w.insert_year(FiscalYear(code, dt.date(2031, 1, 1), dt.date(2031, 12, 31)))
    with store.write() as w:
        with pytest.raises(Conflict) as e:
            w.insert_year(FiscalYear(code, dt.date(2031, 1, 1), dt.date(2031, 12, 31)))
        assert e.value.field == "fiscal_year"
        w.insert_project(Project(code, "after the refusal", "satellite", "p"))
    assert store.project(code).name == "after the refusal"


def test_unknown_rows_are_not_found_naming_the_field(inst: Installation) -> None:
    store = inst.budget.store
    for call, field in ((lambda: store.year("nope"), "fiscal_year"), (lambda: store.line(2**70), "line"),
                        (lambda: store.transaction(-1), "transaction"), (lambda: store.price(2**63), "agreement"),
                        (lambda: store.position(10**30), "line")):  # fmt: skip
        with pytest.raises(NotFound) as e:
            call()
        assert e.value.field == field
    assert store.transactions(line_id=2**70) == [] and store.links(ref="nope") == []


def test_text_the_database_cannot_hold_is_refused_or_absent(inst: Installation) -> None:
    store = inst.budget.store
    try:
        store.year("a\x00b")
    except (NotFound, InvalidInput):
        pass
    else:
        raise AssertionError("a year with a NUL in its code exists")


AMOUNTS = st.lists(st.tuples(st.sampled_from(["commitment", "expenditure", "disbursement"]),
                             st.sampled_from(["approved", "pending", "rejected"]),
                             st.integers(1, 10**9), st.booleans()), min_size=1, max_size=8)  # fmt: skip


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])  # fmt: skip
@given(rows=AMOUNTS)
def test_a_position_is_the_sum_of_its_rows(inst: Installation, line: int, rows: list[Any]) -> None:
    store = inst.budget.store
    with store.write() as w:
        w.lock_line(line)
        last_commitment = None
        for kind, status, amount, against in rows:
            tx = Transaction(0, kind, "FY2025", "SAT1", "GOV", line, "USD", amount, dt.date(2025, 3, 1),
                             "USD", "1", None, amount, last_commitment if against and kind != "commitment" else None,
                             status=status if kind == "commitment" else "approved")  # fmt: skip
            tx_id = w.insert_transaction(tx)
            assert w.transaction(tx_id) == dataclasses.replace(tx, id=tx_id)
            if kind == "commitment":
                last_commitment = tx_id
    p = store.position(line)
    ledger = store.transactions(line_id=line)  # brute force over the rows, here
    assert p.committed == sum(t.amount_line_minor for t in ledger if t.kind == "commitment" and t.status == "approved")
    assert p.pending == sum(t.amount_line_minor for t in ledger if t.kind == "commitment" and t.status == "pending")
    spent = [t for t in ledger if t.kind in ("disbursement", "expenditure")]
    assert p.spent == sum(t.amount_line_minor for t in spent)
    assert p.direct_spent == sum(t.amount_line_minor for t in spent if t.commitment_id is None)
    assert p.revised == 100_000_000
    for t in ledger:
        if t.kind == "commitment":
            assert store.spent_on(t.id) == sum(s.amount_minor for s in spent if s.commitment_id == t.id)


def _everything(svc: BudgetService) -> dict[str, Any]:
    """Every read of the store, with the wall-clock times (``*_at``) left out."""
    s = svc.store

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {k: plain(v) for k, v in dataclasses.asdict(value).items() if k != "at" and not k.endswith("_at")}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    txs = s.transactions()
    out: dict[str, Any] = {
        "years": s.years(), "projects": s.projects(), "categories": s.categories(),
        "fundings": s.fundings(), "lines": s.lines(), "transactions": txs, "rates": s.rates(),
        "links": s.links(), "stations": s.stations(), "prices": s.prices(),
        "versions": {y.code: s.versions(y.code) for y in s.years()},
        "amounts": {v.id: s.amounts(v.id) for y in s.years() for v in s.versions(y.code)},
        "positions": [s.position(ln.id) for ln in s.lines()],
        "approvals": {t.id: s.approvals(t.id) for t in txs},
        "spent_on": {t.id: s.spent_on(t.id) for t in txs if t.kind == "commitment"},
        "bookings": {p.agreement_id: s.bookings(p.agreement_id) for p in s.prices()},
        "by_line": {ln.id: s.transactions(line_id=ln.id, kind="commitment") for ln in s.lines()},
        "found": [s.find_line(ln.year, ln.project, ln.category, ln.funding) for ln in s.lines()],
        "rates_between": s.rates_between("USD", "MMK", dt.date(2024, 1, 1), dt.date(2025, 12, 31)),
    }
    return plain(out)  # type: ignore[no-any-return]


def test_the_demo_budget_reads_back_identically_from_postgresql(tmp_path: Path) -> None:
    with installation("embedded", tmp_path / "e") as embedded, installation("postgresql", tmp_path / "p") as pg:
        assert type(pg.budget.store).__name__ == "PgBudgetStore"
        reads = []
        for inst in (embedded, pg):
            svc = service(inst)
            demo.build(svc)
            reads.append(_everything(svc))
        assert reads[0]["transactions"] and reads[0]["positions"] and reads[0]["approvals"]
        for key in reads[0]:
            assert reads[1][key] == reads[0][key], key
