"""``sathub ingest`` and ``sathub verify``: raw scenes into the archive, and its check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sathub.cli.common import (
    DEFAULT_DATA,
    Col,
    DataOpt,
    DocFormatOpt,
    emit,
    err,
    failed,
    installation,
    print_json,
    size,
)
from sathub.errors import InvalidInput

if TYPE_CHECKING:
    from sathub.app import Installation


@contextmanager
def ingest_progress(label: str) -> Iterator[tuple[Any, Any]]:
    """A progress bar for one batch: yields ``(on_total, on_done)`` for
    :func:`sathub.ingest.pipeline.ingest_paths`."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=err,
                  transient=False) as bar:  # fmt: skip
        task = bar.add_task(label, total=None, last="")

        def on_total(n: int) -> None:
            bar.update(task, total=n)

        def on_done(o: Any) -> None:
            bar.update(task, advance=1, last=f"{o.status} {o.scene_id or o.source}")

        yield on_total, on_done


def run_ingest(inst: Installation, paths: list[Path], collection: str, *, label: str = "ingest",
               **options: Any) -> Any:  # fmt: skip
    """Ingest into ``inst`` with a progress bar; returns the IngestReport."""
    from sathub.ingest.pipeline import ingest_paths

    with ingest_progress(label) as (on_total, on_done):
        return ingest_paths(paths, collection, inst.settings, inst.catalog, inst.objects,
                            progress=on_done,
                            on_total=on_total, **options)  # fmt: skip


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Scene files or folders.")],
    collection: Annotated[str, typer.Option(
        "--collection", "-c", help="Target collection (created if missing).")],
    data: DataOpt = DEFAULT_DATA,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes writing COGs.")] = 1,
    replace: Annotated[bool, typer.Option(help="Re-ingest scenes already present.")] = False,
    sidecar: Annotated[Path | None, typer.Option(
        help="Sidecar JSON for a single scene (default: <raster>.sathub.json).")] = None,
    compression: Annotated[Literal["deflate", "zstd"], typer.Option(
        help="COG compression (both lossless).")] = "deflate",
    format: DocFormatOpt = "table",
) -> None:
    """Ingest raw scenes as COGs and STAC items (atomic per scene). Exit 1 when a scene
    failed (the others are ingested; each failure is named with its reason)."""
    for p in paths:
        if not p.exists():
            raise InvalidInput(f"{p}: no such file or directory", field="paths")
    with installation(data) as inst:
        report = run_ingest(inst, paths, collection, workers=workers, replace=replace,
                            sidecar=sidecar, compression=compression)  # fmt: skip
    if format == "json":
        print_json(report.to_dict())
    else:
        counts = ", ".join(f"{n:,} {k}" for k, n in sorted(report.counts().items()))
        print(f"collection {collection}: {counts}")
        for o in report.failed:
            err.print(f"  failed: {o.message or o.source}", markup=False)
    if not report.ok:
        failed(f"{len(report.failed)} of {len(report.outcomes)} scene(s) failed")


PROBLEM_COLUMNS = [Col("kind"), Col("path"), Col("detail"), Col("repaired")]


def verify(
    data: DataOpt = DEFAULT_DATA,
    repair: Annotated[bool, typer.Option(
        help="Delete orphan files and stale staging directories.")] = False,
    checksums: Annotated[bool, typer.Option(help="Recompute checksums (slower).")] = True,
    format: DocFormatOpt = "table",
) -> None:
    """Check every asset's size and checksum; list missing, corrupt and orphan files. Exit 1
    when a problem remains."""
    from sathub.ingest.verify import verify_archive

    with installation(data) as inst:
        report = verify_archive(inst.settings, inst.catalog, inst.objects, repair=repair,
                                checksums=checksums)  # fmt: skip
    if format == "json":
        print_json(report.to_dict())
    else:
        print(f"checked {report.checked_assets:,} assets ({size(report.checked_bytes)})")
        if report.problems:
            emit([{"kind": p.kind, "path": p.path,
                   "detail": (p.item + ": " if p.item else "") + p.detail,
                   "repaired": p.path in report.repaired} for p in report.problems],
                 PROBLEM_COLUMNS, "table")  # fmt: skip
        else:
            print("archive OK")
    if not report.ok:
        failed(f"{len(report.problems)} problem(s) in the archive")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(verify)
