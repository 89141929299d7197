"""THE permission gate: every route declares the permission it needs, and nothing else runs.

A route declares its permission with ``dependencies=[requires("catalog:write")]`` (routers),
or in :data:`STAC_ROUTES` (the routes stac-fastapi builds). :func:`check_routes` runs when the
app is built: a route that declares none — or two — stops the app from starting, so a new route
cannot ship open by mistake.

The gate checks the caller's *role* (:mod:`sathub.access.permissions`); refusals name the
action: 401 with ``WWW-Authenticate`` for the anonymous public, 403 for a key whose role may
not. What a permitted caller then sees of a resource (restricted items, asset roles, quotas,
another organisation's orders) is decided per resource, behind the gate, by the access policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route

from sathub.access.models import Actor
from sathub.access.permissions import Permission, permission
from sathub.errors import Forbidden, Unauthorized

_MARK = "__sathub_permission__"


def actor_of(request: Request) -> Actor:
    """The caller, as the access middleware resolved it (anonymous when it did not run)."""
    actor = getattr(request.state, "actor", None)
    return actor if isinstance(actor, Actor) else Actor()


def refuse(actor: Actor, p: Permission) -> Exception:
    if actor.role == "anonymous":
        return Unauthorized(f"an API key is needed to {p.what}")
    return Forbidden(f"role {actor.role} may not {p.what}")


def requires(name: str) -> Any:
    """The dependency a route declares: ``dependencies=[requires("ingest:run")]``."""
    p = permission(name)

    def gate(request: Request) -> None:
        actor = actor_of(request)
        if not p.allows(actor.role):
            raise refuse(actor, p)
        request.state.permission = p.name

    setattr(gate, _MARK, p.name)
    gate.__name__ = f"requires_{name.replace(':', '_')}"
    return Depends(gate)


def require(request: Request, name: str) -> Actor:
    """The same check inside a route, for a second permission a route needs on one branch."""
    p = permission(name)
    actor = actor_of(request)
    if not p.allows(actor.role):
        raise refuse(actor, p)
    return actor


# Routes built by stac-fastapi (and FastAPI's own OpenAPI document): method, path → permission.
# Anything stac-fastapi adds that is not listed here stops the app (check_routes).
STAC_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/"): "public",
    ("GET", "/conformance"): "public",
    ("GET", "/api"): "public",  # OpenAPI document
    ("GET", "/_mgmt/ping"): "public",
    ("GET", "/_mgmt/health"): "public",
    ("GET", "/collections"): "catalog:read",
    ("GET", "/collections/{collection_id}"): "catalog:read",
    ("GET", "/collections/{collection_id}/items"): "catalog:read",
    ("GET", "/collections/{collection_id}/items/{item_id}"): "catalog:read",
    ("GET", "/search"): "catalog:read",
    ("POST", "/search"): "catalog:read",
    ("GET", "/queryables"): "catalog:read",
    ("GET", "/collections/{collection_id}/queryables"): "catalog:read",
    ("GET", "/aggregations"): "catalog:read",
    ("POST", "/aggregations"): "catalog:read",
    ("GET", "/aggregate"): "catalog:read",
    ("POST", "/aggregate"): "catalog:read",
    ("GET", "/collections/{collection_id}/aggregations"): "catalog:read",
    ("POST", "/collections/{collection_id}/aggregations"): "catalog:read",
    ("GET", "/collections/{collection_id}/aggregate"): "catalog:read",
    ("POST", "/collections/{collection_id}/aggregate"): "catalog:read",
}


@dataclass(frozen=True)
class RouteInfo:
    methods: tuple[str, ...]
    path: str
    permission: str
    name: str


def _declared(route: APIRoute) -> list[str]:
    found = []
    for dep in route.dependant.dependencies:
        name = getattr(dep.call, _MARK, None)
        if name is not None:
            found.append(name)
    return found


def declare_stac_routes(routes: Iterable[BaseRoute]) -> None:
    """Attach the gate to the stac-fastapi routes listed in :data:`STAC_ROUTES`."""
    from stac_fastapi.api.routes import add_route_dependencies

    routes = list(routes)
    for (method, path), name in STAC_ROUTES.items():
        add_route_dependencies(routes, [{"path": path, "method": method, "type": "http"}],
                               [requires(name)])  # fmt: skip


@dataclass(frozen=True)
class _Found:
    route: BaseRoute
    prefix: str  # what ``include_router(prefix=…)`` calls above it add
    inherited: tuple[str, ...]  # permissions declared by ``include_router(dependencies=…)``


def _marks(dependencies: Iterable[Any]) -> tuple[str, ...]:
    return tuple(m for d in dependencies
                 if (m := getattr(getattr(d, "dependency", None), _MARK, None)) is not None)  # fmt: skip


def flatten(routes: Iterable[BaseRoute], prefix: str = "",
            inherited: tuple[str, ...] = ()) -> Iterator[_Found]:  # fmt: skip
    """The endpoint routes under ``routes`` with the prefix and the permissions of the
    routers they are included through (FastAPI ≥ 0.16x keeps an included router as one route
    object holding the original router and its include context)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            ctx = getattr(route, "include_context", None)
            yield from flatten(inner.routes, prefix + str(getattr(ctx, "prefix", "") or ""),
                               inherited + _marks(getattr(ctx, "dependencies", ()) or ()))  # fmt: skip
        elif isinstance(route, Mount):
            yield _Found(route, prefix, inherited)
        elif hasattr(route, "routes") and not hasattr(route, "endpoint"):
            yield from flatten(route.routes, prefix, inherited)
        else:
            yield _Found(route, prefix, inherited)


def routes(app: FastAPI) -> list[RouteInfo]:
    """Every route of the app with its declared permission (raises on undeclared ones)."""
    out: list[RouteInfo] = []
    problems: list[str] = []
    for found in flatten(app.routes):
        route, path = found.route, found.prefix + getattr(found.route, "path", "")
        if isinstance(route, APIRoute):
            declared = sorted(set(_declared(route)) | set(found.inherited))
            methods = tuple(sorted(route.methods or ()))
            if len(declared) != 1:
                problems.append(f"{'/'.join(methods)} {path} declares "
                                f"{'no permission' if not declared else declared}")  # fmt: skip
                continue
            out.append(RouteInfo(methods, path, declared[0], route.name))
        elif isinstance(route, Route):  # FastAPI's own openapi/docs routes
            methods = tuple(sorted((route.methods or set()) - {"HEAD"}))
            name = next((STAC_ROUTES[(m, path)] for m in methods
                         if (m, path) in STAC_ROUTES), None)  # fmt: skip
            if name is None:
                problems.append(f"{'/'.join(methods)} {path} declares no permission")
                continue
            out.append(RouteInfo(methods, path, name, route.name))
        elif isinstance(route, Mount):
            problems.append(f"mount {path}: mounts are not allowed (declare routes)")
    if problems:
        raise RuntimeError("routes without exactly one declared permission: " + "; ".join(problems))
    return out


def check_routes(app: FastAPI) -> None:
    """Refuse to build an app with an undeclared route."""
    routes(app)


def refusal(request: Request) -> Exception | None:
    """The gate's refusal for the route the request matched, or None when it lets the caller
    through. FastAPI parses a JSON body before it calls a route's dependencies: a body that is
    not JSON was a 400 naming the parse error even where the gate refuses the caller (an
    anonymous ``POST /admin/keys`` with ``{not json``); the error handler asks this first."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return None
    actor = actor_of(request)
    for name in _declared(route):
        p = permission(name)
        if not p.allows(actor.role):
            return refuse(actor, p)
    return None


Guard = Callable[[Request], None]
__all__ = ["RouteInfo", "STAC_ROUTES", "actor_of", "check_routes", "declare_stac_routes",
           "refusal", "require", "requires", "routes"]  # fmt: skip
