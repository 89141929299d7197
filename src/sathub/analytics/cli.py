"""``sathub analytics zonal|flood|change|composite``: thin shells over the analytics jobs.
Registered on the main app by ``sathub.cli`` through :func:`register`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sathub.clitools import fail as _fail
from sathub.config import Settings
from sathub.errors import InvalidInput, NotFound, SathubError
from sathub.jobs import clean_json

console = Console(stderr=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", envvar="SATHUB_DATA", help="The data directory (default: $SATHUB_DATA)."
    ),
]
CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Source collection.")]
AoiOpt = Annotated[
    Path,
    typer.Option("--aoi", help="GeoJSON polygons (WGS84); each polygon's `id` property names it."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address (default: SATHUB_DASK_SCHEDULER, else an embedded "
        "LocalCluster).",
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Embedded cluster workers.")]
MaskOpt = Annotated[
    str,
    typer.Option(
        "--mask",
        help="Cloud/shadow mask: auto (the scene's SCL/QA_PIXEL asset when it has one, else "
        "none), asset (required), spectral (the blue/SWIR/NIR test), none.",
    ),
]


def _settings(data: Path | None) -> Settings:
    return Settings(data=data) if data is not None else Settings()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(clean_json(doc), indent=1, default=str) + "\n")


def _run(settings: Settings, fn: Any, label: str, scheduler: str | None, workers: int) -> Any:
    """Open the installation and the Dask executor, run ``fn(inst, executor, progress)``."""
    from sathub.app import Installation

    inst = Installation.open(settings)
    try:
        with inst.executor(scheduler, n_workers=workers) as ex, _progress() as bar:
            task = bar.add_task(label, total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return fn(inst, ex, progress)
    finally:
        inst.close()


def _job(kind: str, params: dict[str, Any], settings: Settings, label: str,
         scheduler: str | None, workers: int) -> Any:  # fmt: skip
    """Run an analytics job (the API's ``run_job``) here, with a progress bar. Bad input (an
    invalid AOI, date, index or mask; an unknown collection) → exit 2; a job that cannot
    produce a result → exit 1."""
    from sathub.analytics.jobs import parse_inputs, run_job

    try:
        parse_inputs(kind, params)
        return _run(settings, lambda inst, ex, progress: run_job(
            kind, params, settings, inst.catalog, executor=ex, progress=progress,
            access=inst.access), label, scheduler, workers)  # fmt: skip
    except (InvalidInput, NotFound) as exc:
        raise _fail(exc.message, 2) from None
    except SathubError as exc:
        raise _fail(exc.message) from None


def register(app: typer.Typer) -> None:
    """Add the ``analytics`` sub-app to the main ``sathub`` app."""
    sub = typer.Typer(
        name="analytics",
        help="Indices, zonal statistics, flood mapping, change detection, composites (on Dask).",
        no_args_is_help=True,
    )
    app.add_typer(sub, name="analytics")

    @sub.command("zonal")
    def zonal_cmd(
        collection: CollectionOpt,
        aoi: AoiOpt,
        index: Annotated[
            str, typer.Option("--index", help="ndvi, evi, savi, ndwi, mndwi, ndbi, nbr.")
        ],
        start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
        interval: Annotated[
            str | None, typer.Option("--interval", help="Aggregate per 10d (dekad) or month.")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="csv, json or parquet.")] = "csv",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
        ] = None,
        chart: Annotated[
            Path | None, typer.Option("--chart", help="PNG chart of the series.")
        ] = None,
        mask: MaskOpt = "auto",
        data: DataOpt = None,
        scheduler: SchedulerOpt = None,
        workers: WorkersOpt = 2,
    ) -> None:
        """Zonal statistics of an index: a row per polygon per scene (or per interval), with
        the cloud mask used and the share of the polygon it removed."""
        from sathub.analytics.zonal_job import chart as draw
        from sathub.analytics.zonal_job import write_rows

        if fmt not in ("csv", "json", "parquet"):
            raise _fail("--format must be csv, json or parquet", 2)
        if fmt == "parquet" and output is None:
            raise _fail("--format parquet needs --output FILE", 2)
        res = _job("zonal", {"collection": collection, "aoi": aoi, "index": index, "from": start,
                             "to": end, "interval": interval, "mask": mask},
                   _settings(data), f"{index} over {collection}", scheduler, workers)  # fmt: skip
        rows = res["intervals"] if interval else res["rows"]
        for sk in res["skipped"]:
            console.print(f"skipped {sk['item_id']}: {sk['reason']}", highlight=False)
        text = write_rows(rows, output, fmt)
        if text is not None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if chart is not None:
            draw(rows, chart, f"{res['index'].upper()} — {collection}", res["index"])

    @sub.command("flood")
    def flood_cmd(
        collection: CollectionOpt,
        aoi: AoiOpt,
        before: Annotated[str, typer.Option("--before", help="Pre-event period D1/D2.")],
        after: Annotated[str, typer.Option("--after", help="Post-event period D3/D4.")],
        index: Annotated[str, typer.Option("--index", help="mndwi (default) or ndwi.")] = "mndwi",
        output_collection: Annotated[
            str, typer.Option("--output-collection", help="Derived collection.")
        ] = "derived-flood",
        fmt: Annotated[str, typer.Option("--format", help="json or table.")] = "table",
        mask: MaskOpt = "auto",
        data: DataOpt = None,
        scheduler: SchedulerOpt = None,
        workers: WorkersOpt = 2,
    ) -> None:
        """Flood extent (water after the event minus permanent water), km² per AOI polygon,
        written as a derived item (COG classes + GeoJSON polygons)."""
        if index not in ("mndwi", "ndwi"):
            raise _fail("--index must be mndwi or ndwi", 2)
        if fmt not in ("json", "table"):
            raise _fail("--format must be json or table", 2)
        res = _job("flood", {"collection": collection, "aoi": aoi, "before": before, "after": after,
                             "index": index, "output_collection": output_collection, "mask": mask},
                   _settings(data), "flood", scheduler, workers)  # fmt: skip
        if fmt == "json":
            _emit(res)
            return
        for sc in [*res["before"], *res["after"]]:
            frac = sc["masked_fraction"]
            removed = "n/a" if frac is None or frac != frac else f"{100 * frac:.1f} %"
            sys.stdout.write(f"scene {sc['item_id']}\tmask {sc['mask_source']}\t"
                             f"masked {removed}\n")  # fmt: skip
        for z in res["zones"]:
            sys.stdout.write(
                f"{z['id']}\tflooded {z['flooded_km2']:.2f} km²\tunobserved "
                f"{z['unobserved_km2']:.2f} km²\tarea {z['area_km2']:.2f} km²\n"
            )
        sys.stdout.write(f"derived item: {res['item']['collection']}/{res['item']['id']}\n")

    @sub.command("change")
    def change_cmd(
        collection: CollectionOpt,
        aoi: AoiOpt,
        before: Annotated[str, typer.Option("--before", help="First period D1/D2.")],
        after: Annotated[str, typer.Option("--after", help="Second period D3/D4.")],
        index: Annotated[str, typer.Option("--index")] = "ndvi",
        threshold: Annotated[
            float, typer.Option("--threshold", help="|difference| for change.")
        ] = 0.2,
        output_collection: Annotated[str, typer.Option("--output-collection")] = "derived-change",
        mask: MaskOpt = "auto",
        data: DataOpt = None,
        scheduler: SchedulerOpt = None,
        workers: WorkersOpt = 2,
    ) -> None:
        """Change between two periods: difference of median index composites (JSON)."""
        res = _job("change", {"collection": collection, "aoi": aoi, "before": before, "after": after,
                              "index": index, "threshold": threshold,
                              "output_collection": output_collection, "mask": mask},
                   _settings(data), f"change of {index}", scheduler, workers)  # fmt: skip
        _emit(res)

    @sub.command("composite")
    def composite_cmd(
        collection: CollectionOpt,
        aoi: AoiOpt,
        period: Annotated[str, typer.Option("--period", help="D1/D2.")],
        bands: Annotated[
            str, typer.Option("--bands", help="Common names (red,green,blue,nir) or one index.")
        ] = "red,green,blue,nir",
        output_collection: Annotated[
            str, typer.Option("--output-collection")
        ] = "derived-composite",
        mask: MaskOpt = "auto",
        data: DataOpt = None,
        scheduler: SchedulerOpt = None,
        workers: WorkersOpt = 2,
    ) -> None:
        """Cloud-free median composite over a period, as a derived item (JSON)."""
        what = [b.strip() for b in bands.split(",") if b.strip()]
        if not what:
            raise _fail("--bands names at least one band or index", 2)
        res = _job("composite", {"collection": collection, "aoi": aoi, "period": period, "bands": what,
                                 "output_collection": output_collection, "mask": mask},
                   _settings(data), "composite", scheduler, workers)  # fmt: skip
        _emit(res)
