"""``sathub analytics zonal|flood|change|composite``: the analytics job kinds, run here in the
foreground with a progress bar (the API runs the same jobs in the background)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sathub.cli.common import DEFAULT_DATA, DataOpt, err, installation, print_json, sub_app
from sathub.errors import InvalidInput

analytics_app = sub_app("Indices, zonal statistics, flood mapping, change detection, composites (on Dask).")

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Source collection.")]
AoiOpt = Annotated[Path, typer.Option(
    "--aoi", help="GeoJSON polygons (WGS84); each polygon's `id` property names it.")]  # fmt: skip
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="Dask scheduler address (default: SATHUB_DASK_SCHEDULER, else an embedded "
    "cluster).")]  # fmt: skip
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64, help="Embedded cluster workers.")]
MaskOpt = Annotated[Literal["auto", "asset", "spectral", "none"], typer.Option(
    "--mask", help="Cloud/shadow mask: auto (the scene's SCL/QA_PIXEL asset when it has one, else "
    "none), asset (required), spectral (the blue/SWIR/NIR test), none.")]  # fmt: skip
PeriodHelp = "START/END: dates (whole days) or datetimes."


def _job(kind: str, params: dict[str, Any], data: Path, label: str, scheduler: str | None,
         workers: int) -> dict[str, Any]:  # fmt: skip
    """Run an analytics job (the API's job function) with a progress bar. Bad input (AOI,
    dates, index, mask; an unknown collection) exits 2 before a cluster starts; a job that
    cannot produce a result exits 1."""
    from sathub.analytics.jobs import parse_inputs, run_job

    parse_inputs(kind, params)
    with installation(data) as inst:
        inst.catalog.get_collection(params["collection"])  # unknown collection: exit 2
        with inst.executor(scheduler, n_workers=workers) as ex, Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
        ) as bar:  # fmt: skip
            task = bar.add_task(label, total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return run_job(kind, params, inst.settings, inst.catalog, objects=inst.objects,
                           executor=ex, progress=progress, access=inst.access)  # fmt: skip


@analytics_app.command("zonal")
def zonal(
    collection: CollectionOpt,
    aoi: AoiOpt,
    index: Annotated[str, typer.Option("--index", help="ndvi, evi, savi, ndwi, mndwi, ndbi, nbr.")],
    start: Annotated[str | None, typer.Option("--from", help="First day (a date, or a datetime).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (a date: that whole day).")] = None,
    interval: Annotated[str | None, typer.Option(
        "--interval", help="Aggregate per 10d (dekad) or month.")] = None,
    format: Annotated[Literal["csv", "json", "parquet"], typer.Option(
        "--format", "-f", help="csv, json or parquet (parquet needs --output).")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", help="PNG chart of the series.")] = None,
    mask: MaskOpt = "auto",
    data: DataOpt = DEFAULT_DATA,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
) -> None:
    """Zonal statistics of an index: a row per polygon per scene (or per interval), with the
    cloud mask used and the share of the polygon it removed."""
    from sathub.analytics.zonal_job import chart as draw
    from sathub.analytics.zonal_job import write_rows

    if format == "parquet" and output is None:
        raise InvalidInput("--format parquet needs --output FILE", field="output")
    res = _job("zonal", {"collection": collection, "aoi": aoi, "index": index, "from": start, "to": end,
                         "interval": interval, "mask": mask},
               data, f"{index} over {collection}", scheduler, workers)  # fmt: skip
    rows = res["intervals"] if interval else res["rows"]
    for sk in res["skipped"]:
        err.print(f"skipped {sk['item_id']}: {sk['reason']}", markup=False)
    text = write_rows(rows, output, format)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if chart is not None:
        draw(rows, chart, f"{res['index'].upper()} — {collection}", res["index"])


@analytics_app.command("flood")
def flood(
    collection: CollectionOpt,
    aoi: AoiOpt,
    before: Annotated[str, typer.Option("--before", help=f"Before the event: {PeriodHelp}")],
    after: Annotated[str, typer.Option("--after", help=f"After the event: {PeriodHelp}")],
    index: Annotated[Literal["mndwi", "ndwi"], typer.Option("--index", help="Water index.")] = "mndwi",
    output_collection: Annotated[str, typer.Option("--output-collection", help="Derived collection.")] = "derived-flood",
    format: Annotated[Literal["table", "json"], typer.Option("--format", "-f", help="table or json.")] = "table",
    mask: MaskOpt = "auto",
    data: DataOpt = DEFAULT_DATA,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
) -> None:
    """Flood extent (water after the event minus permanent water), km² per AOI polygon,
    written as a derived item (COG classes + GeoJSON polygons)."""
    res = _job("flood", {"collection": collection, "aoi": aoi, "before": before, "after": after,
                         "index": index, "output_collection": output_collection, "mask": mask},
               data, "flood", scheduler, workers)  # fmt: skip
    if format == "json":
        print_json(res)
        return
    for sc in [*res["before"], *res["after"]]:
        frac = sc["masked_fraction"]
        removed = "n/a" if frac is None or frac != frac else f"{100 * frac:.1f} %"
        print(f"scene {sc['item_id']}\tmask {sc['mask_source']}\tmasked {removed}")
    for z in res["zones"]:
        print(f"{z['id']}\tflooded {z['flooded_km2']:.2f} km²\tunobserved {z['unobserved_km2']:.2f} km²\t"
              f"area {z['area_km2']:.2f} km²")  # fmt: skip
    print(f"derived item: {res['item']['collection']}/{res['item']['id']}")


@analytics_app.command("change")
def change(
    collection: CollectionOpt,
    aoi: AoiOpt,
    before: Annotated[str, typer.Option("--before", help=f"First period: {PeriodHelp}")],
    after: Annotated[str, typer.Option("--after", help=f"Second period: {PeriodHelp}")],
    index: Annotated[str, typer.Option("--index", help="Index compared (ndvi, ndwi, …).")] = "ndvi",
    threshold: Annotated[float, typer.Option("--threshold", min=0, help="|difference| that is change.")] = 0.2,
    output_collection: Annotated[str, typer.Option("--output-collection", help="Derived collection.")] = "derived-change",
    mask: MaskOpt = "auto",
    data: DataOpt = DEFAULT_DATA,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
) -> None:
    """Change between two periods: difference of median index composites, as a derived item
    (JSON)."""
    print_json(_job("change", {"collection": collection, "aoi": aoi, "before": before, "after": after,
                               "index": index, "threshold": threshold,
                               "output_collection": output_collection, "mask": mask},
                    data, f"change of {index}", scheduler, workers))  # fmt: skip


@analytics_app.command("composite")
def composite(
    collection: CollectionOpt,
    aoi: AoiOpt,
    period: Annotated[str, typer.Option("--period", help=PeriodHelp)],
    bands: Annotated[str, typer.Option(
        "--bands", help="Common names (red,green,blue,nir) or one index.")] = "red,green,blue,nir",
    output_collection: Annotated[str, typer.Option("--output-collection", help="Derived collection.")] = "derived-composite",
    mask: MaskOpt = "auto",
    data: DataOpt = DEFAULT_DATA,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
) -> None:
    """Cloud-free median composite over a period, as a derived item (JSON)."""
    what = [b.strip() for b in bands.split(",") if b.strip()]
    if not what:
        raise InvalidInput("--bands names at least one band or index", field="bands")
    print_json(_job("composite", {"collection": collection, "aoi": aoi, "period": period, "bands": what,
                                  "output_collection": output_collection, "mask": mask},
                    data, "composite", scheduler, workers))  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(analytics_app, name="analytics")

