"""THE place where access control for ingest plugs in.

Every ingest entry point that is not the local CLI (today: the HTTP endpoint in
``sathub/api/routers/ingest.py``, and signed-link minting) calls :func:`require_operator`
before doing anything. It asks the access policy (:func:`sathub.access.policy.decide`, action
``ingest``) about the request's actor: admin and operator keys may ingest; no key is a 401, any
other role a 403. The actor is the one the API's access middleware resolved
(``request.state.actor``); without the middleware it is resolved here from the
``Authorization`` header. ``DATA/secrets/operator.key``, the placeholder key of old
installations, still names an operator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sathub.access.models import Actor
from sathub.access.policy import decide
from sathub.access.service import AccessService
from sathub.errors import Forbidden, Unauthorized

__all__ = ["Decision", "Forbidden", "Unauthorized", "require_operator"]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    actor: str | None = None


def _actor(request: Any) -> Actor:
    actor = getattr(getattr(request, "state", None), "actor", None)
    if isinstance(actor, Actor):
        return actor
    service = getattr(request.app.state, "access", None)
    if service is None:
        service = request.app.state.access = AccessService.for_settings(request.app.state.settings)
    return service.actor(request.headers.get("authorization"))  # raises Unauthorized


def require_operator(request: Any) -> Decision:
    """Raise Unauthorized (401) / Forbidden (403) unless the request comes from an operator
    or an admin. ``request`` is anything with ``.headers``, ``.state`` and ``.app.state``."""
    actor = _actor(request)
    d = decide(actor, "ingest", now=time.time())
    if not d:
        if d.status == 401:
            raise Unauthorized(d.reason)
        raise Forbidden(d.reason)
    return Decision(True, d.reason, actor=actor.name)
