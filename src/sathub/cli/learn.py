"""``sathub learn``: a local JupyterLab with the tutorials and the demo archive, or (``--render``)
execute every tutorial and write the pages ``/learn`` serves."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from sathub.cli.common import fail
from sathub.config import Settings

INSTALL_HINT = "install it with: pip install 'sathub[learn]' (in a clone: .venv/bin/pip install -e '.[learn]')"


def _env(settings: Settings) -> dict[str, str]:
    from sathub.learn import sample_data, tutorials_dir

    return {"SATHUB_DATA": str(settings.data.resolve()),
            "SATHUB_SAMPLE_DATA": str(sample_data(settings).resolve()),
            "SATHUB_TUTORIALS": str(tutorials_dir(settings).resolve())}  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command("learn")
    def learn(
        data: Annotated[Path | None, typer.Option("--data", envvar="SATHUB_DATA",
                                                  help="The demo archive the tutorials read.")] = None,  # fmt: skip
        port: Annotated[int, typer.Option(help="Port of JupyterLab.")] = 8888,
        render: Annotated[bool, typer.Option(
            "--render", help="Execute every tutorial and write the pages served at /learn.")] = False,  # fmt: skip
        only: Annotated[list[str] | None, typer.Option(
            "--only", help="With --render: this tutorial only (file name without .md).")] = None,  # fmt: skip
    ) -> None:
        """Learn sathub: JupyterLab with the tutorials and the demo archive (docs/tutorials.md)."""
        from sathub.learn import learn_dir, tutorials_dir

        settings = Settings(data=data) if data is not None else Settings()
        folder = tutorials_dir(settings)
        if not folder.is_dir():
            fail(f"no tutorials at {folder} (set SATHUB_TUTORIALS)", 2)
        from sathub.app.installation import is_data_directory

        if not is_data_directory(settings.data, settings):
            fail(f"no archive at {settings.data}: build the demo first with "
                 f"`sathub demo --data {settings.data} --no-serve`", 2)  # fmt: skip
        if render:
            try:
                from sathub.learn import render as page
                from sathub.learn.run import execute, sources
            except ModuleNotFoundError as exc:
                fail(f"rendering needs {exc.name}: {INSTALL_HINT}", 2)
            todo = [p for p in sources(folder) if not only or p.stem in only]
            if only and len(todo) != len(set(only)):
                fail(f"--only: no such tutorial among {[p.stem for p in sources(folder)]}", 2)
            out, failed = learn_dir(settings), 0
            for src in todo:
                try:
                    nb, seconds = execute(src, _env(settings), cwd=folder)
                except Exception as exc:  # noqa: BLE001 - reported per tutorial, the others still run
                    failed += 1
                    typer.echo(f"{src.stem}: FAILED: {str(exc)[-2000:]}", err=True)
                    continue
                typer.echo(f"{src.stem}: {seconds:.0f} s → {page.write(nb, src.stem, out, seconds)}")
            raise typer.Exit(1 if failed else 0)
        if importlib.util.find_spec("jupyterlab") is None or importlib.util.find_spec("jupytext") is None:
            fail(f"JupyterLab (with jupytext) is not installed: {INSTALL_HINT}", 2)
        from sathub.learn.run import sources, to_ipynb

        notebooks = learn_dir(settings) / "notebooks"  # the learner's copies; sources stay as they are
        notebooks.mkdir(parents=True, exist_ok=True)
        for src in sources(folder):
            if not (notebooks / f"{src.stem}.ipynb").exists():
                to_ipynb(src, notebooks / f"{src.stem}.ipynb")
        typer.echo(f"tutorials: {notebooks}\narchive: {settings.data}")
        argv = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebooks}",
                f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1"]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines run as root
            argv.append("--allow-root")
        raise typer.Exit(subprocess.call(argv, env={**os.environ, **_env(settings)}))
