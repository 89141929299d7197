"""The tutorials, rendered with their outputs (``/learn``), for people without Jupyter.

Pages are written by ``sathub learn --render`` (or the tutorials test) into ``SATHUB_LEARN_DIR``
(default ``DATA/learn``) with an ``index.json``; this router only serves them. A page is served
only when the index names it, and with a Content-Security-Policy that runs no script (the pages
have none: :mod:`sathub.learn.render`)."""

from __future__ import annotations

import html
import json
import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from sathub.api.access import installation
from sathub.api.gate import requires
from sathub.errors import NotFound
from sathub.learn import learn_dir
from sathub.learn.render import CSS

router = APIRouter(include_in_schema=False, dependencies=[requires("public")])
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
           "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}  # fmt: skip
_NAME = re.compile(r"^[0-9]{2}_[a-z0-9_]{1,60}$")


def _index(request: Request) -> dict[str, dict[str, object]]:
    file = learn_dir(installation(request).settings) / "index.json"
    try:
        index = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in index.items() if isinstance(k, str) and _NAME.match(k) and isinstance(v, dict)}


@router.get("/learn", name="learn")
def learn_index(request: Request) -> Response:
    """The list of rendered tutorials."""
    index = _index(request)
    rows = "".join(f'<li><a href="learn/{html.escape(name)}">{html.escape(str(info.get("title", name)))}</a></li>'
                   for name, info in index.items())  # fmt: skip
    body = (f"<ol>{rows}</ol>" if rows else
            "<p>No tutorial has been rendered here yet. An operator renders them with "
            "<code>sathub learn --render</code> (see docs/tutorials.md); to run them yourself, "
            "<code>sathub learn</code> starts JupyterLab with them.</p>")  # fmt: skip
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tutorials — sathub</title>'
            f'<style>{CSS}</style></head><body><h1>Learn sathub</h1><p>Tutorials run against the '
            f'demo archive, shown here with their outputs.</p>{body}</body></html>')  # fmt: skip
    return HTMLResponse(page, headers=HEADERS)


@router.get("/learn/{name}", name="learn_page")
def learn_page(request: Request, name: str) -> Response:
    """One rendered tutorial (404 unless the index lists it)."""
    if name not in _index(request):
        raise NotFound(f"no tutorial {name!r}")
    file = learn_dir(installation(request).settings) / f"{name}.html"
    try:
        page = file.read_text(encoding="utf-8")
    except OSError:
        raise NotFound(f"no tutorial {name!r}") from None
    return HTMLResponse(page, headers=HEADERS)
