"""What every budget service method shares: input checks, the audit append, year states."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol

from sathub.budget.config import BudgetConfig
from sathub.budget.model import LINK_KINDS, FiscalYear, Version
from sathub.budget.store import BudgetReader, BudgetStore
from sathub.errors import Conflict, InvalidInput

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class Audit(Protocol):
    """The hash-chained audit log (:class:`sathub.access.audit.AuditLog`)."""

    def append(self, actor: str, action: str, resource: str, *, detail: dict[str, Any] | None = None
               ) -> int: ...  # fmt: skip

    def records(self, *, agreement_id: int | None = None, since: float | None = None,
                until: float | None = None) -> list[dict[str, Any]]: ...  # fmt: skip


class LinkResolver(Protocol):
    """Checks that a link target exists outside the budget (satellite, agreement, order);
    returns its canonical reference or raises NotFound."""

    def resolve(self, kind: str, ref: str) -> str: ...


def code(value: object, field: str) -> str:
    if not isinstance(value, str) or not CODE_RE.match(value):
        raise InvalidInput(f"{field} must be 1-40 letters, digits, '.', '_' or '-' (starting with a "
                           f"letter or digit), got {value!r}", field=field)  # fmt: skip
    return value


def text(value: object, field: str, *, max_len: int = 500, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidInput(f"{field} must be text of at most {max_len} characters", field=field)
    if required and not value.strip():
        raise InvalidInput(f"{field} is required", field=field)
    return value.strip()


def choice(value: object, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}, got {value!r}", field=field)
    return str(value)


def add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + y, m + 1, 1) if day.day == 1 else dt.date(day.year + y, m + 1, day.day)



class ServiceBase:
    """The store, the audit log, the settings and the link resolver of a budget service."""

    def __init__(self, store: BudgetStore, audit: Audit, config: BudgetConfig | None = None,
                 resolver: LinkResolver | None = None) -> None:  # fmt: skip
        self.store = store
        self.audit = audit
        self.config = config or BudgetConfig()
        self.resolver = resolver

    @staticmethod
    def _actor(actor: object) -> str:
        return text(actor, "actor", max_len=200, required=True)

    def _audit(self, actor: str, action: str, resource: str, **detail: Any) -> None:
        self.audit.append(actor, f"budget.{action}", f"budget:{resource}", detail=detail)

    @staticmethod
    def draft(r: BudgetReader, year: str) -> Version | None:
        vs = r.versions(year)
        return vs[-1] if vs and vs[-1].status == "draft" else None

    @staticmethod
    def current(r: BudgetReader, year: str) -> Version | None:
        approved = [v for v in r.versions(year) if v.status == "approved"]
        return approved[-1] if approved else None

    def _open_year(self, r: BudgetReader, year: str) -> FiscalYear:
        fy = r.year(year)
        if fy.closed:
            raise Conflict(f"fiscal year {year} is closed", field="fiscal_year")
        return fy

    def _check_target(self, r: BudgetReader, kind: str, ref: object) -> str:
        kind = choice(kind, LINK_KINDS, "kind")
        ref = text(str(ref) if isinstance(ref, int) else ref, "ref", max_len=100, required=True)
        if kind == "station":
            return r.station(ref).code
        if self.resolver is None:
            raise InvalidInput(f"links to a {kind} cannot be checked here", field="kind")
        return self.resolver.resolve(kind, ref)

