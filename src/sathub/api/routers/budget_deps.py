"""What the budget routes share: the permission check and the installation's budget service.

Until the permission gate (``sathub.api.gate.requires``) lands, each route declares
``dependencies=[requires("budget:…")]`` with this module's :func:`requires` (the gate's
shape), which runs :func:`_require` before the body is read; :data:`PERMISSIONS` has the
shape of the gate's registry (``sathub.access.permissions.PERMISSIONS``), so the swap is one
import. Anonymous
callers get 401; keys whose role cannot read the budget get 404 everywhere under
``/budget`` (the budget does not exist for them); budget roles lacking a permission get 403.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import Response

from sathub.access.models import Actor
from sathub.api.access import actor_of
from sathub.api.responses import json_response
from sathub.budget.service import BudgetService
from sathub.errors import Forbidden, NotFound, Unauthorized

Id = Annotated[int, Path(ge=1, le=2**63 - 1, description="A budget id (line, transaction, agreement).")]
Norad = Annotated[int, Path(ge=0, le=999_999_999, description="NORAD catalogue number.")]
READERS = frozenset({"admin", "finance_officer", "budget_approver", "budget_viewer"})
PERMISSIONS: dict[str, frozenset[str]] = {
    "budget:read": READERS,
    "budget:write": frozenset({"admin", "finance_officer"}),
    "budget:approve": frozenset({"admin", "budget_approver"}),
}
_lock = threading.Lock()


def _require(request: Request, perm: str) -> Actor:
    actor = actor_of(request)
    if actor.role in PERMISSIONS[perm]:
        return actor
    if actor.role == "anonymous":
        raise Unauthorized("an API key is needed for the budget", field="authorization")
    if actor.role not in READERS:
        raise NotFound("Not Found")  # word for word what a path that does not exist answers
    raise Forbidden(f"role {actor.role} may not do this ({perm})", field="authorization")


def requires(perm: str) -> Any:
    """A route dependency checking ``perm`` (before the body is parsed, so a caller who may not
    see the budget gets 404 whatever it sends)."""
    if perm not in PERMISSIONS:
        raise KeyError(f"unknown permission {perm!r}")

    def check(request: Request) -> None:
        _require(request, perm)

    return Depends(check)


def service(request: Request) -> BudgetService:
    """The installation's budget service, built on first use (audit: the access service's)."""
    svc: BudgetService | None = getattr(request.app.state, "budget", None)
    if svc is None:
        with _lock:
            svc = getattr(request.app.state, "budget", None)
            if svc is None:
                svc = BudgetService.for_settings(request.app.state.settings, audit=request.app.state.access.audit)
                request.app.state.budget = svc
    return svc


def plain(value: Any) -> Any:
    """Decimals as text (never floats), containers walked."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return plain(dict(value.__dict__))
    return value


def ok(value: Any, status: int = 200) -> Response:
    return json_response(plain(value), status=status)
