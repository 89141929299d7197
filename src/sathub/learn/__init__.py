"""The learning path (``tutorials/``): where the tutorials and their data are, and the two
helpers the notebooks use to run ``sathub`` as a learner types it in a terminal.

Nothing here downloads anything: the tutorials read the demo archive (``SATHUB_DATA``) and the
real public sample files (``SATHUB_SAMPLE_DATA``, by default ``shared/data`` beside the
repository). See docs/tutorials.md.
"""

from __future__ import annotations

import atexit
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

from sathub.config import Settings

REPO = Path(__file__).resolve().parents[3]


def tutorials_dir(settings: Settings | None = None) -> Path:
    """The folder of the tutorial sources (``SATHUB_TUTORIALS``, else ``tutorials/`` of the
    repository this package runs from)."""
    s = settings or Settings()
    return s.tutorials if s.tutorials is not None else REPO / "tutorials"


def sample_data(settings: Settings | None = None) -> Path:
    """The folder of real public sample files (``SATHUB_SAMPLE_DATA``, else ``shared/data``
    beside the repository)."""
    s = settings or Settings()
    return s.sample_data if s.sample_data is not None else REPO.parent / "shared" / "data"


def learn_dir(settings: Settings | None = None) -> Path:
    """Where the rendered tutorials (HTML with outputs) are kept and served from at ``/learn``."""
    s = settings or Settings()
    return s.learn_dir if s.learn_dir is not None else s.data / "learn"


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv and argv[0] == "sathub":  # the entry point of this environment, not whatever is on PATH
        argv[0] = str(Path(sys.executable).with_name("sathub"))
    return argv


def _quiet(text: str) -> str:
    """stderr without progress-bar frames (they are redrawn in a terminal, repeated here)."""
    lines = [ln for ln in text.splitlines() if "\x1b[?25" not in ln and "━" not in ln]
    return "\n".join(ln for ln in lines if ln.strip()).rstrip()


def sh(command: str, expect: int = 0, show: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as a terminal would (``sathub …`` is this environment's sathub), print what
    it printed, and fail unless its exit status is ``expect``."""
    env = {**os.environ, "COLUMNS": "150"}  # tables as wide as a notebook cell, not 80 columns
    done = subprocess.run(_argv(command), capture_output=True, text=True, timeout=600, env=env)
    if show:
        print(f"$ {command}")
        if done.stdout:
            print(done.stdout.rstrip())
        if done.stderr:
            print(_quiet(done.stderr))
        print(f"(exit status {done.returncode})")
    if done.returncode != expect:
        raise RuntimeError(f"{command!r} exited with {done.returncode}, expected {expect}:\n"
                           f"{done.stderr}")  # fmt: skip
    return done


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_STARTED: list[subprocess.Popen[bytes]] = []


def _stop_all() -> None:
    for proc in _STARTED:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


atexit.register(_stop_all)


def background(command: str, ready: str, timeout: float = 60) -> subprocess.Popen[bytes]:
    """Start ``command`` (e.g. ``sathub serve …``) in the background and wait until ``ready``
    (a URL) answers. The process is stopped when the kernel exits, or by ``.terminate()``."""
    import httpx  # the learn and test extras (not needed to serve /learn)

    proc = subprocess.Popen(_argv(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _STARTED.append(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{command!r} stopped with {proc.returncode}: {err}")
        try:
            if httpx.get(ready, timeout=2).status_code < 500:
                print(f"$ {command} &   # ready at {ready}")
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{command!r} did not answer at {ready} within {timeout} s")


__all__ = ["background", "free_port", "learn_dir", "sample_data", "sh", "tutorials_dir"]
