"""Access control in the API: the ASGI middleware that turns a Bearer key into an actor, and the
per-resource checks behind the gate (collection and item visibility, the grants filter, audit).

The role check every route passes is the gate's (:mod:`sathub.api.gate`); the rule for pixels
and bytes of assets is :mod:`sathub.api.pixels`; the policy itself is
:mod:`sathub.access.policy`. This module only applies it:

- :class:`AccessMiddleware` sets ``request.state.actor``; a malformed, unknown, expired or
  revoked key is a 401 with ``WWW-Authenticate: Bearer``; no header is the anonymous public,
  unless a console session cookie counts (:mod:`sathub.api.sessions`: the key it stands for).
  Partner searches are audited here, each record committed before the answer's last byte
  (by the search endpoint itself when it answers: :func:`audit_search`).
- :func:`access_filter`: the caller's grants as an access filter (plain CQL2 with caching
  hints), which the store ANDs inside every search, item read and aggregation;
  :func:`collections_filter` the same for the collection list.
- :func:`require_collection_visible`, :func:`visible_collection_ids`: restricted collections
  do not exist for callers without a grant on them (404, absent from ``/collections``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from sathub.access.models import Actor, Agreement
from sathub.access.policy import collections_filter as _collections_filter
from sathub.access.policy import grants_filter, visible_collections
from sathub.api.gate import actor_of
from sathub.api.middleware import send_json
from sathub.api.sessions import session_actor
from sathub.errors import BackendUnavailable, Forbidden, NotFound, Unauthorized

if TYPE_CHECKING:
    from sathub.access.service import AccessService
    from sathub.catalog.filters import AccessFilter
    from sathub.app import Installation

log = logging.getLogger("sathub.api")
SEARCH_PATHS = ("/search", "/aggregate")


def _is_search(path: str) -> bool:
    return path.endswith(SEARCH_PATHS) or (path.startswith("/collections/") and path.endswith("/items"))


def _resolve(inst: Installation, scope: Any, auth: str | None,
             now: float) -> tuple[AccessService, tuple[Any, Actor] | None, Actor]:  # fmt: skip
    """The access service, the request's console session (when it carries no Authorization
    header) and its actor."""
    access = inst.access
    found = None if auth else session_actor(scope, inst, now)
    return access, found, (found[1] if found else access.actor(auth, now))


class AccessMiddleware:
    """Pure ASGI: resolve the caller, audit partner searches."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inst: Installation = scope["app"].state.installation
        auth = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                auth = value.decode("latin-1")
                break
        now = time.time()
        try:  # database reads (and the access store's first opening): off the event loop, in
            # one hop to a worker thread (each hop costs a thread wake-up, ~0.5 ms on 2 vCPUs)
            access, found, actor = await run_in_threadpool(_resolve, inst, scope, auth, now)
        except Unauthorized as exc:
            await send_json(send, 401, exc.to_dict(), exc.headers)
            return
        except Forbidden as exc:  # a console session's request without its CSRF token
            await send_json(send, 403, exc.to_dict())
            return
        except BackendUnavailable as exc:  # the access state's database (issue 14): 503, named
            from sathub.api.errors import public_body

            path = f"{scope.get('method')} {scope.get('path')}"
            await send_json(send, 503, public_body(exc, path), exc.headers)
            return
        if actor.role == "anonymous" and inst.settings.dev_open_writes:
            actor = Actor(role="operator", name="anonymous (development mode)",
                          activations=actor.activations, restricted=actor.restricted)  # fmt: skip
        state = scope.setdefault("state", {})
        state["actor"] = actor
        state["console_session"] = found[0] if found else None
        state["access_now"] = now  # the grants filter is built on first use (access_filter)
        path = scope.get("path", "")
        if actor.role != "partner" or not _is_search(path):
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        query = scope.get("query_string", b"").decode("latin-1")[:2000]
        resource = path + (f"?{query}" if query else "")
        done: list[int] = []  # one record per request, committed before its answer's last byte

        def write(code: int) -> None:
            if done:
                return
            done.append(code)
            access.audit.append(actor.name, "search", resource, outcome=str(code),
                                 detail={"method": scope.get("method"), "org": actor.org_name})  # fmt: skip

        # the search endpoint writes it in its own worker thread as it answers (no second
        # hop: audit_search); any other answer (an error, /aggregate) is audited here
        state["search_audit"] = write

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body") and not done:
                await run_in_threadpool(write, status["code"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if not done:  # no answer sent (the app raised)
                await run_in_threadpool(write, status["code"])


# ------------------------------------------------------------------------ helpers
def installation(request: Request) -> Installation:
    inst: Installation = request.app.state.installation
    return inst


def service(request: Request) -> AccessService:
    return installation(request).access


def now_of(request: Request) -> float:
    return float(getattr(request.state, "access_now", None) or time.time())


def access_filter(request: Request) -> AccessFilter | None:
    """The caller's grants as an access filter (None: unrestricted), built on first use and
    kept for the request; the store applies it inside the query, so paging and counts stay
    right."""
    state = request.state
    if not hasattr(state, "access_filter"):
        state.access_filter = grants_filter(actor_of(request), now_of(request))
    return state.access_filter  # type: ignore[no-any-return]


def collections_filter(request: Request) -> dict[str, Any] | None:
    """The collections the caller may know exist, as CQL2 for ``list_collections``."""
    return _collections_filter(actor_of(request), now_of(request))


def visible_collection_ids(request: Request, ids: list[str]) -> set[str]:
    return visible_collections(actor_of(request), now_of(request), ids)


def require_collection_visible(request: Request, collection_id: str) -> None:
    """404 for a collection the caller may not know exists (same message as a missing one)."""
    if collection_id not in visible_collection_ids(request, [collection_id]):
        raise NotFound(f"collection {collection_id!r} not found")


def visible_item(request: Request, collection_id: str, item_id: str) -> dict[str, Any]:
    """The item, if the caller may see it; else NotFound, exactly as for a missing one."""
    require_collection_visible(request, collection_id)
    store = installation(request).catalog
    return store.get_item(collection_id, item_id, extra_filter=access_filter(request))


def redact_lineage(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Derived items without the inputs the caller may not see: ``sathub:inputs`` entries,
    ``derived_from`` links and the source named in ``sathub:parameters`` are kept only when
    the caller may read them (one search under the caller's grants for the whole page)."""
    actor = actor_of(request)
    derived = [it for it in items if (it.get("properties") or {}).get("sathub:inputs")]
    if actor.unrestricted or not derived:
        return items
    refs = {(r.get("collection"), r.get("id")) for it in derived
            for r in it["properties"]["sathub:inputs"] if isinstance(r, dict)}  # fmt: skip
    from sathub.catalog.store import SearchQuery

    store = installation(request).catalog
    seen = store.search(SearchQuery(ids=sorted({str(i) for _, i in refs}), limit=len(refs) + 1,
                                    collections=sorted({str(c) for c, _ in refs})),
                        extra_filter=access_filter(request))  # fmt: skip
    visible = {(it.get("collection"), it.get("id")) for it in seen.items}
    colls = visible_collection_ids(request, sorted({str(c) for c, _ in refs}))
    out = []
    for it in items:
        props = it.get("properties") or {}
        if it not in derived:
            out.append(it)
            continue
        keep = [r for r in props["sathub:inputs"] if (r.get("collection"), r.get("id")) in visible]
        hidden = len(props["sathub:inputs"]) - len(keep)
        new_props = {**props, "sathub:inputs": keep}
        params = props.get("sathub:parameters")
        if isinstance(params, dict) and params.get("collection") not in colls | {None}:
            new_props["sathub:parameters"] = {k: v for k, v in params.items() if k != "collection"}
        if hidden:
            new_props["sathub:inputs_hidden"] = hidden
        hrefs = {f"../../{r.get('collection')}/items/{r.get('id')}" for r in keep}
        links = [ln for ln in it.get("links") or []
                 if ln.get("rel") != "derived_from" or ln.get("href") in hrefs
                 or _link_ref(ln.get("href", "")) in visible]  # fmt: skip
        out.append({**it, "properties": new_props, "links": links})
    return out


def _link_ref(href: str) -> tuple[str, str] | None:
    parts = href.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-2] == "items":
        return parts[-3], parts[-1]
    return None


def audit(request: Request, action: str, resource: str, *, actor: Actor | None = None,
          nbytes: int = 0, outcome: str = "ok", agreement_id: int | None = None,
          activation_id: int | None = None, quota: Agreement | None = None,
          **detail: Any) -> None:  # fmt: skip
    """Append one audit record for this request (tile uses are aggregated per item and hour).
    With ``quota``, ``nbytes`` are charged against that agreement in the same transaction as
    the record (QuotaExceeded: nothing charged or written)."""
    who = (actor or actor_of(request)).name
    log_ = service(request).audit
    if action == "tiles" and outcome == "ok":
        log_.record_tile(who, resource, nbytes=nbytes, agreement_id=agreement_id,
                         activation_id=activation_id, quota=quota)  # fmt: skip
        return
    log_.append(who, action, resource, nbytes=nbytes, outcome=outcome, agreement_id=agreement_id,
                activation_id=activation_id, detail=detail or None, quota=quota)  # fmt: skip


def audit_search(request: Request, status: int) -> None:
    """Called by a search endpoint in its worker thread with the answer it is about to return:
    a partner's search record is committed there, before the answer is sent, instead of on a
    second thread hop in :class:`AccessMiddleware` (a no-op for other callers)."""
    write = getattr(request.state, "search_audit", None)
    if write is not None:
        write(status)


__all__ = ["AccessMiddleware", "access_filter", "audit", "audit_search", "collections_filter", "installation", "now_of", "redact_lineage",
           "require_collection_visible", "service", "visible_collection_ids", "visible_item"]  # fmt: skip
