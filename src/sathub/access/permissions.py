"""Every permission a route can declare, and the roles that pass it at the gate.

The gate (:mod:`sathub.api.gate`) checks the caller's *role* against this table before a route
runs; what a role then sees of a resource (items of restricted collections, an asset's roles,
a quota, an organisation's orders) is decided per resource by :mod:`sathub.access.policy`.
A route that declares no permission does not start (see ``sathub.api.gate.check_routes``).

Read permissions that anyone passes (``catalog:read``, ``pixels:read``) are not "open": the
resource check behind them answers a hidden resource exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sathub.access.models import ROLES

EVERYONE = frozenset(ROLES)  # anonymous included
KEY_HOLDERS = EVERYONE - {"anonymous"}
STAFF = frozenset({"admin", "operator", "analyst"})
OPERATORS = frozenset({"admin", "operator"})
ADMINS = frozenset({"admin"})


@dataclass(frozen=True)
class Permission:
    name: str
    roles: frozenset[str]
    what: str  # "may not <what>": the action named in a refusal

    def allows(self, role: str) -> bool:
        return role in self.roles


def _p(name: str, roles: frozenset[str], what: str) -> Permission:
    return Permission(name, frozenset(roles), what)


PERMISSIONS: dict[str, Permission] = {p.name: p for p in (
    _p("public", EVERYONE, "read public pages"),
    _p("catalog:read", EVERYONE, "read the catalog"),
    _p("pixels:read", EVERYONE, "read pixels or files of an asset"),
    _p("asset:sign", KEY_HOLDERS, "sign download links"),
    _p("catalog:write", OPERATORS, "write to the catalog"),
    _p("ingest:run", OPERATORS, "ingest scenes"),
    _p("jobs:read", OPERATORS, "read ingest jobs"),
    _p("analytics:run", STAFF, "run analytics jobs"),
    _p("orbits:read", EVERYONE, "read the satellite registry"),
    _p("orbits:plan", KEY_HOLDERS, "compute passes, tracks and opportunities"),
    _p("orbits:write", OPERATORS, "change the satellite registry"),
    _p("orders:read", KEY_HOLDERS, "read acquisition orders"),
    _p("orders:create", OPERATORS | {"partner"}, "create acquisition orders"),
    _p("orders:manage", OPERATORS, "plan acquisition orders or change their status"),
    _p("admin", ADMINS, "administer access"),
)}  # fmt: skip


def permission(name: str) -> Permission:
    """The permission called ``name``; KeyError names the unknown one (a programming error)."""
    try:
        return PERMISSIONS[name]
    except KeyError:
        raise KeyError(f"unknown permission {name!r}; declare it in sathub.access.permissions") from None


def register(name: str, roles: frozenset[str] | set[str], what: str) -> Permission:
    """Add a permission (a domain package's own, e.g. the budget's)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"permission {name!r} names unknown roles {sorted(unknown)}")
    p = PERMISSIONS[name] = _p(name, frozenset(roles), what)
    return p
