"""What the budget routes share: the installation's budget service and JSON rendering.

Every ``/budget`` route declares its permission with the gate
(``dependencies=[requires("budget:read")]``; the permissions are registered by
:mod:`sathub.budget.permissions`), so a caller who may not is refused before the body is read.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import Response

import sathub.budget.permissions  # noqa: F401 - registers budget:read/write/approve with the gate
from sathub.api.access import installation
from sathub.api.gate import actor_of, requires
from sathub.api.responses import json_response
from sathub.budget.service import BudgetService

Id = Annotated[int, Path(ge=1, le=2**63 - 1, description="A budget id (line, transaction, agreement).")]
Norad = Annotated[int, Path(ge=0, le=999_999_999, description="NORAD catalogue number.")]


def service(request: Request) -> BudgetService:
    """The installation's budget service (built on first use)."""
    return installation(request).budget


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


__all__ = ["Id", "Norad", "actor_of", "ok", "plain", "requires", "service"]
