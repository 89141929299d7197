"""Executed notebooks → self-contained HTML pages (served at ``/learn``).

A small renderer instead of nbconvert: the page must work offline (nbconvert's templates load
require.js and MathJax from a CDN) and sathub only needs Markdown, code, text, tables and PNG
charts. Markdown is rendered by markdown-it-py with raw HTML disabled; code and text outputs are
escaped; images are embedded as ``data:`` URIs. HTML outputs (pandas and xarray tables) are kept
as the notebook produced them: the pages are rendered from sathub's own tutorials by the
operator, and served with a Content-Security-Policy that runs no script.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 980px; margin: 2rem auto; padding: 0 1rem;
       color: #1d2330; }
pre { background: #f5f6f8; padding: .6rem .8rem; overflow-x: auto; font-size: 13px; border-radius: 4px; }
pre.code { border-left: 3px solid #3465a4; }
pre.out { background: #fff; border-left: 3px solid #bbb; }
pre.err { background: #fff0f0; border-left: 3px solid #c00; }
div.out { overflow-x: auto; margin: .4rem 0 1rem; }
img { max-width: 100%; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 2px 6px; }
nav { font-size: 14px; margin-bottom: 1rem; }
"""


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _output(out: dict[str, Any]) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return f'<pre class="out">{html.escape(_ANSI.sub("", _text(out.get("text"))))}</pre>'
    if kind == "error":
        trace = _ANSI.sub("", "\n".join(out.get("traceback") or []))
        return f'<pre class="err">{html.escape(trace or out.get("ename", "error"))}</pre>'
    data = out.get("data") or {}
    if "image/png" in data:
        b64 = _text(data["image/png"]).replace("\n", "")
        return f'<div class="out"><img alt="figure" src="data:image/png;base64,{html.escape(b64)}"></div>'
    if "text/html" in data:
        return f'<div class="out">{_text(data["text/html"])}</div>'
    if "text/plain" in data:
        return f'<pre class="out">{html.escape(_ANSI.sub("", _text(data["text/plain"])))}</pre>'
    return ""


def title_of(nb: dict[str, Any]) -> str:
    """The first Markdown heading of the notebook."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in _text(cell.get("source")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "Tutorial"


_LOCAL_LINK = re.compile(r'href="([0-9]{2}_[a-z0-9_]+)\.md"')


def to_html(nb: dict[str, Any], index_href: str = "../learn") -> str:
    """One page: the notebook's Markdown, code and outputs."""
    parts: list[str] = []
    for cell in nb.get("cells", []):
        source = _text(cell.get("source"))
        if cell.get("cell_type") == "markdown":
            parts.append(_LOCAL_LINK.sub(r'href="\1"', _MD.render(source)))  # another tutorial's page
        elif cell.get("cell_type") == "code":
            parts.append(f'<pre class="code">{html.escape(source)}</pre>')
            parts.extend(_output(o) for o in cell.get("outputs", []))
    title = html.escape(title_of(nb))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} — sathub'
            f'</title><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<style>{CSS}</style></head><body><nav><a href="{html.escape(index_href)}">'
            f'← all tutorials</a></nav>{"".join(parts)}</body></html>')  # fmt: skip


def write(nb: dict[str, Any], name: str, out_dir: Path, seconds: float) -> Path:
    """Write ``name.html`` and record it in ``index.json`` (name, title, run time)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / f"{name}.html"
    page.write_text(to_html(nb), encoding="utf-8")
    index_file = out_dir / "index.json"
    index = json.loads(index_file.read_text()) if index_file.exists() else {}
    index[name] = {"title": title_of(nb), "seconds": round(seconds, 1)}
    index_file.write_text(json.dumps(dict(sorted(index.items())), indent=1))
    return page
