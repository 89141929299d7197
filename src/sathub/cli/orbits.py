"""Orbit commands: ``sathub passes``, ``sathub opportunities``, ``sathub design sun-sync``.
They read element files and need no data directory; orders are in :mod:`sathub.cli.orders`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from shapely import geometry as sg

from sathub.cli.common import Col, FormatOpt, emit, err, instant, sub_app, warn
from sathub.errors import InvalidInput, NotFound

TleOpt = Annotated[Path, typer.Option("--tle", help="TLE/3LE or OMM (JSON, XML, CSV, KVN) file.")]
NoradOpt = Annotated[list[int] | None, typer.Option("--norad", help="Only these NORAD ids (repeatable).")]
StartOpt = Annotated[str, typer.Option(
    "--start", help="Window start: ISO 8601 date or datetime (UTC when no zone is given).")]  # fmt: skip
AoiOpt = Annotated[Path | None, typer.Option("--aoi", help="GeoJSON file (Polygon/Feature).")]
BboxOpt = Annotated[str | None, typer.Option(
    "--bbox", help="W,S,E,N in degrees (W > E crosses the antimeridian).")]  # fmt: skip


def load_sets(tle: Path, norad: list[int] | None) -> list[Any]:
    """The element sets of a file, or those of ``norad``; NotFound names missing satellites."""
    from sathub.orbits.elements import load_elements

    sets = load_elements(tle)
    if norad:
        wanted = set(norad)
        sets = [s for s in sets if s.norad_id in wanted]
        missing = wanted - {s.norad_id for s in sets}
        if missing:
            raise NotFound(f"unknown satellite(s) in {tle.name}: {', '.join(map(str, sorted(missing)))}",
                           field="norad")  # fmt: skip
    if not sets:
        raise InvalidInput(f"{tle} holds no element sets", field="tle")
    return sets


def read_aoi(aoi: Path | None, bbox: str | None) -> dict[str, Any]:
    """The area of ``--aoi`` (a GeoJSON file) or ``--bbox``; exactly one of them."""
    if (aoi is None) == (bbox is None):
        raise InvalidInput("give exactly one of --aoi or --bbox", field="aoi")
    if aoi is not None:
        try:
            data = json.loads(aoi.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read AOI {aoi}: {exc}", field="aoi") from exc
        if data.get("type") == "FeatureCollection":
            if not data.get("features"):
                raise InvalidInput(f"{aoi} holds no feature", field="aoi")
            data = data["features"][0]
        return data.get("geometry", data)  # type: ignore[no-any-return]
    try:
        w, s, e, n = (float(x) for x in str(bbox).split(","))
    except ValueError:
        raise InvalidInput("--bbox must be W,S,E,N", field="bbox") from None
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise InvalidInput(f"--bbox longitudes must be in [-180, 180], got W={w:g}, E={e:g}",
                           field="bbox")  # fmt: skip
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise InvalidInput(f"--bbox latitudes must be in [-90, 90], got S={s:g}, N={n:g}",
                           field="bbox")  # fmt: skip
    if s >= n:
        raise InvalidInput(f"--bbox south ({s:g}) must be less than north ({n:g}): the order "
                           "is W,S,E,N", field="bbox")  # fmt: skip
    if e == w:
        raise InvalidInput("--bbox west and east are equal: the box has no width", field="bbox")
    if e < w:
        e += 360.0  # continuous longitudes across the antimeridian
    return dict(sg.mapping(sg.box(w, s, e, n)))


def check_off_nadir(value: float) -> None:
    if not 0 <= value <= 60:
        raise InvalidInput(f"--max-off-nadir must be in [0, 60] degrees, got {value:g}",
                           field="max_off_nadir")  # fmt: skip


PASS_COLUMNS = [Col("norad_id", "NORAD"), Col("name"), Col("station"), Col("aos", "AOS", show=instant),
                Col("tca", "TCA", show=instant), Col("los", "LOS", show=instant),
                Col("max_elevation_deg", "max elevation", "°", 1),
                Col("aos_azimuth_deg", "AOS azimuth", "°", 1), Col("los_azimuth_deg", "LOS azimuth", "°", 1),
                Col("duration_s", "duration", "s", 0)]  # fmt: skip
OPP_COLUMNS = [Col("norad_id", "NORAD"), Col("satellite"), Col("sensor"), Col("start", show=instant),
               Col("end", show=instant), Col("off_nadir_deg", "off nadir", "°", 1), Col("look_side", "look"),
               Col("coverage_fraction", "coverage", "%", 1),
               Col("sun_elevation_deg", "sun elevation", "°", 1)]  # fmt: skip


def _opp_rows(opps: list[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    """JSON keeps the footprints; tables show coverage in %; CSV stays flat."""
    if fmt == "json":
        return opps
    rows = [{k: v for k, v in o.items() if k != "footprint"} for o in opps]
    if fmt == "table":
        for r in rows:
            r["coverage_fraction"] = 100 * r["coverage_fraction"]
    return rows


def passes(
    tle: TleOpt,
    station: Annotated[list[str], typer.Option(
        "--station", help="LAT,LON[,ALT_M] in degrees and metres; repeat for several.")],
    start: StartOpt,
    hours: Annotated[float, typer.Option("--hours", min=0, max=24 * 60, help="Window length (hours).")] = 24.0,
    min_elevation: Annotated[float, typer.Option(
        "--min-elevation", min=-90, max=90, help="Elevation mask (degrees).")] = 0.0,
    format: FormatOpt = "table",
    norad: NoradOpt = None,
) -> None:
    """Ground-station passes (AOS, TCA, LOS, maximum elevation) of every satellite in a file."""
    from sathub.orbits.frames import Station
    from sathub.orbits.passes import find_passes
    from sathub.timeutil import parse_datetime

    stations = [Station.parse(s) for s in station]
    result = find_passes(load_sets(tle, norad), stations, parse_datetime(start, field="start"),
                         hours, min_elevation_deg=min_elevation)  # fmt: skip
    emit([p.to_dict() for p in result.passes], PASS_COLUMNS, format,
         title=f"{len(result.passes)} passes")  # fmt: skip
    for failure in result.failures:
        warn(f"SGP4 error for NORAD {failure.norad_id} ({failure.name}) at "
             f"{failure.to_dict()['time']}: {failure.message}")  # fmt: skip


def opportunities(
    tle: TleOpt,
    start: StartOpt,
    hours: Annotated[float, typer.Option("--hours", min=0, help="Window length (hours).")] = 72.0,
    aoi: AoiOpt = None,
    bbox: BboxOpt = None,
    norad: NoradOpt = None,
    swath_km: Annotated[float | None, typer.Option(
        "--swath-km", help="Sensor swath at nadir (km) for satellites without a built-in one.")] = None,
    max_off_nadir: Annotated[float, typer.Option(
        "--max-off-nadir", help="Pointing limit (degrees off nadir) for every sensor; a "
        "built-in sensor that points less far keeps its own limit.")] = 30.0,
    kind: Annotated[Literal["optical", "sar"], typer.Option("--kind", help="Sensor kind.")] = "optical",
    min_coverage: Annotated[float, typer.Option(
        "--min-coverage", min=0, max=1, help="Smallest share of the AOI covered (0-1).")] = 0.0,
    ignore_sun: Annotated[bool, typer.Option("--ignore-sun", help="Keep optical night passes.")] = False,
    format: FormatOpt = "table",
) -> None:
    """Imaging opportunities over an area: coverage, off-nadir angle, look side, footprint
    (the footprint in JSON only)."""
    from sathub.orbits.coverage import find_opportunities
    from sathub.orbits.sensors import KNOWN_SENSORS, Sensor
    from sathub.timeutil import parse_datetime

    t0 = parse_datetime(start, field="start")
    check_off_nadir(max_off_nadir)
    if swath_km is not None and not 0 < swath_km <= 3000:
        raise InvalidInput("--swath-km must be in (0, 3000]", field="swath_km")
    area = read_aoi(aoi, bbox)
    sets = load_sets(tle, norad)
    sensors: dict[int, list[Sensor]] = {}
    for es in sets:
        if swath_km is not None:
            sensors[es.norad_id] = [Sensor(name="sensor", kind=kind, swath_km=swath_km,
                                           max_off_nadir_deg=max_off_nadir)]  # fmt: skip
        elif es.norad_id in KNOWN_SENSORS:  # the option caps built-in sensors too
            sensors[es.norad_id] = [
                sn.model_copy(update={"max_off_nadir_deg": min(sn.max_off_nadir_deg, max_off_nadir)})
                for sn in KNOWN_SENSORS[es.norad_id]]  # fmt: skip
    if not sensors:
        raise InvalidInput("no sensor known for these satellites: give --swath-km", field="swath_km")
    opps = find_opportunities(sets, sensors, area, t0, t0 + timedelta(hours=hours),
                              min_coverage=min_coverage, enforce_sun=not ignore_sun)  # fmt: skip
    rows = _opp_rows([o.to_dict() for o in opps], format)
    emit(rows, OPP_COLUMNS, format, title=f"{len(rows)} opportunities")


design_app = sub_app("Mission design for planned satellites.")


def hours_text(hours: float | None) -> str:
    """A duration in hours for people: ``24.18 h (1 d 0 h 11 min)``; ``n/a`` for None."""
    if hours is None:
        return "n/a (fewer than two accesses)"
    minutes = round(hours * 60)
    d, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    parts = (f"{d} d " if d else "") + f"{h} h {m:02d} min"
    return f"{hours:.2f} h ({parts})"


def revisit_summary(stats: dict[str, Any], days: float) -> str:
    return (f"{stats['accesses']} accesses in {days:g} days; mean revisit "
            f"{hours_text(stats['mean_revisit_h'])}, max {hours_text(stats['max_revisit_h'])}; "
            f"mean coverage {100 * stats['mean_coverage_fraction']:.1f} %")  # fmt: skip


@design_app.command("sun-sync")
def design_sun_sync(
    epoch: Annotated[str | None, typer.Option(
        "--epoch", help="Element epoch, ISO 8601 (default: today 00:00 UTC).")] = None,
    altitude_km: Annotated[float, typer.Option("--altitude-km", help="Mean altitude (km).")] = 600.0,
    ltdn: Annotated[str, typer.Option("--ltdn", help="Local time of the descending node, HH:MM.")] = "10:30",
    name: Annotated[str, typer.Option("--name", help="Satellite name in the 3LE.")] = "PLANNED",
    aoi: AoiOpt = None,
    bbox: BboxOpt = None,
    days: Annotated[float, typer.Option("--days", help="Length of the revisit analysis (days).")] = 5.0,
    swath_km: Annotated[float, typer.Option("--swath-km", help="Sensor swath at nadir (km).")] = 60.0,
    max_off_nadir: Annotated[float, typer.Option(
        "--max-off-nadir", help="Pointing limit (degrees off nadir).")] = 30.0,
    format: FormatOpt = "table",
) -> None:
    """The elements (3LE, on stdout) of a sun-synchronous orbit; with --aoi or --bbox, its
    revisit over that area and the accesses (table, JSON or CSV)."""
    from sgp4.exporter import export_tle

    from sathub.orbits.coverage import MAX_WINDOW_DAYS
    from sathub.orbits.design import revisit, sun_synchronous
    from sathub.orbits.sensors import Sensor
    from sathub.orbits.timeutil import iso
    from sathub.timeutil import parse_datetime

    try:
        hh, mm = (int(x) for x in ltdn.split(":"))
    except ValueError:
        raise InvalidInput("--ltdn must be HH:MM", field="ltdn") from None
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise InvalidInput("--ltdn must be HH:MM with HH 0-23 and MM 0-59", field="ltdn")
    check_off_nadir(max_off_nadir)
    if not 0 < swath_km <= 3000:
        raise InvalidInput("--swath-km must be in (0, 3000]", field="swath_km")
    if not 0 < days <= MAX_WINDOW_DAYS:
        raise InvalidInput(f"--days must be in (0, {MAX_WINDOW_DAYS:g}]", field="days")
    t_epoch = (parse_datetime(epoch, field="epoch") if epoch is not None
               else datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))  # fmt: skip
    area = read_aoi(aoi, bbox) if aoi is not None or bbox is not None else None
    es = sun_synchronous(altitude_km, hh + mm / 60.0, t_epoch, name=name)
    l1, l2 = export_tle(es.satrec)
    err.print(f"{name}: epoch {iso(es.epoch)}, period {es.period_min:.2f} min, "
              f"inclination {float(es.fields['INCLINATION']):.2f}°, "
              f"RAAN {float(es.fields['RA_OF_ASC_NODE']):.2f}°")  # fmt: skip
    print(f"{name}\n{l1}\n{l2}")
    if area is not None:
        stats = revisit(es, Sensor(name="camera", swath_km=swath_km, max_off_nadir_deg=max_off_nadir),
                        area, es.epoch, days)  # fmt: skip
        err.print(revisit_summary(stats, days))
        emit(_opp_rows(stats["opportunities"], format), OPP_COLUMNS, format)


def register(app: typer.Typer) -> None:
    app.command()(passes)
    app.command()(opportunities)
    app.add_typer(design_app, name="design")
