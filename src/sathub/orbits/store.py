"""Tiny JSON-file persistence for the orbit registry and the order book.

One file per kind in ``<data>/orbits/``; every write goes to a temporary file that replaces
the old one atomically. Fine for one writer (the CLI or a single API worker); a multi-worker
deployment should move these tables into the catalog database.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def orbits_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / "orbits"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(value, fh, indent=1, default=str)
    os.replace(tmp, path)
