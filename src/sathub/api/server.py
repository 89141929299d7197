"""Run the API with uvicorn: in this process, or as several worker processes.

With ``workers > 1`` uvicorn's supervisor starts that many processes on one listening socket
(the kernel spreads connections over them) and restarts one that dies. Each worker builds its
own Installation from the environment (:func:`app_from_environment`): the settings given on
the command line are passed down as their ``SATHUB_*`` variables. Nothing a worker keeps in
memory is needed for correctness (docs/deploy.md, "Several API workers"): state lives in the
data directory or PostgreSQL, assets in the object store, and every cache is checked against
the shared state (the catalog generation, the access store's change counter, keys that name
an immutable object version).
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from rich.console import Console

from sathub.app import Installation

#: settings a worker process must see as its parent had them (given on the command line)
PASSED_DOWN = ("data", "host", "port", "root_path")


def app_from_environment() -> Any:
    """The app of one worker process: the Installation its ``SATHUB_*`` variables name."""
    from sathub.api.app import create_app
    from sathub.config import load_settings

    return create_app(Installation.open(load_settings()))


def serve(inst: Installation, *, log_level: str = "warning", workers: int = 1) -> None:
    """Serve an installation until interrupted; print the URL first. ``workers`` > 1: that
    many processes (``inst`` is closed first; each worker opens its own)."""
    from sathub.api.app import create_app

    settings = inst.settings
    host = settings.host
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host
    console = Console(stderr=True)
    if settings.dev_open_writes:
        console.print("[bold red]WARNING: development mode (SATHUB_DEV_OPEN_WRITES): callers "
                      "WITHOUT A KEY MAY WRITE to this installation. Never use it on a network.[/]")  # fmt: skip
    console.print(f"[bold green]sathub[/] serving [cyan]{settings.data}[/] at "
                  f"[bold]http://{shown}:{settings.port}{settings.root_path}/[/]"
                  + (f" ({workers} worker processes)" if workers > 1 else ""))  # fmt: skip
    root = f"http://{shown}:{settings.port}{settings.root_path}"
    console.print(f"  map viewer: {root}/viewer   STAC Browser: {root}/browser/   API docs: {root}/api.html")
    # X-Forwarded-* are believed only from SATHUB_TRUSTED_PROXIES (TrustedProxyMiddleware)
    common: dict[str, Any] = {"host": host, "port": settings.port, "log_level": log_level,
                              "proxy_headers": False, "root_path": settings.root_path}  # fmt: skip
    if workers <= 1:
        uvicorn.run(create_app(inst), **common)
        return
    for name in PASSED_DOWN:
        os.environ[f"SATHUB_{name.upper()}"] = str(getattr(settings, name))
    inst.close()
    uvicorn.run("sathub.api.server:app_from_environment", factory=True, workers=workers, **common)
