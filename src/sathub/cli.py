"""The ``sathub`` command line. Each domain registers its own commands here."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

from sathub.catalog import cli as catalog_cli
from sathub.config import Settings

app = typer.Typer(
    name="sathub",
    help="sathub: a satellite data center in a box.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

catalog_cli.register(app)


@app.callback()
def _input_limits() -> None:
    # the process-wide geometry limit from SATHUB_MAX_GEOMETRY_VERTICES (docs/security.md)
    from pydantic import ValidationError

    from sathub.catalog import geometry

    try:
        limit = Settings().max_geometry_vertices
    except ValidationError:  # a bad setting: the command itself names it (exit 2)
        return
    geometry.configure(max_vertices=limit)


@app.command()
def serve(
    data: catalog_cli.DataOpt = Path("sathub-data"),
    host: Annotated[str, typer.Option(envvar="SATHUB_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SATHUB_PORT")] = 8080,
    root_path: Annotated[
        str, typer.Option(envvar="SATHUB_ROOT_PATH", help="Path prefix behind a reverse proxy.")
    ] = "",
) -> None:
    """Serve a data directory: STAC API, downloads, tiles, viewer."""
    from sathub.api.server import serve as run
    from sathub.app import Installation
    from sathub.clitools import fail
    from sathub.errors import SathubError

    try:
        inst = Installation.open(Settings(data=data, host=host, port=port, root_path=root_path))
        inst.access  # noqa: B018 - unusable access or audit settings are an error now, not later
    except SathubError as exc:
        raise fail(exc.message, 2) from None
    run(inst)


# Each domain package exposes ``register(app)`` in its own ``cli`` module.
for _module in ("sathub.ingest.cli", "sathub.orbits.cli", "sathub.access.cli", "sathub.analytics.cli",
                "sathub.budget.cli"):
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # the domain is not installed in this build
        if exc.name is None or not _module.startswith(exc.name):
            raise
        continue
    _mod.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
