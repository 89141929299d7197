"""``sathub budget report|forecast|satellite|iati|fdp|demo``: budget reports and exports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

import orjson
import typer

from sathub.cli.budget import service
from sathub.cli.common import DEFAULT_DATA, DataOpt, OutputOpt, emit, err, failed, write_output
from sathub.errors import InvalidInput


def _needs_output(format: str, output: Path | None) -> None:
    if output is None:
        raise InvalidInput(f"--format {format} needs --output FILE", field="output")


def report(
    by: Annotated[str, typer.Option(help="Group by: year, quarter, project, category, funding, line "
                                         "(comma-separated).")] = "category",
    year: Annotated[str | None, typer.Option(help="One fiscal year.")] = None,
    version: Annotated[int | None, typer.Option(help="Show this version's figures as revised.")] = None,
    currency: Annotated[str | None, typer.Option(help="Reporting currency (default: the setting).")] = None,
    format: Annotated[Literal["table", "json", "csv", "xlsx", "png"], typer.Option(
        "--format", "-f", help="table, json, csv, xlsx or png (xlsx and png need --output).")] = "table",
    output: OutputOpt = None, data: DataOpt = DEFAULT_DATA,
) -> None:  # fmt: skip
    """Approved vs revised vs committed vs spent vs available (and incoming funds)."""
    from sathub.budget import charts, exports, reports

    group_by = [g.strip() for g in by.split(",") if g.strip()]
    if format in ("xlsx", "png"):
        _needs_output(format, output)
    with service(data) as s:
        rep = reports.report(s.store, s.config, group_by, currency=currency, year=year, version=version)
        if format == "json":
            write_output(orjson.dumps(rep.as_dict(), option=orjson.OPT_INDENT_2) + b"\n", output)
        elif format == "csv":
            write_output(exports.report_csv(rep), output)
        elif format == "xlsx":
            write_output(exports.report_xlsx(rep, s.store), output)
        elif format == "png":
            write_output(charts.report_chart(rep, f"Budget by {', '.join(group_by)}"), output)
        else:
            total = {g: "total" if i == 0 else "" for i, g in enumerate(group_by)}
            emit([*rep.rows, {**total, **rep.total}], [*group_by, *reports.MEASURES], "table")
            err.print(f"amounts in {rep.currency} at each fiscal year's budget rate")


def forecast(
    year: Annotated[str, typer.Option(help="Fiscal year.")],
    as_of: Annotated[str | None, typer.Option(help="Day of the forecast (default: today).")] = None,
    format: Annotated[Literal["table", "json", "png"], typer.Option(
        "--format", "-f", help="table, json or png (png needs --output).")] = "table",
    output: OutputOpt = None, data: DataOpt = DEFAULT_DATA,
) -> None:  # fmt: skip
    """Burn rate and year-end forecast per project (method: docs/budget.md)."""
    from sathub.budget import charts, reports
    from sathub.timeutil import parse_date

    day = parse_date(as_of, field="as_of") if as_of else dt.date.today()
    if format == "png":
        _needs_output(format, output)
    with service(data) as s:
        f = reports.forecast(s.store, s.config, year, day)
        if format == "json":
            write_output(orjson.dumps(f, option=orjson.OPT_INDENT_2) + b"\n", output)
        elif format == "png":
            write_output(charts.burn_chart(s.store, s.config, year, day), output)
        else:
            cols = ["project", "revised", "spent", "open_commitments", "projected", "forecast", "variance",
                    "burn_rate_per_month"]  # fmt: skip
            emit([*f["rows"], {"project": "total", **f["total"]}], cols, "table")
            err.print(f"{f['currency']}, as of {f['as_of']}, {f['days_left']} days left")


def satellite(norad_id: Annotated[int, typer.Argument(help="The satellite's NORAD id.")],
              data: DataOpt = DEFAULT_DATA) -> None:  # fmt: skip
    """What a satellite has cost so far against its budget (JSON)."""
    from sathub.budget import reports

    with service(data) as s:
        cost = reports.satellite_cost(s.store, s.config, norad_id)
    write_output(orjson.dumps(cost, option=orjson.OPT_INDENT_2) + b"\n", None)


def iati(output: OutputOpt = None, data: DataOpt = DEFAULT_DATA) -> None:
    """The IATI activity file (XML 2.03), validated against the bundled schema first (exit 1
    when it does not validate)."""
    from sathub.budget import iati as iati_xml

    with service(data) as s:
        xml = iati_xml.activities(s.store, s.config)
    problems = iati_xml.validate(xml)
    if problems:
        for p in problems[:20]:
            err.print(f"[red]invalid:[/] {p}")
        failed("the IATI file does not validate against the schema")
    write_output(xml, output)


def fdp(output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into.")],
        data: DataOpt = DEFAULT_DATA) -> None:  # fmt: skip
    """The Fiscal Data Package: datapackage.json and budget.csv in a directory."""
    from sathub.budget import exports

    with service(data) as s:
        files = exports.fdp_files(s.store, s.config)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {output}: {exc}", field="output") from None
    for name, payload in files.items():
        write_output(payload, output / name)


def demo(data: DataOpt = DEFAULT_DATA) -> None:
    """Create the demo programme budget in a data directory (sathub demo does this too)."""
    from sathub.budget import demo as demo_mod

    with service(data) as s:
        err.print(demo_mod.build(s, Path(data)))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("forecast")(forecast)
    app.command("satellite")(satellite)
    app.command("iati")(iati)
    app.command("fdp")(fdp)
    app.command("demo")(demo)
