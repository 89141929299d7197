"""The console's session cookie in the API: when it counts, and the checks that keep another
site from using it.

A session cookie (``sathub_session``: HttpOnly, SameSite=Strict) stands for the API key it
was exchanged for (:mod:`sathub.access.sessions`). :class:`sathub.api.access.AccessMiddleware`
asks :func:`session_actor` for the actor when a request has no ``Authorization`` header. The
cookie counts only

- on console pages and the API routes the console's pages call (:data:`COOKIE_PATHS`);
- for same-origin requests: a ``Sec-Fetch-Site`` other than ``same-origin`` (or ``none``,
  a typed address, for reads), or an ``Origin`` that is not this server's, and the cookie is
  not used;
- for anything but GET/HEAD/OPTIONS, with the session's CSRF token in ``X-CSRF-Token``:
  without it the request is refused (403), whatever else it carries.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import cookie_parser

from sathub.access.models import Actor
from sathub.access.sessions import Session
from sathub.errors import Forbidden

if TYPE_CHECKING:
    from sathub.app import Installation

COOKIE = "sathub_session"
LOGIN_COOKIE = "sathub_login"  # the sign-in form's own CSRF token (double submit)
CSRF_HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# (path prefix, methods the cookie counts for; None: every method)
COOKIE_PATHS: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("/console", None), ("/admin/", None), ("/orbits/", None), ("/analytics/", None),
    ("/ingest", None), ("/budget/", None), ("/collections/", SAFE_METHODS),
)  # fmt: skip
EXEMPT = frozenset({"/console/login"})  # signs in with a key; checks its own form token


def header(scope: Any, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return None


def cookies(scope: Any) -> dict[str, str]:
    raw = header(scope, b"cookie")
    return cookie_parser(raw) if raw else {}


def app_path(scope: Any) -> str:
    """The request's path inside the app (without the root path)."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "") or "")
    return path[len(root):] if root and path.startswith(root) else path


def cookie_counts(path: str, method: str) -> bool:
    if path in EXEMPT:
        return False
    for prefix, methods in COOKIE_PATHS:
        if path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/"):
            return methods is None or method in methods
    return False


def same_origin(scope: Any, *, safe: bool) -> bool:
    """False for a request another site made (Fetch metadata or Origin say so)."""
    site = header(scope, b"sec-fetch-site")
    if site is not None and site != "same-origin" and not (safe and site == "none"):
        return False
    origin = header(scope, b"origin")
    if origin is not None:
        host = header(scope, b"host")
        if origin == "null" or host is None or urlsplit(origin).netloc.lower() != host.lower():
            return False
    return True


def session_actor(scope: Any, inst: Installation, now: float) -> tuple[Session, Actor] | None:
    """The session and actor of a request's cookie, or None when it carries none that counts.
    Raises Forbidden for a state-changing request with a live session but no matching
    ``X-CSRF-Token``, or made from another site."""
    token = cookies(scope).get(COOKIE)
    method = str(scope.get("method", "GET"))
    if not token or not cookie_counts(app_path(scope), method):
        return None
    safe = method in SAFE_METHODS
    if safe and not same_origin(scope, safe=True):
        return None
    found = inst.sessions.resolve(token, now)
    if found is None:
        return None
    if not safe:
        sent = header(scope, CSRF_HEADER) or ""
        if not same_origin(scope, safe=False):
            raise Forbidden("a cross-site request with a console session is refused", field="origin")
        if not sent or not hmac.compare_digest(sent.encode(), found[0].csrf.encode()):
            raise Forbidden("the console's CSRF token is missing or wrong (X-CSRF-Token); "
                            "reload the page", field="csrf")  # fmt: skip
    return found


__all__ = ["COOKIE", "CSRF_HEADER", "LOGIN_COOKIE", "app_path", "cookie_counts", "cookies",
           "same_origin", "session_actor"]  # fmt: skip
