"""THE place where access control for ingest plugs in.

Every ingest entry point that is not the local CLI (today: the HTTP endpoint in
``sathub/api/routers/ingest.py``) calls :func:`require_operator` before doing anything.
For now it checks ``Authorization: Bearer <key>`` against the key stored in
``DATA/secrets/operator.key``; the access-control issue replaces the body of
:func:`operator_decision` with the real policy (actor → grants) without touching callers.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, ClassVar

from sathub.config import Settings
from sathub.errors import SathubError


class Unauthorized(SathubError):
    """No or malformed credentials (HTTP 401)."""

    status_code = 401
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(SathubError):
    """Credentials given but not allowed to ingest (HTTP 403)."""

    status_code = 403


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    actor: str | None = None


def operator_decision(settings: Settings, authorization: str | None) -> Decision:
    """Is the bearer of ``authorization`` an operator? Pure: no I/O besides the key file."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return Decision(False, "missing bearer token")
    token = authorization[7:].strip()
    key_file = settings.layout.secrets / "operator.key"
    try:
        key = key_file.read_text().strip()
    except OSError:
        return Decision(False, "ingest over HTTP is disabled: no operator key configured")
    if not key or not hmac.compare_digest(token.encode(), key.encode()):
        return Decision(False, "invalid operator token")
    return Decision(True, "operator key", actor="operator")


def require_operator(request: Any) -> Decision:
    """Raise Unauthorized/Forbidden unless the request comes from an operator.

    ``request`` is anything with ``.headers`` and ``.app.state.settings`` (a Starlette
    request); kept framework-free so domain code does not import the API.
    """
    settings: Settings = request.app.state.settings
    auth = request.headers.get("authorization")
    decision = operator_decision(settings, auth)
    if not decision.allowed:
        if not auth:
            raise Unauthorized(decision.reason)
        raise Forbidden(decision.reason)
    return decision
