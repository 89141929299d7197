"""Orbit commands: ``sathub passes``, ``sathub opportunities``, ``sathub design``,
``sathub orders``. Registered by ``sathub.cli`` through :func:`register`."""

from __future__ import annotations

import csv
import io
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sathub.errors import SathubError

err = Console(stderr=True)
out = Console()
Format = Literal["json", "csv", "table"]


def fail(message: str, code: int = 2) -> None:
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code)


def _run(fn: Callable[[], None]) -> None:
    """Run a command body: SathubError → message + exit 2, never a traceback."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn()
        messages = list(dict.fromkeys(str(w.message) for w in caught))
        for message in messages[:5]:
            err.print(f"warning: {message}", markup=False, soft_wrap=True)
        if len(messages) > 5:
            err.print(f"warning: … and {len(messages) - 5} more warnings", markup=False)
    except SathubError as exc:
        fail(exc.message)


def emit(rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[str],
         title: str = "") -> None:
    """Print rows as JSON (a list of objects), CSV (header + rows) or a rich table."""
    if fmt == "json":
        sys.stdout.write(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else list(columns),
                                extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (orjson.dumps(v).decode() if isinstance(v, (dict, list)) else v)
                             for k, v in row.items()})
        sys.stdout.write(buf.getvalue())
    else:
        table = Table(title=title or None)
        for col in columns:
            table.add_column(col, no_wrap=True)
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        console = out if out.is_terminal else Console(width=240)
        console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, str) and len(value) == 24 and value.endswith("Z") and value[10] == "T":
        return value[:10] + " " + value[11:19]  # ISO instant → compact UTC for tables
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else ""
    return "" if value is None else str(value)


def _load(tle: Path, norad: list[int] | None) -> list[Any]:
    from sathub.orbits.elements import load_elements

    sets = load_elements(tle)
    if norad:
        wanted = set(norad)
        sets = [s for s in sets if s.norad_id in wanted]
        missing = wanted - {s.norad_id for s in sets}
        if missing:
            raise SathubError(f"unknown satellite(s) in {tle.name}: "
                              f"{', '.join(map(str, sorted(missing)))}")
    if not sets:
        raise SathubError(f"{tle} holds no element sets")
    return sets


TleOpt = Annotated[Path, typer.Option("--tle", help="TLE/3LE or OMM (JSON, XML, CSV, KVN) file.",
                                      exists=False)]
NoradOpt = Annotated[list[int] | None, typer.Option("--norad", help="Only these NORAD ids.")]
StartOpt = Annotated[str, typer.Option("--start", help="Window start, ISO 8601 (UTC if naive).")]
HoursOpt = Annotated[float, typer.Option("--hours", help="Window length in hours.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="json | csv | table")]


def _fmt(value: str) -> Format:
    if value not in ("json", "csv", "table"):
        raise SathubError(f"--format must be json, csv or table, not {value!r}")
    return value  # type: ignore[return-value]


def passes(
    tle: TleOpt,
    station: Annotated[list[str], typer.Option(
        "--station", help="LAT,LON[,ALT_M] in degrees and metres; repeat for several.")],
    start: StartOpt,
    hours: HoursOpt = 24.0,
    min_elevation: Annotated[float, typer.Option("--min-elevation", help="Mask, degrees.")] = 0.0,
    fmt: FormatOpt = "table",
    norad: NoradOpt = None,
) -> None:
    """Ground-station passes (AOS, TCA, LOS, max elevation) of every satellite in a file."""
    def body() -> None:
        from sathub.orbits.frames import Station
        from sathub.orbits.passes import find_passes
        from sathub.orbits.timeutil import parse_utc

        f = _fmt(fmt)
        stations = [Station.parse(s) for s in station]
        result = find_passes(_load(tle, norad), stations, parse_utc(start, field="start"),
                             hours, min_elevation_deg=min_elevation)
        rows = [p.to_dict() for p in result.passes]
        emit(rows, f, ["norad_id", "name", "station", "aos", "tca", "los",
                       "max_elevation_deg", "aos_azimuth_deg", "los_azimuth_deg"],
             title=f"{len(rows)} passes")
        for failure in result.failures:
            err.print(f"warning: SGP4 error for NORAD {failure.norad_id} ({failure.name}) at "
                      f"{failure.to_dict()['time']}: {failure.message}", markup=False)
    _run(body)


def register(app: typer.Typer) -> None:
    """Add the orbit commands to the top-level ``sathub`` app."""
    app.command("passes")(passes)
    try:
        from sathub.orbits import cli_planning
    except ImportError:  # pragma: no cover - planning commands are optional
        return
    cli_planning.register(app)
