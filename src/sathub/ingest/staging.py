"""The staging area: one private directory per scene being ingested.

Each directory holds an ``.owner`` file with the writer's PID so that ``verify --repair``
removes only the leftovers of dead processes, never a running ingest's work.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

OWNER = ".owner"


def new_dir(staging_root: Path) -> Path:
    d = staging_root / f"ingest-{uuid.uuid4().hex}"
    d.mkdir(parents=True)
    (d / OWNER).write_text(str(os.getpid()))
    return d


def remove(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_dirs(staging_root: Path) -> list[Path]:
    """Staging directories whose writer is no longer running."""
    out: list[Path] = []
    if not staging_root.is_dir():
        return out
    for d in sorted(staging_root.iterdir()):
        try:
            pid = int((d / OWNER).read_text().strip())
        except (OSError, ValueError):
            out.append(d)
            continue
        if not pid_alive(pid):
            out.append(d)
    return out
