"""The tutorials (``tutorials/*.md``, jupytext MyST) run top to bottom against a fresh demo archive
and the real sample data, exercises and their checks included; the pages they render are served
at ``/learn``; and they only use ``sathub`` commands, options and API routes that the user guide
(README.md, docs/) or the OpenAPI document describes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jupytext
import pytest
from conftest import REPO, SHARED, need_shared

from sathub.learn.run import sources

TUTORIALS = sources(REPO / "tutorials")
NAMES = [p.stem for p in TUTORIALS]
# Execution budget per tutorial (seconds, wall clock, on a busy 2-core CI machine: each runs in
# 40–60 s there; see docs/tutorials.md). A tutorial over budget fails: learners wait too.
BUDGET_S = 240
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _code(path: Path) -> list[str]:
    return [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]


def _markdown(path: Path) -> str:
    return "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "markdown")


def _user_guide() -> str:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return re.sub(r"\s+", " ", "\n".join(f.read_text(encoding="utf-8") for f in files))


# --------------------------------------------------------------------------- structure (cheap)
def test_there_are_tutorials() -> None:
    assert {"01_first_archive", "02_rice_ndvi", "03_flood_mapping", "04_satellites", "05_sharing",
            "06_budget"} <= set(NAMES)


@pytest.mark.parametrize("path", TUTORIALS, ids=NAMES)
def test_tutorial_states_goals_prerequisites_duration_and_checks_an_exercise(path: Path) -> None:
    text = _markdown(path)
    for part in ("**Learning goals.**", "**Prerequisites.**", "**Expected duration:**"):
        assert part in text, f"{path.name}: no {part}"
    cells = jupytext.read(path).cells
    at = next((n for n, c in enumerate(cells)
               if c.cell_type == "markdown" and re.search(r"^## Exercise", c.source, re.M)), None)  # fmt: skip
    assert at is not None, f"{path.name}: no '## Exercise' section"
    checks = [c.source for c in cells[at:] if c.cell_type == "code" and re.search(r"^assert ", c.source, re.M)]
    assert checks, f"{path.name}: the exercise is not checked (no assert after '## Exercise')"


# ------------------------------------------------- only documented commands, options and routes
_CMD = re.compile(r"\bsathub((?:[ \t]+[a-z][a-z0-9-]*)+)")
_OPT = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_ROUTE = re.compile(r"\{URL\}(/[^\"'\s?#]*)")


def _commands(source: str) -> list[tuple[str, list[str]]]:
    """(command words, its options) of each ``sathub …`` call in a code cell; options run up to
    the next call (an f-string continued on the next lines belongs to the same call)."""
    found = list(_CMD.finditer(source))
    out = []
    for n, m in enumerate(found):
        end = found[n + 1].start() if n + 1 < len(found) else len(source)
        out.append((" ".join(m.group(1).split()), _OPT.findall(source[m.end():end])))
    return out


def _click_command(words: str) -> tuple[Any, str]:
    """The click command of ``words`` (``orders status acquired`` → the ``status`` command;
    the remaining words are arguments)."""
    import typer

    from sathub.cli import app

    cmd: Any = typer.main.get_command(app)
    name = []
    for word in words.split():
        sub = getattr(cmd, "commands", {}).get(word)
        if sub is None:
            break
        cmd, name = sub, [*name, word]
    return cmd, " ".join(name)


@pytest.mark.parametrize("path", TUTORIALS, ids=NAMES)
def test_tutorial_calls_only_documented_commands_and_options(path: Path) -> None:
    guide = _user_guide()
    calls = [c for src in _code(path) for c in _commands(src)]
    assert calls, f"{path.name} runs no sathub command"
    for words, options in calls:
        cmd, name = _click_command(words)
        assert name, f"{path.name}: 'sathub {words}' is not a command"
        assert f"sathub {name}" in guide, f"{path.name}: 'sathub {name}' appears nowhere in README.md or docs/"
        known = {o for p in cmd.params for o in p.opts}
        for opt in options:
            assert opt in known, f"{path.name}: 'sathub {name}' has no option {opt}"
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", guide), (
                f"{path.name}: option {opt} of 'sathub {name}' appears nowhere in README.md or docs/")


def _route_regex(path: str) -> str:
    return "".join("[^/\\s`\"']+" if re.fullmatch(r"\{[^}]*\}", seg) else re.escape(seg)
                   for seg in re.split(r"(\{[^}]*\})", path))  # fmt: skip


@pytest.mark.parametrize("path", TUTORIALS, ids=NAMES)
def test_tutorial_calls_only_documented_routes(path: Path, tmp_path: Path) -> None:
    from sathub.api.app import create_app
    from sathub.config import Settings

    documented = list(create_app(Settings(data=tmp_path / "data")).openapi()["paths"])
    guide = _user_guide()
    for src in _code(path):
        for route in _ROUTE.findall(src):
            pattern = _route_regex(route)
            in_openapi = any(re.fullmatch(pattern, re.sub(r"\{[^}]*\}", "x", p)) or re.fullmatch(
                _route_regex(p), re.sub(r"\{[^}]*\}", "x", route)) for p in documented)  # fmt: skip
            assert in_openapi or re.search(pattern + r"(?![\w/])", guide), (
                f"{path.name}: route {route} is neither in the OpenAPI document nor in README.md/docs")


def test_the_route_check_can_fail() -> None:
    """The checks above refuse what is not documented (guards against a regex that matches
    nothing)."""
    guide = _user_guide()
    assert _commands('sh(f"sathub orders status {ORDER} acquired --item-id X --data {DATA}")') == [
        ("orders status", ["--item-id", "--data"])]
    assert _click_command("orders status acquired")[1] == "orders status"
    assert _click_command("no-such-command")[1] == ""
    assert not re.search(_route_regex("/no/such/{thing}") + r"(?![\w/])", guide)
    assert re.search(_route_regex("/collections/{c}/items/{i}") + r"(?![\w/])", guide)
    assert _ROUTE.findall('c.get(f"{URL}/collections/{RICE}/items/{item_id}")') == [
        "/collections/{RICE}/items/{item_id}"]


# ------------------------------------------------------------------ execution and /learn pages
@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every tutorial executed once, against a fresh demo archive (reduced size), its page
    rendered into a learn directory: name → (notebook, seconds) or the exception."""
    need_shared()
    from test_analytics_support import demo_settings

    from sathub.learn import render
    from sathub.learn.run import execute

    settings = demo_settings()
    out = tmp_path_factory.mktemp("learn")
    env = {"SATHUB_DATA": str(settings.data), "SATHUB_SAMPLE_DATA": str(SHARED)}
    results: dict[str, Any] = {"_learn_dir": out, "_settings": settings}
    for path in TUTORIALS:
        try:
            nb, seconds = execute(path, env, cwd=REPO / "tutorials", cell_timeout=BUDGET_S)
        except Exception as exc:  # noqa: BLE001 - reported by the tutorial's own test
            results[path.stem] = exc
            continue
        render.write(nb, path.stem, out, seconds)
        results[path.stem] = (nb, seconds)
    return results


@pytest.mark.parametrize("name", NAMES)
def test_tutorial_runs_top_to_bottom_within_budget(executed: dict[str, Any], name: str) -> None:
    got = executed[name]
    if isinstance(got, Exception):
        pytest.fail(f"{name} failed: {_ANSI.sub('', str(got))[-3000:]}")
    nb, seconds = got
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    last = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "correct:" in last, f"{name}: the exercise check printed no 'correct:'"
    assert seconds < BUDGET_S, f"{name} took {seconds:.0f} s (budget {BUDGET_S} s)"
    print(f"{name}: {seconds:.1f} s")


def test_learn_serves_the_rendered_pages(executed: dict[str, Any], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sathub.api.app import create_app
    from sathub.config import Settings

    ran = [n for n in NAMES if not isinstance(executed[n], Exception)]
    assert ran == NAMES
    settings = Settings(data=tmp_path / "data", learn_dir=executed["_learn_dir"])
    with TestClient(create_app(settings)) as client:
        index = client.get("/learn")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        for name in NAMES:
            assert f'href="learn/{name}"' in index.text
            page = client.get(f"/learn/{name}")
            assert page.status_code == 200
            assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none'
            assert "<script" not in page.text.lower()
            assert "correct:" in page.text  # the outputs are there, the exercise's included
            title = jupytext.read(REPO / "tutorials" / f"{name}.md").cells[0].source.splitlines()[0]
            assert f"<h1>{title[2:]}</h1>" in page.text
        assert 'src="data:image/png;base64,' in client.get("/learn/01_first_archive").text  # the NDVI map
        for bad in ["99_missing", "..%2Findex.json", "index.json", "01_first_archive.html"]:
            assert client.get(f"/learn/{bad}").status_code == 404, bad


def test_learn_without_rendered_pages_says_how_to_render(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sathub.api.app import create_app
    from sathub.config import Settings

    with TestClient(create_app(Settings(data=tmp_path / "data"))) as client:
        r = client.get("/learn")
        assert r.status_code == 200 and "sathub learn --render" in r.text
        assert client.get("/learn/01_first_archive").status_code == 404


def test_renderer_escapes_markdown_html_and_code() -> None:
    from sathub.learn.render import to_html

    nb = {"cells": [
        {"cell_type": "markdown", "source": "# T <script>alert(1)</script>\n[next](05_sharing.md)"},
        {"cell_type": "code", "source": "print('<b>')", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "<img src=x onerror=alert(1)>"}]},
    ]}  # fmt: skip
    page = to_html(nb)
    assert "<script>" not in page and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page
    assert 'href="05_sharing"' in page  # links between tutorials point at their pages


# --------------------------------------------------------------------------------- sathub learn
def test_learn_command_explains_how_to_get_jupyter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from conftest import new_installation
    from typer.testing import CliRunner

    from sathub.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["learn", "--data", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "sathub demo" in missing.output
    data = tmp_path / "data"
    new_installation(data)
    bad = runner.invoke(app, ["learn", "--data", str(data), "--render", "--only", "99_nope"])
    assert bad.exit_code == 2 and "--only" in bad.output
    find_spec = importlib.util.find_spec  # JupyterLab is not installed (it is not in the test extra)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jupyterlab" else find_spec(name, *a))  # fmt: skip
    r = runner.invoke(app, ["learn", "--data", str(data)])
    assert r.exit_code == 2, r.output
    assert "sathub[learn]" in r.output
