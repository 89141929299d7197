"""The access-control data model: plain frozen dataclasses, no I/O.

Times are float seconds since the epoch (UTC) everywhere; ``None`` means open-ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

OrgKind = Literal["government", "international", "university", "company", "individual"]
ORG_KINDS: tuple[str, ...] = ("government", "international", "university", "company", "individual")
Role = Literal["admin", "operator", "analyst", "partner", "finance_officer", "budget_approver",
               "budget_viewer", "anonymous"]  # fmt: skip
ROLES: tuple[str, ...] = ("admin", "operator", "analyst", "partner", "finance_officer", "budget_approver",
                          "budget_viewer", "anonymous")  # budget roles: docs/budget.md  # fmt: skip
UNRESTRICTED_ROLES = frozenset({"admin", "operator", "analyst"})  # see every item
WRITE_ROLES = frozenset({"admin", "operator"})
AgreementStatus = Literal["draft", "active", "suspended", "expired", "terminated"]
AGREEMENT_STATUSES: tuple[str, ...] = ("draft", "active", "suspended", "expired", "terminated")
DAY_S = 86_400.0


@dataclass(frozen=True)
class Organisation:
    id: int
    name: str
    kind: str
    created: float


@dataclass(frozen=True)
class ApiKey:
    id: int
    prefix: str  # the first characters of the token, to recognise it in listings
    role: str
    org_id: int | None
    label: str
    created: float
    expires: float | None
    revoked: float | None
    last_used: float | None


@dataclass(frozen=True)
class Agreement:
    """A data-sharing agreement with one organisation, and the scope it grants."""

    id: int
    org_id: int
    title: str
    status: str = "active"
    reference: str = ""
    signed: float | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    collections: tuple[str, ...] = ()
    aoi: dict[str, Any] | None = None  # GeoJSON (Multi)Polygon
    acquired_from: float | None = None
    acquired_to: float | None = None
    embargo_days: float = 0.0
    asset_roles: tuple[str, ...] | None = None  # None: every asset
    licence: str = ""
    quota_bytes: int | None = None  # per calendar month (UTC); None: unlimited
    purposes: tuple[str, ...] = ()

    def in_force(self, now: float) -> bool:
        """Active and inside its validity period."""
        return (
            self.status == "active"
            and (self.valid_from is None or self.valid_from <= now)
            and (self.valid_to is None or now <= self.valid_to)
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Activation:
    """A disaster activation: an AOI and acquisition period opened to named organisations (or
    to everyone when ``org_ids`` is None) until ``expires``, embargoes lifted."""

    id: int
    name: str
    aoi: dict[str, Any]
    acquired_from: float | None
    acquired_to: float | None
    org_ids: tuple[int, ...] | None  # None: the public
    collections: tuple[str, ...] | None  # None: every collection
    opened: float
    expires: float
    opened_by: str = ""

    def in_force(self, now: float) -> bool:
        return self.opened <= now <= self.expires

    def applies_to(self, org_id: int | None) -> bool:
        return self.org_ids is None or (org_id is not None and org_id in self.org_ids)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Actor:
    """Who is asking, with everything the policy needs to answer without more I/O."""

    role: str = "anonymous"
    name: str = "anonymous"  # for the audit log: "key:12 (org Acme)"
    key_id: int | None = None
    org_id: int | None = None
    org_name: str | None = None
    agreements: tuple[Agreement, ...] = ()
    activations: tuple[Activation, ...] = ()  # activations in the store (policy checks each)
    restricted: frozenset[str] = field(default_factory=frozenset)  # restricted collection ids

    @property
    def unrestricted(self) -> bool:
        return self.role in UNRESTRICTED_ROLES


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str
    status: int = 200  # the HTTP status a denial maps to (401, 403, 404, 429)
    agreement_id: int | None = None
    activation_id: int | None = None

    def __bool__(self) -> bool:
        return self.allow
