"""Catalog commands: ``init``, ``load``, ``search``, ``stats``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import SathubError

err = Console(stderr=True)
out = Console()

DataOpt = Annotated[
    Path,
    typer.Option("--data", "-d", envvar="SATHUB_DATA", help="The data directory."),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def open_store(data: Path) -> CatalogStore:
    """The catalog of the installation at ``data`` (exit 2 if it is not a data directory)."""
    from sathub.app import Installation

    try:
        return Installation.open(Settings(data=data)).catalog
    except SathubError as exc:
        fail(exc.message)


def init(
    data: Annotated[Path, typer.Argument(envvar="SATHUB_DATA", help="Directory to create.")],
) -> None:
    """Create a data directory (idempotent): catalog database, assets, staging, secrets."""
    from sathub.app import Installation
    from sathub.config import load_settings

    try:
        settings = load_settings(data=data)
        inst = Installation.create(settings)
        with inst:
            admin_key = inst.access.bootstrap()  # None on a re-run: shown only once
    except SathubError as exc:  # not a place for a data directory, an unusable audit setting
        fail(exc.message)
    if admin_key is not None:
        err.print("first admin API key (shown once; keep it safe): ", end="")
        err.print(admin_key, markup=False, highlight=False, soft_wrap=True)
    err.print(f"[green]ready:[/] {data.resolve()}")


def load(
    files: Annotated[list[Path], typer.Argument(help=".json, .ndjson or stac-geoparquet files")],
    data: DataOpt = Path("sathub-data"),
    collection: Annotated[
        str | None, typer.Option(help="Put every item into this collection.")
    ] = None,
) -> None:
    """Bulk-load collections and items (upsert; each file all-or-nothing)."""
    from sathub.catalog.loader import load_file

    store = open_store(data)
    failures: list[str] = []
    total_items = total_colls = 0
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("items"), TimeElapsedColumn(), console=err, transient=False,
    ) as progress:  # fmt: skip
        for path in files:
            task = progress.add_task(path.name, total=None)

            def advance(n: int, t: TaskID = task) -> None:
                progress.advance(t, n)

            try:
                stats = load_file(store, path, collection=collection, progress=advance)
            except SathubError as exc:
                failures.append(exc.message)
                progress.update(task, description=f"[red]{path.name} (failed, rolled back)")
                continue
            total_items += stats.items
            total_colls += stats.collections
            progress.update(task, total=stats.items, completed=stats.items)
    err.print(f"loaded {total_colls} collection(s), {total_items} item(s) from "
              f"{len(files) - len(failures)} file(s)")  # fmt: skip
    if failures:
        for f in failures:
            err.print(f"[red]failed:[/] {f}", soft_wrap=True)
        raise typer.Exit(1)


def search(
    data: DataOpt = Path("sathub-data"),
    collections: Annotated[str | None, typer.Option(help="Comma-separated collection ids")] = None,
    bbox: Annotated[str | None, typer.Option(help="west,south,east,north")] = None,
    datetime: Annotated[str | None, typer.Option(help="Instant or interval a/b, ../b, a/..")] = None,
    filter: Annotated[str | None, typer.Option("--filter", help="CQL2-text filter")] = None,
    sortby: Annotated[str | None, typer.Option(help="e.g. -datetime,+eo:cloud_cover")] = None,
    limit: int = 10,
    format: Annotated[str, typer.Option("--format", help="table or geojson")] = "table",
) -> None:
    """Search the catalog and print a table or a GeoJSON FeatureCollection."""
    from sathub.catalog.cql2input import FilterLimits
    from sathub.catalog.params import build_query

    store = open_store(data)
    params = {"collections": collections, "bbox": bbox, "datetime": datetime,
              "filter": filter, "sortby": sortby, "limit": limit}  # fmt: skip
    try:
        query = build_query({k: v for k, v in params.items() if v is not None}, default_limit=10,
                            max_limit=100_000, filter_limits=FilterLimits.of(Settings(data=data)))  # fmt: skip
        result = store.search(query)
    except SathubError as exc:
        fail(exc.message)
        return
    if format == "geojson":
        fc = {"type": "FeatureCollection", "features": result.items,
              "numberMatched": result.matched, "numberReturned": len(result.items)}  # fmt: skip
        sys.stdout.write(orjson.dumps(fc).decode() + "\n")
        return
    if format != "table":
        fail("--format must be table or geojson")
    table = Table("collection", "id", "datetime", "cloud %")
    for it in result.items:
        p = it.get("properties", {})
        cc = p.get("eo:cloud_cover")
        table.add_row(it.get("collection", ""), it["id"],
                      str(p.get("datetime") or p.get("start_datetime")),
                      "" if cc is None else f"{cc:.1f}")  # fmt: skip
    out.print(table)
    est = " (estimate)" if result.matched_is_estimate else ""
    err.print(f"{len(result.items)} shown, {result.matched} matched{est}")


def stats(
    data: DataOpt = Path("sathub-data"),
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Print the number of items per collection."""
    store = open_store(data)
    counts = store.counts()
    if format == "json":
        sys.stdout.write(orjson.dumps(counts).decode() + "\n")
        return
    table = Table("collection", "items")
    for cid, n in counts.items():
        table.add_row(cid, f"{n:,}")
    table.add_row("[bold]total", f"[bold]{sum(counts.values()):,}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(load)
    app.command()(search)
    app.command()(stats)
