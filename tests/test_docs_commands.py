"""Docs that run: every ``sathub …`` command in a code block of README.md and docs/*.md runs,
page by page and in order, in a scratch directory holding the demo installation
(``demo-data/``, built at reduced size with its story) and the sample files the pages name
(docs/cli.md, "The examples are tested"). None may fail; ``# exit N`` commands must fail
with exactly that status; ``# long-running`` ones are started, answer over HTTP, and stop."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import SHARED, STAC, free_port, need_shared
from docs_support import Command, commands, pages, substitute
from typer.testing import CliRunner

PAGES = [p for p in pages() if commands(p)]
SAMPLES = {  # name in the scratch directory → source (docs/cli.md lists them)
    "eo.txt": SHARED / "orbits" / "eo_satellites_2025-10-04.txt",
    "stac/collection.json": STAC / "pgstac" / "naip" / "collection.json",
    "stac/items.ndjson": STAC / "pgstac" / "naip" / "items.ndjson",
    "incoming/LT52240631988227CUB02": SHARED / "imagery" / "landsat5_tm_RStoolbox",
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo installation at reduced size, its story run (as ``sathub demo`` leaves it)."""
    from test_analytics_support import demo_settings

    from sathub.app import Installation
    from sathub.app.story import run_story
    from sathub.config import Settings

    data = tmp_path_factory.mktemp("docs-template") / "demo-data"
    shutil.copytree(demo_settings().data, data)
    with Installation.open(Settings(data=data)) as inst:
        run_story(inst, workers=1)
    return data


def _scratch(root: Path, template: Path) -> Path:
    shutil.copytree(template, root / "demo-data")
    for name, source in SAMPLES.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    return root


def _in_process(cmd: Command, args: list[str], root: Path) -> tuple[int, str, str]:
    from sathub.cli import app

    r = CliRunner().invoke(app, args)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"{cmd}: raised {r.exception!r}\n{r.output}") from r.exception
    return r.exit_code, r.stdout, r.stderr


def _long_running(cmd: Command, args: list[str], root: Path) -> None:
    """Start it (on a free port), wait until it answers ``GET /``, stop it with Ctrl-C."""
    port = str(free_port())
    args = list(args)
    if "--port" in args:
        args[args.index("--port") + 1] = port
    else:
        args += ["--port", port]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATHUB_")}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("sathub")), *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"{cmd}: exited {proc.returncode} before serving\n{proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{cmd}: no answer on port {port}")
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _parses(cmd: Command, args: list[str]) -> None:
    """A command that needs a service the tests lack: it names a command of the program and
    its options and arguments parse (the command line's own parser), without running it."""
    import typer

    from sathub.cli import app

    node = typer.main.get_command(app)
    rest = list(args)
    name = "sathub"
    while (commands := getattr(node, "commands", None)) is not None:  # a group (typer's click)
        assert rest, f"{cmd}: names a group, not a command"
        name, rest = rest[0], rest[1:]
        assert name in commands, f"{cmd}: no command {name!r}"
        node = commands[name]
    try:
        node.make_context(name, rest)
    except Exception as exc:  # the parser's usage errors (typer vendors click)
        text = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        raise AssertionError(f"{cmd}: {text}") from None


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_command_of_the_page_runs(page: Path, template: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    need_shared()
    from sathub.ingest import demo

    root = _scratch(tmp_path, template)
    monkeypatch.chdir(root)
    for name in [k for k in os.environ if k.startswith("SATHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(demo, "SIZE", 300)  # a demo built here is as small as the template
    bound: dict[str, str] = {}
    for cmd in commands(page):
        args = substitute(cmd.args, bound)
        if cmd.needs:
            _parses(cmd, args)
            continue
        if cmd.long_running:
            _long_running(cmd, args, root)
            continue
        code, out, err = _in_process(cmd, args, root)
        assert code == cmd.exit_code, f"{cmd}\nexit {code}, expected {cmd.exit_code}\n{err}{out[-2000:]}"
        if cmd.exit_code:
            assert "error:" in err and "Traceback" not in err, f"{cmd}: {err}"
        if cmd.stdout_to:
            (root / cmd.stdout_to).write_text(out)
        if cmd.binds:
            value = out.strip()
            assert value and "\n" not in value, f"{cmd}: binds {cmd.binds} but printed {out!r}"
            bound[cmd.binds] = value


def test_the_pages_have_commands_and_use_the_conventions() -> None:
    """Every page with commands is run above; bound names are bound before they are used."""
    assert {p.name for p in PAGES} >= {"README.md", "access.md", "analytics.md", "budget.md",
                                       "catalog.md", "cli.md", "ingest.md", "orbits.md"}  # fmt: skip
    for page in PAGES:
        bound: set[str] = set()
        for cmd in commands(page):
            for name in re.findall(r"\b[A-Z][A-Z0-9]*_ID\b", " ".join(cmd.args)):
                assert name in bound, f"{cmd}: {name} is used before a command binds it (→ {name})"
            if cmd.binds:
                bound.add(cmd.binds)
            assert "…" not in cmd.text and "[--" not in cmd.text, f"{cmd}: not a runnable command"


def test_a_command_that_needs_a_service_is_checked_not_run(tmp_path: Path) -> None:
    """``needs:`` commands parse against the program (a wrong option or command fails the
    page) and are not run (nothing is created)."""
    from docs_support import parse

    ok = parse("x.md", 1, f"sathub init {tmp_path / 'd'}   # needs: PostgreSQL")
    _parses(ok, ok.args)
    assert not (tmp_path / "d").exists()
    for text in ("sathub init --bogus d   # needs: x", "sathub nosuch   # needs: x",
                 "sathub serve --port abc   # needs: x", "sathub budget years   # needs: x"):  # fmt: skip
        bad = parse("x.md", 1, text)
        with pytest.raises(AssertionError):
            _parses(bad, bad.args)
