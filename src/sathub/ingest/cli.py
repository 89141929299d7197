"""``sathub ingest``, ``sathub verify`` and ``sathub demo``: thin shells over the ingest
package. Registered on the main app by ``sathub.cli`` through :func:`register`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sathub.clitools import fail as _fail
from sathub.config import Settings
from sathub.errors import SathubError

if TYPE_CHECKING:
    from sathub.app import Installation

console = Console(stderr=True)
out = Console()

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", envvar="SATHUB_DATA", help="The data directory (default: $SATHUB_DATA)."
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="Output: table or json.")]


def _settings(data: Path | None) -> Settings:
    return Settings(data=data) if data is not None else Settings()


def _open(settings: Settings) -> Installation:
    """The installation of ``settings.data`` (made when missing, as these commands always
    did)."""
    from sathub.app import Installation

    return Installation.open(settings, create=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=False,
    )


def run_ingest(
    paths: list[Path],
    collection: str,
    settings: Settings,
    *,
    workers: int = 1,
    replace: bool = False,
    sidecar: Path | None = None,
    compression: str = "deflate",
    label: str = "ingest",
) -> Any:
    """Ingest with a progress bar; returns the IngestReport."""
    from sathub.ingest.pipeline import ingest_paths

    inst = _open(settings)
    try:
        with _progress() as bar:
            task = bar.add_task(label, total=None, last="")

            def on_total(n: int) -> None:
                bar.update(task, total=n)

            def on_done(o: Any) -> None:
                bar.update(task, advance=1, last=f"{o.status} {o.scene_id or o.source}")

            return ingest_paths(
                paths,
                collection,
                settings,
                inst.catalog,
                inst.objects,
                workers=workers,
                replace=replace,
                sidecar=sidecar,
                compression=compression,  # type: ignore[arg-type]
                progress=on_done,
                on_total=on_total,
            )
    finally:
        inst.close()


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``verify`` and ``demo`` to the main ``sathub`` app."""

    @app.command("ingest")
    def ingest_cmd(
        paths: Annotated[list[Path], typer.Argument(help="Scene files or folders.")],
        collection: Annotated[
            str, typer.Option("--collection", "-c", help="Target collection (created if missing).")
        ],
        data: DataOpt = None,
        workers: Annotated[int, typer.Option(min=1, help="Processes writing COGs.")] = 1,
        replace: Annotated[bool, typer.Option(help="Re-ingest scenes already present.")] = False,
        sidecar: Annotated[
            Path | None,
            typer.Option(help="Sidecar JSON for a single scene (default: <raster>.sathub.json)."),
        ] = None,
        compression: Annotated[
            str, typer.Option(help="deflate or zstd (both lossless).")
        ] = "deflate",
        fmt: FormatOpt = "table",
    ) -> None:
        """Ingest raw scenes as COGs + STAC items (atomic per scene; failures summarised)."""
        if compression not in ("deflate", "zstd"):
            raise _fail(f"--compression must be deflate or zstd, not {compression!r}")
        settings = _settings(data)
        try:
            report = run_ingest(
                paths,
                collection,
                settings,
                workers=workers,
                replace=replace,
                sidecar=sidecar,
                compression=compression,
            )
        except SathubError as exc:
            raise _fail(exc.message) from None
        if fmt == "json":
            out.print_json(json.dumps(report.to_dict()))
        else:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items()))
            out.print(f"collection {collection}: {counts}", highlight=False)
            if report.failed:
                console.print(f"[bold red]{len(report.failed)} failed:[/]")
                for o in report.failed:
                    console.print(f"  {o.message or o.source}", highlight=False, soft_wrap=True)
        if not report.ok:
            raise typer.Exit(1)

    @app.command("verify")
    def verify_cmd(
        data: DataOpt = None,
        repair: Annotated[
            bool, typer.Option(help="Delete orphan files and stale staging directories.")
        ] = False,
        checksums: Annotated[bool, typer.Option(help="Recompute checksums (slower).")] = True,
        fmt: FormatOpt = "table",
    ) -> None:
        """Check every asset's size and checksum; list missing, corrupt and orphan files."""
        from sathub.ingest.verify import verify_archive

        settings = _settings(data)
        try:
            with _open(settings) as inst:
                report = verify_archive(settings, inst.catalog, inst.objects, repair=repair,
                                        checksums=checksums)  # fmt: skip
        except SathubError as exc:
            raise _fail(exc.message) from None
        if fmt == "json":
            out.print_json(json.dumps(report.to_dict()))
        else:
            out.print(
                f"checked {report.checked_assets} assets ({report.checked_bytes / 1e6:.1f} MB)",
                highlight=False,
            )
            if report.problems:
                t = Table("kind", "path", "detail", "repaired")
                for p in report.problems:
                    t.add_row(
                        p.kind,
                        p.path,
                        (p.item + ": " if p.item else "") + p.detail,
                        "yes" if p.path in report.repaired else "",
                    )
                out.print(t)
            else:
                out.print("[green]archive OK[/]")
        if not report.ok:
            raise typer.Exit(1)

    @app.command("demo")
    def demo_cmd(
        data: DataOpt = None,
        seed: Annotated[int, typer.Option(help="Random seed (same seed, same archive).")] = 42,
        serve: Annotated[bool, typer.Option(help="Serve the archive when built.")] = True,
        host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
        port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
        workers: Annotated[int, typer.Option(min=1, help="Processes writing COGs.")] = 2,
        story: Annotated[
            bool,
            typer.Option(
                help="Run the story's analytics: rice NDVI per field and month, the peak-NDVI "
                "composite, the delta flood's extent and area (derived items, on the map)."
            ),
        ] = True,
    ) -> None:
        """Build a synthetic Myanmar archive (rice near Mandalay, a delta flood) and serve it."""
        from sathub.ingest import demo

        settings = _settings(data)
        if host:
            settings.host = host
        if port:
            settings.port = port
        try:
            with _open(settings) as inst:
                built = demo.build(settings, inst.catalog, seed=seed, workers=workers,
                                   console=console, ingest=run_ingest)  # fmt: skip
        except SathubError as exc:
            raise _fail(exc.message) from None
        out.print(built.summary(), highlight=False)
        if not built.ok:
            raise typer.Exit(1)
        if story:
            from sathub.analytics.story import describe, run_story

            console.print("running the demo story's analytics (rice NDVI, delta flood)")
            try:
                with _open(settings) as inst:
                    summary = run_story(settings, inst.catalog, inst.objects, workers=workers)
                out.print(describe(summary), highlight=False, soft_wrap=True)
            except SathubError as exc:
                raise _fail(f"demo story: {exc.message}") from None
        if serve:
            from sathub.api.server import serve as serve_api
            from sathub.app import Installation

            serve_api(Installation.open(settings))
