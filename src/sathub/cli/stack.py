"""``sathub stack up``: the whole scale-out stack on this machine, for development and CI."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer

from sathub.cli.common import err, failed, sub_app

stack_app = sub_app("The scale-out stack on one machine (development and CI).")


@stack_app.command("up")
def up(
    root: Annotated[Path | None, typer.Option(
        "--dir", help="Directory of the stack's data, database, logs (default: a new temporary "
        "directory, removed at the end).", show_default=False)] = None,
    api_servers: Annotated[int, typer.Option(
        "--api-servers", min=1, max=16, help="API server processes behind nginx.")] = 2,
    dask_workers: Annotated[int, typer.Option(
        "--dask-workers", min=1, max=64, help="Dask worker processes.")] = 2,
) -> None:
    """Start PostgreSQL (pgstac) in a directory, the S3 server (moto), a Dask scheduler and
    workers, API servers sharing one installation and nginx in front of them; print the URLs
    and an admin key; stop everything on Ctrl-C (docs/deploy.md)."""
    import shutil

    from sathub.access import keys
    from sathub.app import Installation
    from sathub.stack.up import Stack

    made = root is None
    base = Path(tempfile.mkdtemp(prefix="sathub-stack-")) if root is None else root
    stack = Stack(base, api_servers=api_servers, dask_workers=dask_workers)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.start(say=lambda msg: err.print(msg))
        with Installation.open(stack.settings()) as inst:
            token = keys.issue(inst.access.store, "admin", None, label="sathub stack up")[0]
        for name, url in stack.urls().items():
            print(f"{name:16} {url}")
        print(f"{'admin key':16} {token}")
        print(f"{'logs':16} {base}")
        err.print("Ctrl-C stops everything")
        while not stop.wait(0.5):
            pass
    except (RuntimeError, OSError) as exc:
        failed(f"the stack did not start: {exc}")
    finally:
        err.print("stopping")
        stack.stop()
        if made:
            shutil.rmtree(base, ignore_errors=True)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
