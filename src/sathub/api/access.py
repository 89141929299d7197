"""Access control in the API: the ASGI middleware that turns a Bearer key into an actor, and
the hooks every route uses (write authorization, collection visibility, downloads, audit).

The policy itself lives in :mod:`sathub.access.policy`; this module only applies it:

- :class:`AccessMiddleware` sets ``request.state.actor`` and ``request.state.access_filter``
  (the CQL2-JSON the store ANDs inside every search, item read and aggregation); a malformed,
  unknown, expired or revoked key is a 401 with ``WWW-Authenticate: Bearer``; no header is the
  anonymous public. Partner searches are audited here.
- :func:`authorize_write` (installed as ``app.state.authorize_write``): admin and operator.
- :func:`require_collection_visible`, :func:`visible_collection_ids`: restricted collections
  do not exist for callers without a grant on them (404, absent from ``/collections``).
- :func:`charge_download` and :func:`audit_event`: for the download and tile routes.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from sathub.access.models import Actor, Agreement
from sathub.access.policy import decide, visible_collections
from sathub.access.service import AccessService
from sathub.api.middleware import send_json
from sathub.errors import Forbidden, NotFound, QuotaExceeded, Unauthorized

SEARCH_PATHS = ("/search", "/aggregate")


def _is_search(path: str) -> bool:
    return path.endswith(SEARCH_PATHS) or (path.startswith("/collections/") and path.endswith("/items"))


class AccessMiddleware:
    """Pure ASGI: resolve the caller, set the access filter, audit partner searches."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service: AccessService | None = getattr(scope["app"].state, "access", None)
        if service is None:
            await self.app(scope, receive, send)
            return
        auth = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                auth = value.decode("latin-1")
                break
        now = time.time()
        try:  # database reads: off the event loop
            actor = await run_in_threadpool(service.actor, auth, now)
        except Unauthorized as exc:
            await send_json(send, 401, exc.to_dict(), exc.headers)
            return
        state = scope.setdefault("state", {})
        state["actor"] = actor
        state["access_now"] = now  # the grants filter is built on first use (access_filter)
        path = scope.get("path", "")
        if actor.role != "partner" or not _is_search(path):
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")[:2000]
            await run_in_threadpool(
                service.audit.append, actor.name, "search", path + (f"?{query}" if query else ""),
                outcome=str(status["code"]),
                detail={"method": scope.get("method"), "org": actor.org_name},
            )  # fmt: skip


# ------------------------------------------------------------------------ helpers
def actor_of(request: Request) -> Actor:
    actor = getattr(request.state, "actor", None)
    if actor is None:  # an app built without the middleware (unit tests of other routers)
        service = getattr(request.app.state, "access", None)
        actor = service.store.anonymous() if service else Actor()
    return actor


def _now(request: Request) -> float:
    return float(getattr(request.state, "access_now", None) or time.time())


def _service(request: Request) -> AccessService:
    service: AccessService = request.app.state.access
    return service


def _raise(decision: Any) -> None:
    if decision.status == 401:
        raise Unauthorized(decision.reason)
    if decision.status == 404:
        raise NotFound(decision.reason)
    raise Forbidden(decision.reason)


def authorize_write(request: Request) -> None:
    """Catalog writes: admin and operator (401 anonymous, 403 anyone else)."""
    d = decide(actor_of(request), "write", now=_now(request))
    if not d:
        _raise(d)


def require_admin(request: Request) -> Actor:
    actor = actor_of(request)
    d = decide(actor, "admin", now=_now(request))
    if not d:
        _raise(d)
    return actor


def visible_collection_ids(request: Request, ids: list[str]) -> set[str]:
    return visible_collections(actor_of(request), _now(request), ids)


def require_collection_visible(request: Request, collection_id: str) -> None:
    """404 for a collection the caller may not know exists (same message as a missing one)."""
    if collection_id not in visible_collection_ids(request, [collection_id]):
        raise NotFound(f"collection {collection_id!r} not found")


def audit_event(request: Request, action: str, resource: str, nbytes: int = 0,
                outcome: str = "ok", **detail: Any) -> None:  # fmt: skip
    """Append one audit record for this request's actor (tiles are aggregated per hour).
    ``quota=agreement`` charges ``nbytes`` against it in the same transaction (QuotaExceeded:
    nothing charged or recorded)."""
    service = getattr(request.app.state, "access", None)
    if service is None:
        return
    actor = actor_of(request)
    agr, act = detail.pop("agreement_id", None), detail.pop("activation_id", None)
    quota = detail.pop("quota", None)
    if action == "tiles" and outcome == "ok":
        service.audit.record_tile(actor.name, resource, nbytes=nbytes, agreement_id=agr,
                                  activation_id=act, quota=quota)  # fmt: skip
        return
    service.audit.append(actor.name, action, resource, nbytes=nbytes, outcome=outcome,
                         agreement_id=agr, activation_id=act, detail=detail or None,
                         quota=quota)  # fmt: skip


def charge_download(request: Request, item: dict[str, Any], asset_key: str, nbytes: int, *,
                    action: str = "download") -> None:  # fmt: skip
    """Before serving ``nbytes`` of an asset: check the asset's roles against the grant,
    charge the agreement's monthly quota (QuotaExceeded → 429 with Retry-After) and audit.

    ``item`` must have been fetched under the caller's access filter. Raises NotFound
    (invisible item), Forbidden (asset role not covered) or QuotaExceeded; each is audited.
    """
    actor = actor_of(request)
    now = _now(request)
    asset = (item.get("assets") or {}).get(asset_key) or {}
    resource = f"{item.get('collection')}/{item.get('id')}/{asset_key}"
    d = decide(actor, "download", {"item": item, "asset": asset}, now=now)
    if not d:
        audit_event(request, action, resource, 0, f"denied: {d.reason}")
        _raise(d)
    quota = None
    if d.agreement_id is not None:  # charged in the same transaction as its record
        quota = next(a for a in actor.agreements if a.id == d.agreement_id)
    try:
        audit_event(request, action, resource, nbytes, "ok", agreement_id=d.agreement_id,
                    activation_id=d.activation_id, quota=quota)  # fmt: skip
    except QuotaExceeded:
        audit_event(request, action, resource, 0, "quota exceeded", agreement_id=d.agreement_id)
        raise


def audit_hook(request: Request, event: str, **fields: Any) -> None:
    """``app.state.audit`` for the asset routes' hook (``event`` download, sign, tiles)."""
    resource = "/".join(str(fields.get(k)) for k in ("collection", "item", "asset") if fields.get(k))
    if event == "tiles":
        audit_event(request, "tiles", f"{fields.get('collection')}/{fields.get('item')}")
    elif event == "sign":
        audit_event(request, "sign", resource)


def install(app: Any, settings: Any) -> None:
    """Called by ``create_app``: the service, the write check and the audit hook."""
    app.state.access = AccessService.for_settings(settings)
    app.state.authorize_write = authorize_write
    app.state.audit = audit_hook


__all__ = ["AccessMiddleware", "Agreement", "audit_event", "authorize_write", "charge_download",
           "install", "require_admin", "require_collection_visible", "visible_collection_ids"]  # fmt: skip
