"""The web map viewer (``/viewer``), STAC Browser (``/browser/``, built offline and vendored),
their static files (``/static/…``, vendored MapLibre GL JS, swagger-ui and the Natural Earth
basemap, nothing from a CDN), and the OpenAPI docs page (``/api.html``) on the local
swagger-ui."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from sathub.api.gate import requires
from sathub.errors import NotFound
from sathub.storage.local import media_type_for, safe_path

router = APIRouter(include_in_schema=False, dependencies=[requires("public")])
STATIC = Path(__file__).resolve().parents[1] / "static"
BROWSER = STATIC / "vendor" / "stac-browser"
BROWSER_FILES = ("js/", "css/", "img/", "fonts/")  # build output; a missing one is a 404


@router.get("/viewer", name="viewer")
def viewer() -> Response:
    """The map viewer page."""
    return FileResponse(STATIC / "viewer" / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip


@router.get("/static/{path:path}", name="static")
def static(path: str) -> Response:
    """Files of the viewer and vendored libraries (path-checked inside ``api/static``)."""
    file = safe_path(STATIC, path)  # NotFound for anything outside
    media = media_type_for(file.name)
    if file.suffix == ".js":
        media = "text/javascript; charset=utf-8"
    elif file.suffix == ".css":
        media = "text/css; charset=utf-8"
    cache = "public, max-age=86400" if "/vendor/" in f"/{path}" else "no-cache"
    return FileResponse(file, media_type=media, headers={"Cache-Control": cache})


def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI served from the vendored swagger-ui-dist (works offline)."""
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} — API",
        swagger_js_url=f"{root}/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/vendor/swagger-ui/favicon-32x32.png",
    )


router.add_api_route("/api.html", docs_page, methods=["GET"], include_in_schema=False,
                     name="swagger_ui_html")  # the name stac-fastapi links to


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/browser", name="stac_browser_redirect")
def stac_browser_redirect(request: Request) -> Response:
    """STAC Browser lives under ``/browser/``."""
    return RedirectResponse(f"{_root(request)}/browser/", status_code=308)


@router.get("/browser/{path:path}", name="stac_browser")
def stac_browser(request: Request, path: str) -> Response:
    """STAC Browser: a file of its build, or its page for any of its routes (history mode).

    The page gets ``<base href="{root}/browser/">`` (the build's URLs are relative) and sathub's
    run-time configuration (``static/browser/config.js``: the catalog is this server's root)."""
    if path and path != "index.html":
        try:
            return static(f"vendor/stac-browser/{path}")
        except NotFound:
            if path.startswith(BROWSER_FILES):
                raise
    root = _root(request)
    page = (BROWSER / "index.html").read_text(encoding="utf-8")
    head = (f'<head><base href="{escape(root)}/browser/"><link rel="icon" href="data:,">'
            f'<script src="{escape(root)}/static/browser/config.js"></script>')  # fmt: skip
    return HTMLResponse(page.replace("<head>", head, 1), headers={"Cache-Control": "no-cache"})
