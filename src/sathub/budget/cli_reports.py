"""``sathub budget report|forecast|satellite|iati|fdp|demo``: reports and exports."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from sathub.budget import charts, exports, iati, reports
from sathub.budget.cli import DEFAULT_DATA, DataOpt, emit, err, fail2, run, service
from sathub.budget.rates import parse_day

OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")]


def _write(payload: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(payload)
        return
    try:
        output.write_bytes(payload)
    except OSError as exc:
        fail2(f"output: cannot write {output}: {exc}")
    err.print(f"wrote {output}")


def report(
    by: Annotated[str, typer.Option(help="Group by: year, quarter, project, category, funding, line "
                                         "(comma-separated).")] = "category",
    year: Annotated[str | None, typer.Option(help="One fiscal year.")] = None,
    version: Annotated[int | None, typer.Option(help="Show this version's figures as revised.")] = None,
    currency: Annotated[str | None, typer.Option(help="Reporting currency (default: the setting).")] = None,
    format: Annotated[str, typer.Option("--format", help="table, json, csv, xlsx or png")] = "table",
    output: OutOpt = None, data: DataOpt = DEFAULT_DATA,
) -> None:  # fmt: skip
    """Approved vs revised vs committed vs spent vs available (and incoming funds)."""
    s = service(data)
    group_by = [g.strip() for g in by.split(",") if g.strip()]
    rep = run(lambda: reports.report(s.store, s.config, group_by, currency=currency, year=year, version=version))
    if format in ("table", "json"):
        if format == "json":
            _write(orjson.dumps(rep.as_dict(), option=orjson.OPT_INDENT_2), output)
            return
        total = {g: "total" if i == 0 else "" for i, g in enumerate(group_by)}
        emit([*rep.rows, {**total, **rep.total}], [*group_by, *reports.MEASURES], "table")
        err.print(f"amounts in {rep.currency} at each fiscal year's budget rate")
    elif format == "csv":
        _write(exports.report_csv(rep).encode(), output)
    elif format == "xlsx":
        if output is None:
            fail2("output: --format xlsx needs --output FILE")
        _write(exports.report_xlsx(rep, s.store), output)
    elif format == "png":
        if output is None:
            fail2("output: --format png needs --output FILE")
        _write(charts.report_chart(rep, f"Budget by {', '.join(group_by)}"), output)
    else:
        fail2("format: must be table, json, csv, xlsx or png")


def forecast(
    year: Annotated[str, typer.Option(help="Fiscal year.")],
    as_of: Annotated[str | None, typer.Option(help="Day of the forecast (default: today).")] = None,
    format: Annotated[str, typer.Option("--format", help="table, json or png")] = "table",
    output: OutOpt = None, data: DataOpt = DEFAULT_DATA,
) -> None:  # fmt: skip
    """Burn rate and year-end forecast per project (method: docs/budget.md)."""
    s = service(data)
    day = run(lambda: parse_day(as_of, "as_of")) if as_of else dt.date.today()
    f = run(lambda: reports.forecast(s.store, s.config, year, day))
    if format == "json":
        _write(orjson.dumps(f, option=orjson.OPT_INDENT_2), output)
    elif format == "png":
        if output is None:
            fail2("output: --format png needs --output FILE")
        _write(run(lambda: charts.burn_chart(s.store, s.config, year, day)), output)
    elif format == "table":
        cols = ["project", "revised", "spent", "open_commitments", "projected", "forecast", "variance",
                "burn_rate_per_month"]  # fmt: skip
        emit([*f["rows"], {"project": "total", **f["total"]}], cols, "table")
        err.print(f"{f['currency']}, as of {f['as_of']}, {f['days_left']} days left")
    else:
        fail2("format: must be table, json or png")


def satellite(norad_id: int, data: DataOpt = DEFAULT_DATA) -> None:
    """What a satellite has cost so far against its budget (JSON)."""
    s = service(data)
    _write(orjson.dumps(run(lambda: reports.satellite_cost(s.store, s.config, norad_id)),
                        option=orjson.OPT_INDENT_2), None)  # fmt: skip


def iati_cmd(output: OutOpt = None, data: DataOpt = DEFAULT_DATA) -> None:
    """The IATI activity file (XML 2.03), validated against the bundled schema first (exit 1
    when it does not validate)."""
    s = service(data)
    xml = run(lambda: iati.activities(s.store, s.config))
    problems = iati.validate(xml)
    if problems:
        for p in problems[:20]:
            err.print(f"[red]invalid:[/] {p}")
        raise typer.Exit(1)
    _write(xml, output)


def fdp(output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into.")],
        data: DataOpt = DEFAULT_DATA) -> None:  # fmt: skip
    """The Fiscal Data Package: datapackage.json and budget.csv in a directory."""
    s = service(data)
    files = run(lambda: exports.fdp_files(s.store, s.config))
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail2(f"output: cannot create {output}: {exc}")
    for name, payload in files.items():
        _write(payload, output / name)


def demo(data: DataOpt = DEFAULT_DATA) -> None:
    """Create the demo programme budget in a data directory (``sathub demo`` does this too)."""
    from sathub.budget import demo as demo_mod

    s = service(data)
    err.print(run(lambda: demo_mod.build(s, Path(data))))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("forecast")(forecast)
    app.command("satellite")(satellite)
    app.command("iati")(iati_cmd)
    app.command("fdp")(fdp)
    app.command("demo")(demo)
