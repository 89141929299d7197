"""Signing in and out of the console: an API key exchanged for a session cookie.

``POST /console/login`` is a plain form post (it works without scripts): the form carries a
token that must equal its cookie (a page of another site cannot read or set it), the request
must come from this site, and the key is checked exactly as a Bearer header is. The session
cookie is HttpOnly and SameSite=Strict (Secure over HTTPS); see :mod:`sathub.api.sessions` for
when it counts.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from sathub.api.console.render import ConsoleRoute, login_page, root, secure_cookie
from sathub.api.gate import actor_of, requires
from sathub.api.sessions import COOKIE, LOGIN_COOKIE, cookies, same_origin
from sathub.errors import Unauthorized

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
MAX_FORM = 4096


@router.get("/login", dependencies=[requires("public")])
def login_form(request: Request, next: str = "") -> Response:
    return login_page(request, next=next[:2000])


@router.post("/login", dependencies=[requires("public")])
async def login(request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return login_page(request, status=413, error_key="login.too_long")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    nxt = form.get("next", "")[:2000]
    sent, kept = form.get("login_token", ""), cookies(request.scope).get(LOGIN_COOKIE, "")
    if not same_origin(request.scope, safe=False) or not sent or not kept \
            or not hmac.compare_digest(sent.encode(), kept.encode()):  # fmt: skip
        return login_page(request, status=403, next=nxt, error_key="login.expired")
    inst = request.app.state.installation
    try:
        token, session, _ = await run_in_threadpool(inst.sessions.open, form.get("key", ""))
    except Unauthorized as exc:
        return login_page(request, status=401, headers=exc.headers, next=nxt, error=exc.message)
    base = root(request)
    target = nxt if nxt.startswith(base + "/console") and not nxt.startswith("//") else base + "/console"
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, token, path=f"{base}/", httponly=True, samesite="strict",
                    secure=secure_cookie(request), max_age=int(inst.sessions.max_s))  # fmt: skip
    resp.delete_cookie(LOGIN_COOKIE, path=f"{base}/console/login")
    return resp


@router.post("/logout", dependencies=[requires("console:use")])
async def logout(request: Request) -> Response:
    """End this browser's session (a request with the session's CSRF token, or with a key)."""
    token = cookies(request.scope).get(COOKIE)
    inst = request.app.state.installation
    if token and getattr(request.state, "console_session", None) is not None:
        await run_in_threadpool(inst.sessions.close, token, actor_of(request))
    resp = Response(status_code=204)
    resp.delete_cookie(COOKIE, path=f"{root(request)}/")
    return resp
