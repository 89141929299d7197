"""Catalog commands: ``sathub init``, ``load``, ``search``, ``stats``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from sathub.cli.common import (
    DEFAULT_DATA,
    Col,
    DataOpt,
    FormatOpt,
    emit,
    err,
    failed,
    installation,
    print_json,
    split,
)
from sathub.errors import InvalidInput, SathubError


def init(
    data: Annotated[Path, typer.Argument(envvar="SATHUB_DATA", help="Directory to create.")],
) -> None:
    """Create a data directory: catalog and access databases, assets, staging, secrets, and
    the first admin API key (printed once). Running it again changes nothing."""
    from sathub.app import Installation
    from sathub.config import load_settings

    settings = load_settings(data=data)
    try:
        inst = Installation.create(settings)
    except OSError as exc:  # e.g. a read-only file system
        raise InvalidInput(f"cannot create {data}: {exc.strerror or exc}", field="data") from None
    with inst:
        admin_key = inst.access.bootstrap()  # None on a re-run: the first key is shown once
    if admin_key is not None:
        err.print("first admin API key (shown once; keep it safe): ", end="")
        err.print(admin_key, markup=False)
    err.print(f"[green]ready:[/] {data.resolve()}")


def load(
    files: Annotated[list[Path], typer.Argument(help=".json, .ndjson or stac-geoparquet files.")],
    data: DataOpt = DEFAULT_DATA,
    collection: Annotated[
        str | None, typer.Option(help="Put every item into this collection.")] = None,
) -> None:
    """Bulk-load collections and items (upsert; each file all or nothing). Exit 1 when a file
    failed to load (the others are loaded)."""
    from sathub.catalog.loader import load_file

    failures: list[str] = []
    total_items = total_colls = 0
    with installation(data) as inst, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("items"), TimeElapsedColumn(), console=err, transient=False,
    ) as progress:  # fmt: skip
        for path in files:
            task = progress.add_task(path.name, total=None)

            def advance(n: int, t: TaskID = task) -> None:
                progress.advance(t, n)

            try:
                stats = load_file(inst.catalog, path, collection=collection,  # type: ignore[arg-type]
                                  progress=advance)  # the loader is typed to SQLite (contracts)
            except SathubError as exc:
                failures.append(exc.message)
                progress.update(task, description=f"[red]{path.name} (failed, rolled back)")
                continue
            total_items += stats.items
            total_colls += stats.collections
            progress.update(task, total=stats.items, completed=stats.items)
    err.print(f"loaded {total_colls:,} collection(s), {total_items:,} item(s) from "
              f"{len(files) - len(failures)} file(s)")  # fmt: skip
    if failures:
        for f in failures:
            err.print(f"[red]failed:[/] {f}")
        failed(f"{len(failures)} of {len(files)} file(s) did not load")


SEARCH_COLUMNS = [Col("collection"), Col("id"), Col("datetime"), Col("cloud_cover", "cloud", "%", 1),
                  Col("platform"), Col("gsd", "gsd", "m")]  # fmt: skip
SearchFormat = Literal["table", "json", "csv", "geojson", "ids"]


def search_row(item: dict[str, Any]) -> dict[str, Any]:
    p = item.get("properties") or {}
    return {"collection": item.get("collection"), "id": item.get("id"),
            "datetime": p.get("datetime") or p.get("start_datetime"),
            "end_datetime": p.get("end_datetime"), "cloud_cover": p.get("eo:cloud_cover"),
            "platform": p.get("platform"), "gsd": p.get("gsd"), "bbox": item.get("bbox"),
            "assets": sorted(item.get("assets") or {})}  # fmt: skip


def search(
    data: DataOpt = DEFAULT_DATA,
    collections: Annotated[str | None, typer.Option(help="Collection ids, comma-separated.")] = None,
    bbox: Annotated[str | None, typer.Option(help="west,south,east,north (degrees).")] = None,
    datetime: Annotated[str | None, typer.Option(
        help="A date or datetime, or an interval START/END (open: ../END, START/..). A date "
        "alone is the whole day; no time zone means UTC.")] = None,
    filter: Annotated[str | None, typer.Option("--filter", help="CQL2-text filter.")] = None,
    sortby: Annotated[str | None, typer.Option(help="e.g. -datetime,+eo:cloud_cover")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Items to return.")] = 10,
    format: Annotated[SearchFormat, typer.Option(
        "--format", "-f", help="table, json or csv (one row per item), geojson (a "
        "FeatureCollection of whole items) or ids (one item id per line).")] = "table",
) -> None:
    """Search the catalog (the STAC API's item search, without access control: the local CLI
    is trusted)."""
    from sathub.catalog.cql2input import FilterLimits
    from sathub.catalog.params import build_query
    from sathub.config import load_settings
    from sathub.timeutil import parse_interval

    params = {"collections": collections, "bbox": bbox, "filter": filter, "sortby": sortby,
              "limit": limit}  # fmt: skip
    query = build_query({k: v for k, v in params.items() if v is not None}, default_limit=10,
                        max_limit=100_000,  # the CLI's filters are bounded like the API's
                        filter_limits=FilterLimits.of(load_settings(data=data)))  # fmt: skip
    if datetime:
        start, end = parse_interval(datetime, field="datetime")
        query = dataclasses.replace(query, start=start, end=end)
    with installation(data) as inst:
        if collections:
            for cid in split(collections) or []:
                inst.catalog.get_collection(cid)  # an unknown collection is an error (exit 2)
        result = inst.catalog.search(query)
    if format == "geojson":
        print_json({"type": "FeatureCollection", "features": result.items,
                    "numberMatched": result.matched, "numberReturned": len(result.items)})  # fmt: skip
        return
    if format == "ids":
        sys.stdout.write("".join(f"{it['id']}\n" for it in result.items))
        return
    emit([search_row(it) for it in result.items], SEARCH_COLUMNS, format)
    est = " (estimate)" if result.matched_is_estimate else ""
    matched = "" if result.matched is None else f", {result.matched:,} matched{est}"
    err.print(f"{len(result.items):,} shown{matched}")


def stats(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """Items per collection."""
    with installation(data) as inst:
        counts = inst.catalog.counts()
    if format == "json":
        print_json(counts)  # {collection: items}
        return
    rows = [{"collection": cid, "items": n} for cid, n in counts.items()]
    if format == "table":
        rows.append({"collection": "total", "items": sum(counts.values())})
    emit(rows, ["collection", "items"], format)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(load)
    app.command()(search)
    app.command()(stats)
