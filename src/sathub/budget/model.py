"""The budget's data model: plain frozen dataclasses, no I/O.

- A **fiscal year** (``FY2025``) has a start and an end date; it is open until closed.
- A **project** (a satellite, a ground station, the data centre, training…) belongs to a
  programme. A **budget line** is project × category × fiscal year × funding source, in one
  currency, with a Stop/Warn/Ignore control for each stage (commitment, expenditure).
- A year's figures live in **versions**: version 1 is the original (draft until approved);
  each revision is a new version (its reason, who drafted and who approved it) holding every
  line's figure, so earlier figures are never overwritten.
- **Transactions** follow IATI's types: incoming commitments and funds (appropriations, donor
  tranches, revenue), outgoing commitments (contracts and purchase orders) and the
  disbursements and expenditures against them. Amounts are integer minor units of their own
  currency, with the line-currency equivalent at the value date's rate fixed when written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Control = Literal["stop", "warn", "ignore"]
CONTROLS: tuple[str, ...] = ("stop", "warn", "ignore")
FundingKind = Literal["government", "donor", "loan", "own_revenue"]
FUNDING_KINDS: tuple[str, ...] = ("government", "donor", "loan", "own_revenue")
ProjectKind = Literal["satellite", "launch", "ground_station", "data_centre", "training",
                      "administration", "other"]  # fmt: skip
PROJECT_KINDS: tuple[str, ...] = ("satellite", "launch", "ground_station", "data_centre",
                                  "training", "administration", "other")  # fmt: skip
TxKind = Literal["incoming_commitment", "incoming_funds", "commitment", "disbursement", "expenditure"]
TX_KINDS: tuple[str, ...] = ("incoming_commitment", "incoming_funds", "commitment", "disbursement",
                             "expenditure")  # fmt: skip
INCOMING = frozenset({"incoming_commitment", "incoming_funds"})
SPENDING = frozenset({"disbursement", "expenditure"})
IATI_TX_CODE = {"incoming_funds": "1", "commitment": "2", "disbursement": "3", "expenditure": "4",
                "incoming_commitment": "11"}  # fmt: skip
TxStatus = Literal["approved", "pending", "rejected"]
LinkKind = Literal["satellite", "station", "agreement", "order"]
LINK_KINDS: tuple[str, ...] = ("satellite", "station", "agreement", "order")
OwnerKind = Literal["project", "line", "transaction"]
OWNER_KINDS: tuple[str, ...] = ("project", "line", "transaction")
PriceUnit = Literal["per_gb", "per_km2"]
PRICE_UNITS: tuple[str, ...] = ("per_gb", "per_km2")

DEFAULT_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("technology", "Technology (software, licences, cloud, IT)"),
    ("equipment", "Equipment procurement"),
    ("infrastructure", "Infrastructure development"),
    ("administration", "Administration"),
    ("personnel_training", "Personnel and training"),
    ("launch_services", "Launch services"),
    ("data_purchase", "Data purchase"),
)


@dataclass(frozen=True)
class FiscalYear:
    code: str
    start: dt.date
    end: dt.date  # inclusive
    closed_at: float | None = None
    closed_by: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def quarter(self, day: dt.date) -> int:
        """1..4: the fiscal quarter of a day inside the year."""
        months = (day.year - self.start.year) * 12 + day.month - self.start.month
        return min(4, months // 3 + 1)


@dataclass(frozen=True)
class Project:
    code: str
    name: str
    kind: str
    programme: str
    description: str = ""


@dataclass(frozen=True)
class Category:
    code: str
    name: str


@dataclass(frozen=True)
class FundingSource:
    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class Line:
    id: int
    year: str
    project: str
    category: str
    funding: str
    currency: str
    control_commitment: str = "stop"
    control_expenditure: str = "stop"
    description: str = ""
    created_by: str = ""


@dataclass(frozen=True)
class Version:
    id: int
    year: str
    number: int  # 1: the original
    status: str  # draft | approved
    reason: str
    created_by: str
    created_at: float
    approved_by: str | None = None
    approved_at: float | None = None

    @property
    def kind(self) -> str:
        return "original" if self.number == 1 else "revision"


@dataclass(frozen=True)
class Transaction:
    id: int
    kind: str
    year: str
    project: str
    funding: str
    line_id: int | None
    currency: str
    amount_minor: int
    value_date: dt.date
    line_currency: str
    rate: str  # the factor applied: "1", "2100" or "1/2100" (inverse of a quoted pair)
    rate_date: dt.date | None
    amount_line_minor: int
    commitment_id: int | None = None
    counterparty: str = ""
    reference: str = ""
    description: str = ""
    status: str = "approved"
    created_by: str = ""
    created_at: float = 0.0
    overrun_minor: int = 0  # warn mode: how far past the available balance it went


@dataclass(frozen=True)
class Approval:
    transaction_id: int
    approver: str
    decision: str  # approved | rejected
    at: float
    note: str = ""


@dataclass(frozen=True)
class Link:
    owner: str
    owner_id: str
    kind: str
    ref: str
    note: str = ""


@dataclass(frozen=True)
class Station:
    code: str
    name: str
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class Price:
    agreement_id: int
    unit: str
    price: str  # decimal text per unit
    currency: str
    project: str
    funding: str


@dataclass(frozen=True)
class Rate:
    day: dt.date
    base: str
    quote: str
    rate: str  # decimal text: 1 base = rate quote


@dataclass(frozen=True)
class Position:
    """A line's balance in its own currency (minor units) under its current approved version."""

    line_id: int
    revised: int
    committed: int  # approved commitments
    pending: int  # commitments awaiting a second approval (reserved)
    spent: int  # disbursements and expenditures, with or without a commitment
    direct_spent: int  # spent without a commitment

    @property
    def available(self) -> int:
        return self.revised - self.committed - self.pending - self.direct_spent


@dataclass
class Outcome:
    """What a write did: the object's id, and any warning (warn-mode overrun)."""

    id: int | str
    warnings: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
