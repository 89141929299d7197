"""The ``sathub`` command line. Each domain registers its own commands here."""

from __future__ import annotations

import importlib

import typer

from sathub.catalog import cli as catalog_cli

app = typer.Typer(
    name="sathub",
    help="sathub: a satellite data center in a box.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

catalog_cli.register(app)

# Each domain package exposes ``register(app)`` in its own ``cli`` module.
for _module in ("sathub.ingest.cli", "sathub.orbits.cli"):
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
