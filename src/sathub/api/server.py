"""Run the API with uvicorn."""

from __future__ import annotations

import uvicorn
from rich.console import Console

from sathub.config import Settings


def serve(settings: Settings, *, log_level: str = "warning") -> None:
    """Serve the data directory's catalog until interrupted; print the URL first."""
    from sathub.api.app import create_app

    settings.layout.create()
    app = create_app(settings)
    host = settings.host
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host
    console = Console(stderr=True)
    console.print(f"[bold green]sathub[/] serving [cyan]{settings.data}[/] at "
                  f"[bold]http://{shown}:{settings.port}{settings.root_path}/[/]")  # fmt: skip
    console.print(f"  API docs: http://{shown}:{settings.port}{settings.root_path}/api.html")
    uvicorn.run(
        app,
        host=host,
        port=settings.port,
        log_level=log_level,
        proxy_headers=True,
        forwarded_allow_ips="*",
        root_path=settings.root_path,
    )
