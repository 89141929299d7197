"""Executing a tutorial: jupytext reads the MyST text, nbclient runs it top to bottom in a fresh
Python kernel (this environment's), with the learner's environment variables set.

jupytext, nbclient and ipykernel are optional (the ``test`` and ``learn`` extras): importing
this module without them raises ModuleNotFoundError, which the CLI reports."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from nbclient import NotebookClient


def sources(folder: Path) -> list[Path]:
    """The tutorials of a folder, in their order (``NN_name.md``)."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.md") if p.is_file())


def execute(path: Path, env: dict[str, str], cwd: Path, cell_timeout: int = 300) -> tuple[Any, float]:
    """Run the tutorial at ``path``; returns the executed notebook and its run time in seconds.
    A failing cell raises nbclient's CellExecutionError; the notebook keeps the outputs so far."""
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})  # fmt: skip
    started = time.monotonic()
    client.execute(env={**os.environ, **env})
    return nb, time.monotonic() - started


def to_ipynb(path: Path, out: Path) -> Path:
    """A notebook file (``.ipynb``) of the tutorial, for Jupyter."""
    nb = jupytext.read(path)
    nbformat.write(nb, str(out))
    return out
