"""The ``sathub`` command line: one module per domain under ``sathub.cli``, their shared
options, output and exit codes in :mod:`sathub.cli.common`. Every command that works on an
installation gets it from :class:`sathub.app.Installation` (docs/cli.md lists them all)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from sathub.cli import (
    access,
    analytics,
    audit,
    budget,
    budget_reports,
    catalog,
    ingest,
    learn,
    migrate,
    orbits,
    orders,
    serve,
    stack,
)
from sathub.cli.common import SathubGroup

app = typer.Typer(
    name="sathub",
    cls=SathubGroup,
    help="sathub: a satellite data center in a box.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def sathub_version() -> str:
    try:
        return version("sathub")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"sathub {sathub_version()}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """sathub: a satellite data center in a box."""
    _input_limits()


def _input_limits() -> None:
    # the process-wide geometry limit from SATHUB_MAX_GEOMETRY_VERTICES (docs/security.md)
    from pydantic import ValidationError

    from sathub.catalog import geometry
    from sathub.config import Settings

    try:
        limit = Settings().max_geometry_vertices
    except ValidationError:  # a bad setting: the command itself names it (exit 2)
        return
    geometry.configure(max_vertices=limit)


catalog.register(app)  # init, load, search, stats
ingest.register(app)  # ingest, verify
serve.register(app)  # serve, demo
orbits.register(app)  # passes, opportunities, design
orders.register(app)  # orders
access.register(app)  # orgs, agreements, keys, collections, activations
audit.register(app)  # audit, usage
analytics.register(app)  # analytics
budget_reports.register(budget.app)
budget.register(app)  # budget
learn.register(app)  # learn
migrate.register(app)  # migrate
stack.register(app)  # stack up


def main() -> None:
    app()


if __name__ == "__main__":
    main()
