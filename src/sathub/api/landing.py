"""The HTML landing page a browser gets at ``/``: what this installation holds and where to go
next (map viewer, STAC Browser, API docs, console). Clients keep the STAC landing page in JSON.

Content negotiation between ``application/json`` (the server's preference) and ``text/html``,
as RFC 9110 §12.5.1 has it: each is given the quality of the most specific media range of the
``Accept`` header that matches it; HTML wins only with a higher quality, or the same quality
from a more specific range (a browser's ``text/html,…,*/*;q=0.8``). ``curl`` (``*/*``),
pystac-client and other JSON clients get JSON, and so does a header that names both equally.
``?f=html`` and ``?f=json`` override the header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from fastapi.responses import HTMLResponse
from starlette.requests import Request

_Q = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")
Range = tuple[str, str, float]  # type, subtype, quality


def parse_accept(header: str) -> list[Range]:
    """Media ranges of an ``Accept`` header; a range with an invalid ``q`` is ignored."""
    out: list[Range] = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        kind, _, sub = fields[0].lower().partition("/")
        if not kind or not sub or (kind == "*" and sub != "*"):
            continue
        q: float | None = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                q = float(value.strip()) if _Q.match(value.strip()) else None
        if q is not None:
            out.append((kind, sub, q))
    return out


def _quality(ranges: list[Range], media: str) -> tuple[float, tuple[bool, bool]]:
    """(quality, specificity) of the most specific range matching ``media`` ((0, …) if none)."""
    kind, sub = media.split("/")
    best: tuple[float, tuple[bool, bool]] | None = None
    for r_kind, r_sub, q in ranges:
        if (r_kind, r_sub) == ("*", "*") or (r_kind == kind and r_sub in ("*", sub)):
            spec = (r_kind != "*", r_sub != "*")
            if best is None or (spec, q) > (best[1], best[0]):
                best = (q, spec)
    return best or (0.0, (False, False))


def wants_html(request: Request) -> bool:
    """True when the caller prefers HTML to JSON (see the module docstring)."""
    f = request.query_params.get("f")
    if f in ("html", "json"):
        return f == "html"
    ranges = parse_accept(request.headers.get("accept", ""))
    q_html, spec_html = _quality(ranges, "text/html")
    q_json, spec_json = _quality(ranges, "application/json")
    return q_html > 0 and (q_html, spec_html) > (q_json, spec_json)


def _period(coll: dict[str, Any]) -> str:
    try:
        start, end = coll["extent"]["temporal"]["interval"][0]
    except (KeyError, IndexError, TypeError, ValueError):
        return ""
    if not start and not end:
        return ""
    return f"{(start or '…')[:10]} – {(end or '…')[:10]}"


STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:8px 0}
nav{display:flex;flex-wrap:wrap;gap:12px;margin:20px 0}
nav a,nav span{display:block;padding:12px 16px;border:1px solid #ccd;border-radius:6px;background:#fff;
  text-decoration:none;color:#0645ad;min-width:160px}
nav span{color:#888}
nav small{display:block;color:#666}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e3e3;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
footer{margin-top:24px;color:#666;font-size:13px}
"""


def page(
    request: Request,
    base: str,
    title: str,
    description: str,
    collections: Sequence[dict[str, Any]],
    count: Callable[[str], int | None],
) -> HTMLResponse:
    """The landing page: ``collections`` are those the caller may see; ``count(id)`` the
    number of their items the caller may see (None when unknown)."""
    e = escape
    has_console = any(getattr(r, "path", None) == "/console" for r in request.app.routes)
    console = (
        f'<a href="{e(base)}console">Console<small>operations console</small></a>'
        if has_console
        else '<span id="console">Console<small>not installed yet (will be at /console)</small></span>'
    )
    rows = []
    total = 0
    for coll in collections:
        cid = str(coll["id"])
        n = count(cid)
        total += n or 0
        rows.append(
            "<tr>"
            f'<td><a href="{e(base)}browser/collections/{e(cid)}">{e(str(coll.get("title") or cid))}</a>'
            f"<br><small><code>{e(cid)}</code></small></td>"
            f'<td class="n">{"" if n is None else f"{n:,}"}</td>'
            f"<td>{e(_period(coll))}</td>"
            f'<td><a href="{e(base)}collections/{e(cid)}">JSON</a></td>'
            "</tr>"
        )
    table = (
        "<table><thead><tr><th>Collection</th><th>Items</th><th>Period</th><th>STAC</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No collections yet. Ingest scenes with <code>sathub ingest</code>.</p>"
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><link rel="icon" href="data:,">
<link rel="alternate" type="application/json" href="{e(base)}?f=json" title="STAC API landing page">
<style>{STYLE}</style></head>
<body><main>
<h1>{e(title)}</h1>
<p>{e(description)}</p>
<p id="summary">{len(collections)} collection{"" if len(collections) == 1 else "s"}, {total:,} item{"" if total == 1 else "s"}.</p>
<nav>
<a id="link-viewer" href="{e(base)}viewer">Map viewer<small>footprints and imagery on a map</small></a>
<a id="link-browser" href="{e(base)}browser/">STAC Browser<small>browse and search the catalog</small></a>
<a id="link-docs" href="{e(base)}api.html">API docs<small>OpenAPI, try it out</small></a>
<a id="link-stac" href="{e(base)}?f=json">STAC API<small>the landing page as JSON</small></a>
{console}
</nav>
<h2>Collections</h2>
{table}
<footer>STAC clients (pystac-client, QGIS, GDAL) use <code>{e(base)}</code> directly: it answers JSON
to anything that does not ask for HTML.</footer>
</main></body></html>"""
    return HTMLResponse(body, headers={"Vary": "Accept"})
