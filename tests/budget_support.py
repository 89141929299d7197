"""Fixtures of the budget tests, built in code: a data directory with an access store (for the
audit chain), a budget service, rates and a small approved year."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sathub.access.service import AccessService
from sathub.budget.config import BudgetConfig
from sathub.budget.service import BudgetService
from sathub.budget.sqlite import SQLiteBudgetStore
from sathub.budget.store import BudgetStore
from sathub.config import Settings

MAKER = "finance:thida"
CHECKER = "approver:aung"
RATES = """date,base,quote,rate
2025-01-01,USD,MMK,2100
2025-01-01,EUR,USD,1.08
2025-01-01,USD,JPY,150
2025-01-01,KWD,USD,3.25
2025-07-01,USD,MMK,2100.50
2025-07-01,EUR,USD,1.10
2025-07-01,USD,JPY,148
2025-07-01,KWD,USD,3.26
"""


class Resolver:
    """Satellites 1..99999 exist; agreement 7; order 'ord1'."""

    def resolve(self, kind: str, ref: str) -> str:
        from sathub.errors import NotFound

        if kind == "satellite" and ref.isdigit():
            return str(int(ref))
        if (kind, ref) in (("agreement", "7"), ("order", "ord1")):
            return ref
        raise NotFound(f"{kind} {ref} not found", field="ref")


@dataclass
class Env:
    root: Path
    service: BudgetService
    access: AccessService

    def reopen(self) -> BudgetService:
        return make_service(self.root, self.access, self.service.config)


def make_service(root: Path, access: AccessService, config: BudgetConfig | None = None,
                 pg_dsn: str | None = None) -> BudgetService:  # fmt: skip
    """A service on ``DATA/budget.db``, or (``pg_dsn``) on that PostgreSQL database."""
    store: BudgetStore = SQLiteBudgetStore(root / "budget.db")
    if pg_dsn is not None:
        from psycopg_pool import ConnectionPool

        from sathub.budget.pg import PgBudgetStore

        store = PgBudgetStore(ConnectionPool(pg_dsn, min_size=1, max_size=4, open=True))
    return BudgetService(store, access.audit,
                         config or BudgetConfig(currency="USD", rate_max_age_days=200), Resolver())  # fmt: skip


def make_env(root: Path, config: BudgetConfig | None = None, pg_dsn: str | None = None) -> Env:
    settings = Settings(data=root)
    settings.layout.create()
    access = AccessService.for_layout(settings.layout)
    svc = make_service(root, access, config, pg_dsn)
    return Env(root, svc, access)


def small_year(svc: BudgetService, *, amount: str = "1000.00", control: str = "stop",
               currency: str = "USD") -> int:  # fmt: skip
    """FY2025 (calendar), one project, one line of ``amount``, approved; returns the line id."""
    svc.load_rates(MAKER, RATES)
    svc.add_year(MAKER, "FY2025", "2025-01-01")
    svc.add_project(MAKER, "SAT1", "EO satellite 1", "satellite", "National EO programme")
    svc.add_funding(MAKER, "GOV", "Union budget", "government")
    line = svc.add_line(MAKER, "FY2025", "SAT1", "equipment", "GOV", currency, amount,
                        control_commitment=control, control_expenditure=control)  # fmt: skip
    svc.approve_version(CHECKER, "FY2025")
    return line.id
