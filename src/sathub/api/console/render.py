"""Rendering console pages: the Jinja2 environment, the page context (messages, navigation,
CSRF token, what the caller may do), security headers, and error pages.

Console routes use :class:`ConsoleRoute`, so a refusal at the gate or a bad parameter answers
as an HTML page with the status the API would give (401 with the sign-in form, 403, 404, 400),
never a JSON body in the browser.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sathub.access.models import Actor
from sathub.access.permissions import permission
from sathub.api.console.i18n import Catalog, negotiate
from sathub.api.errors import status_for
from sathub.api.gate import actor_of
from sathub.errors import InvalidInput, SathubError

TEMPLATES = Path(__file__).resolve().parent / "templates"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)  # fmt: skip

# Navigation: message key, path, permission (shown when the caller's role passes it).
NAV: tuple[tuple[str, str, str], ...] = (
    ("nav.dashboard", "/console", "console:use"),
    ("nav.archive", "/console/archive", "console:staff"),
    ("nav.partners", "/console/partners", "admin"),
    ("nav.agreements", "/console/agreements", "admin"),
    ("nav.keys", "/console/keys", "admin"),
    ("nav.activations", "/console/activations", "admin"),
    ("nav.orbits", "/console/orbits", "console:staff"),
    ("nav.passes", "/console/orbits/passes", "console:staff"),
    ("nav.opportunities", "/console/orbits/opportunities", "orders:create"),
    ("nav.orders", "/console/orders", "orders:read"),
    ("nav.analytics", "/console/analytics", "analytics:run"),
    ("nav.budget", "/console/budget", "budget:read"),
    ("nav.commitments", "/console/budget/commitments", "budget:read"),
)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")  # fmt: skip
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}  # fmt: skip
# Browser files a page needs beyond console.js (under /static).
NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # name → (styles, scripts)
    "map": (("vendor/maplibre-gl/maplibre-gl.css",),
            ("vendor/maplibre-gl/maplibre-gl.js", "vendor/basemap/topojson-client.min.js",
             "vendor/terra-draw/terra-draw.umd.js",
             "vendor/terra-draw/terra-draw-maplibre-gl-adapter.umd.js", "console/map.js")),
    "chart": ((), ("vendor/chart.js/chart.umd.min.js", "console/charts.js")),
    "orbits": ((), ("console/orbits.js",)),
    "analytics": ((), ("console/analytics.js",)),
}  # fmt: skip
UNITS = ("unit.B", "unit.kB", "unit.MB", "unit.GB", "unit.TB", "unit.PB")


def catalog(request: Request) -> Catalog:
    cat = getattr(request.state, "console_catalog", None)
    if cat is None:
        default = request.app.state.installation.settings.console_locale
        cat = request.state.console_catalog = Catalog(
            negotiate(request.headers.get("accept-language"), default))
    return cat  # type: ignore[no-any-return]


def can(actor: Actor, name: str) -> bool:
    return permission(name).allows(actor.role)


def root(request: Request) -> str:
    return str(request.scope.get("root_path", "") or "").rstrip("/")


def csrf_token(request: Request) -> str:
    session = getattr(request.state, "console_session", None)
    return session.csrf if session is not None else ""


def nav(request: Request, actor: Actor, t: Catalog) -> list[dict[str, Any]]:
    here = request.url.path[len(root(request)):] if root(request) else request.url.path
    items = [(k, p) for k, p, perm in NAV if can(actor, perm)]
    if actor.role == "partner" and actor.org_id is not None:
        items.insert(1, ("nav.my_org", f"/console/partners/{actor.org_id}"))
    return [{"label": t(k), "href": root(request) + p, "current": here == p} for k, p in items]


# ------------------------------------------------------------------------ formatting
def fmt_bytes(t: Catalog, n: float | int | None) -> str:
    if n is None:
        return "—"
    n = float(n)
    k = 0 if n < 1000 else min(int(math.log10(n) // 3), len(UNITS) - 1)
    value = n / 1000**k
    return t("unit.value", value=f"{value:,.0f}" if k == 0 or value >= 100 else f"{value:,.1f}",
             unit=t(UNITS[k]))  # fmt: skip


def fmt_time(t: Catalog, value: Any, *, date_only: bool = False) -> str:
    """An instant as ``YYYY-MM-DD HH:MM UTC`` (ISO text or epoch seconds)."""
    if value in (None, ""):
        return "—"
    if isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(float(value), UTC)
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
        dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    if date_only:
        return dt.strftime("%Y-%m-%d")
    return t("time.utc", when=dt.strftime("%Y-%m-%d %H:%M"))


def fmt_num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


# ---------------------------------------------------------------------------- pages
def context(request: Request, title: str, title_params: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    t = catalog(request)
    actor = actor_of(request)
    base = root(request)
    return {
        "t": t, "locale": t.locale, "actor": actor, "title": t(title, **(title_params or {})),
        "nav": nav(request, actor, t) if actor.role != "anonymous" else [],
        "csrf": csrf_token(request), "root": base, "static": f"{base}/static",
        "can": lambda name: can(actor, name), "js_messages": t.prefixed("js."),
        "bytes": lambda n: fmt_bytes(t, n), "when": lambda v: fmt_time(t, v),
        "day": lambda v: fmt_time(t, v, date_only=True), "num": fmt_num,
        "now": time.time(), "scripts": [], "styles": [], **extra,
    }  # fmt: skip


def page(request: Request, template: str, title: str, *, status: int = 200,
         headers: dict[str, str] | None = None, needs: tuple[str, ...] = (),
         **extra: Any) -> HTMLResponse:  # fmt: skip
    """Render ``template`` with the console's context (``needs``: names of :data:`NEEDS`)."""
    styles = [s for n in needs for s in NEEDS[n][0]]
    scripts = [s for n in needs for s in NEEDS[n][1]]
    html = ENV.get_template(template).render(context(request, title, styles=styles, scripts=scripts,
                                                     **extra))  # fmt: skip
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RequestValidationError):
        first = (exc.errors() or [{}])[0]
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        exc = InvalidInput(f"{field}: {first.get('msg', 'invalid')}", field=field or None)
    assert isinstance(exc, SathubError)
    status = status_for(exc)
    headers = dict(getattr(exc, "headers", None) or {})
    if status == 401:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method == "GET" and request.headers.get("sec-fetch-mode") == "navigate":
            from urllib.parse import quote

            return RedirectResponse(f"{root(request)}/console/login?next={quote(nxt)}", 303,
                                    headers=HEADERS)  # a browser: to the sign-in page  # fmt: skip
        return login_page(request, status=401, headers=headers, next=nxt,
                          notice="login.needed" if request.method == "GET" else None)  # fmt: skip
    title = f"error.{status}.title" if status in (400, 403, 404, 409) else "error.other.title"
    return page(request, "error.html", title, status=status, headers=headers, error=exc.message,
                status_code=status)  # fmt: skip


def login_page(request: Request, *, status: int = 200, headers: dict[str, str] | None = None,
               next: str = "", error: str | None = None, error_key: str | None = None,
               notice: str | None = None) -> Response:  # fmt: skip
    """The sign-in form, with a fresh form token in a cookie (the form sends it back)."""
    from sathub.api.sessions import LOGIN_COOKIE

    if error_key is not None:
        error = catalog(request)(error_key)

    token = secrets.token_urlsafe(32)
    base = root(request)
    if not next.startswith(base + "/console") or next.startswith("//"):
        next = base + "/console"
    resp = page(request, "login.html", "login.title", status=status, headers=headers,
                login_token=token, next=next, error=error, notice=notice)  # fmt: skip
    resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, path=f"{base}/console/login",
                    httponly=True, samesite="strict", secure=secure_cookie(request))  # fmt: skip
    return resp


def secure_cookie(request: Request) -> bool:
    return bool(request.url.scheme == "https"
                or request.app.state.installation.settings.console_secure_cookie)  # fmt: skip


class ConsoleRoute(APIRoute):
    """A console route: refusals and bad input answer as HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (SathubError, RequestValidationError) as exc:
                return error_page(request, exc)

        return console_handler


__all__ = ["ConsoleRoute", "ENV", "can", "catalog", "context", "error_page", "fmt_bytes",
           "fmt_num", "fmt_time", "login_page", "page", "root", "secure_cookie"]  # fmt: skip
