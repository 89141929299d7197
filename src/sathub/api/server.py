"""Run the API with uvicorn."""

from __future__ import annotations

import uvicorn
from rich.console import Console

from sathub.app import Installation


def serve(inst: Installation, *, log_level: str = "warning") -> None:
    """Serve an installation until interrupted; print the URL first."""
    from sathub.api.app import create_app

    settings = inst.settings
    app = create_app(inst)
    host = settings.host
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host
    console = Console(stderr=True)
    if settings.dev_open_writes:
        console.print("[bold red]WARNING: development mode (SATHUB_DEV_OPEN_WRITES): callers "
                      "WITHOUT A KEY MAY WRITE to this installation. Never use it on a network.[/]")  # fmt: skip
    console.print(f"[bold green]sathub[/] serving [cyan]{settings.data}[/] at "
                  f"[bold]http://{shown}:{settings.port}{settings.root_path}/[/]")  # fmt: skip
    root = f"http://{shown}:{settings.port}{settings.root_path}"
    console.print(f"  map viewer: {root}/viewer   STAC Browser: {root}/browser/   API docs: {root}/api.html")
    uvicorn.run(
        app,
        host=host,
        port=settings.port,
        log_level=log_level,
        # X-Forwarded-* are believed only from SATHUB_TRUSTED_PROXIES (TrustedProxyMiddleware)
        proxy_headers=False,
        root_path=settings.root_path,
    )
