"""Map exceptions to HTTP responses, once. Every error body is JSON: code, description, field."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from sathub import errors
from sathub.api.responses import json_response

log = logging.getLogger("sathub.api")

STATUS: dict[type[errors.SathubError], int] = {
    errors.InvalidInput: 400,
    errors.LoadError: 400,
    errors.OrbitError: 400,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.RangeNotSatisfiable: 416,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unauthorized: 401,
    errors.QuotaExceeded: 429,
    errors.IngestError: 422,
    errors.BackendUnavailable: 503,
    errors.BackendTimeout: 504,
}


def status_for(exc: errors.SathubError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return getattr(exc, "status_code", 500) if getattr(exc, "status_code", 500) != 500 else 400


BACKEND_NAMES = {"postgresql": "PostgreSQL", "s3": "the S3 object store"}


def _sathub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.SathubError)
    if isinstance(exc, errors.BackendUnavailable) and not isinstance(exc, errors.MissingTables):
        exc = errors.missing_schema(exc) or exc  # a store's wrapper around a missing table
    status = status_for(exc)
    headers = getattr(exc, "headers", None)
    return json_response(public_body(exc, f"{request.method} {request.url.path}"), status=status,
                         headers=headers)  # fmt: skip


def public_body(exc: errors.SathubError, where: str) -> dict[str, Any]:
    """The error's answer. A backend's own words name its address (S3: endpoint, bucket, prefix
    and key; PostgreSQL: host, port, user): the server's log has them, the caller learns only
    which backend failed (a timeout's answer names its setting, nothing of the server)."""
    body = exc.to_dict()
    if isinstance(exc, errors.BackendUnavailable) and not isinstance(
            exc, (errors.BackendTimeout, errors.MissingTables)):  # those name no address
        log.warning("%s: %s", where, exc)
        name = BACKEND_NAMES.get(exc.backend, exc.backend)
        body["description"] = f"{name} is unavailable or failed; try again later"
    return body


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    from sathub.api.gate import refusal

    refused = refusal(request)  # the gate first: a caller it refuses learns nothing of the body
    if refused is not None:
        return _sathub_error(request, refused)
    details: list[dict[str, Any]] = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
        details.append({"field": ".".join(loc) or "body", "reason": e.get("msg", "invalid")})
    first = details[0] if details else {"field": "body", "reason": "invalid request"}
    return json_response(
        {"code": "InvalidInput", "description": f"{first['field']}: {first['reason']}",
         "field": first["field"], "errors": details},
        status=400,
    )  # fmt: skip


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "InvalidInput", 404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
    return json_response(
        {"code": code, "description": str(exc.detail)},
        status=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _unexpected(request: Request, exc: Exception) -> Response:
    missing = errors.missing_schema(exc)  # sathub's tables dropped under the server: a 503
    if missing is not None:
        log.error("%s %s: %s", request.method, request.url.path, missing.message)
        return _sathub_error(request, missing)
    # called by the exception handler, not inside an ``except``: the traceback given explicitly
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response(
        {"code": "InternalError", "description": "an unexpected error occurred; it was logged"},
        status=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.SathubError, _sathub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    try:  # raised inside a route: answered here, before Starlette's error middleware
        from psycopg import errors as pgerrors
    except ImportError:
        return
    for cls in (pgerrors.UndefinedTable, pgerrors.InvalidSchemaName, pgerrors.UndefinedFunction):
        app.add_exception_handler(cls, _unexpected)
