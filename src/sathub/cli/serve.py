"""``sathub serve`` and ``sathub demo``: serve an installation; build the demo one and serve it."""

from __future__ import annotations

from typing import Annotated

import typer

from sathub.cli.common import DEFAULT_DATA, DataOpt, err, failed
from sathub.errors import SathubError

HostOpt = Annotated[str | None, typer.Option(
    envvar="SATHUB_HOST", show_default=False, help="Address to listen on (default: 127.0.0.1).")]  # fmt: skip
PortOpt = Annotated[int | None, typer.Option(
    envvar="SATHUB_PORT", min=1, max=65535, show_default=False,
    help="Port to listen on (default: 8080).")]  # fmt: skip


def _listen(host: str | None, port: int | None, **extra: object) -> dict[str, object]:
    return {k: v for k, v in {"host": host, "port": port, **extra}.items() if v is not None}


def serve(
    data: DataOpt = DEFAULT_DATA,
    host: HostOpt = None,
    port: PortOpt = None,
    root_path: Annotated[str, typer.Option(
        envvar="SATHUB_ROOT_PATH", help="Path prefix behind a reverse proxy.")] = "",
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="API worker processes on the one port (uvicorn's supervisor restarts one that "
        "dies; docs/deploy.md).")] = 1,
) -> None:
    """Serve a data directory: STAC API, downloads, tiles, viewer (until interrupted)."""
    from sathub.api.server import serve as run
    from sathub.app import Installation
    from sathub.config import load_settings

    inst = Installation.open(load_settings(data=data, **_listen(host, port, root_path=root_path)))
    inst.access  # noqa: B018 - unusable access or audit settings are an error now, not later
    run(inst, workers=workers)


def demo(
    data: DataOpt = DEFAULT_DATA,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same archive).")] = 42,
    serve: Annotated[bool, typer.Option(help="Serve the archive when built.")] = True,
    host: HostOpt = None,
    port: PortOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes writing COGs.")] = 2,
    story: Annotated[bool, typer.Option(
        help="Run the story's analytics: rice NDVI per field and month, the peak-NDVI "
        "composite, the delta flood's extent and area (derived items, on the map).")] = True,
) -> None:
    """Build the demo installation (a synthetic Myanmar archive: rice near Mandalay, a delta
    flood; and a programme budget) in a data directory, created if needed, and serve it."""
    from sathub.api.server import serve as serve_api
    from sathub.app import Installation
    from sathub.app.demo import build
    from sathub.app.story import describe, run_story
    from sathub.cli.ingest import run_ingest
    from sathub.config import load_settings

    inst = Installation.create(load_settings(data=data, **_listen(host, port)))
    built = build(inst, seed=seed, workers=workers, say=err.print, ingest=run_ingest)
    print(built.summary())
    if not built.ok:
        failed("the demo archive did not ingest completely")
    if story:
        err.print("running the demo story's analytics (rice NDVI, delta flood)")
        try:
            print(describe(run_story(inst, workers=workers)))
        except SathubError as exc:
            failed(f"demo story: {exc.message}")
    if serve:
        serve_api(inst)
    inst.close()


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(demo)

