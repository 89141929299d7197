"""Planning commands: ``sathub opportunities``, ``sathub design …``, ``sathub orders …``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from shapely import geometry as sg

from sathub.errors import InvalidInput, SathubError
from sathub.orbits.cli import FormatOpt, NoradOpt, StartOpt, TleOpt, _fmt, _load, _run, emit, err

DataOpt = Annotated[Path, typer.Option("--data", "-d", envvar="SATHUB_DATA",
                                       help="The data directory.")]
AoiOpt = Annotated[Path | None, typer.Option("--aoi", help="GeoJSON file (Polygon/Feature).")]
BboxOpt = Annotated[str | None, typer.Option("--bbox", help="W,S,E,N degrees (W > E crosses "
                                                            "the antimeridian).")]


def _aoi(aoi: Path | None, bbox: str | None) -> dict[str, Any]:
    if (aoi is None) == (bbox is None):
        raise InvalidInput("give exactly one of --aoi or --bbox", field="aoi")
    if aoi is not None:
        try:
            data = json.loads(aoi.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read AOI {aoi}: {exc}", field="aoi") from exc
        if data.get("type") == "FeatureCollection":
            data = data["features"][0]
        return data.get("geometry", data)
    try:
        w, s, e, n = (float(x) for x in str(bbox).split(","))
    except ValueError:
        raise InvalidInput("--bbox must be W,S,E,N", field="bbox") from None
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise InvalidInput(f"--bbox longitudes must be in [-180, 180], got W={w:g}, E={e:g}",
                           field="bbox")
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise InvalidInput(f"--bbox latitudes must be in [-90, 90], got S={s:g}, N={n:g}",
                           field="bbox")
    if s >= n:
        raise InvalidInput(f"--bbox south ({s:g}) must be less than north ({n:g}): the order "
                           "is W,S,E,N", field="bbox")
    if e == w:
        raise InvalidInput("--bbox west and east are equal: the box has no width", field="bbox")
    if e < w:
        e += 360.0  # continuous longitudes across the antimeridian
    return dict(sg.mapping(sg.box(w, s, e, n)))


def _check_off_nadir(value: float) -> None:
    if not 0 <= value <= 60:
        raise InvalidInput(f"--max-off-nadir must be in [0, 60] degrees, got {value:g}",
                           field="max_off_nadir")


OPP_COLUMNS = ["norad_id", "satellite", "sensor", "start", "end", "off_nadir_deg", "look_side",
               "coverage_fraction", "sun_elevation_deg"]


def opportunities(
    tle: TleOpt,
    start: StartOpt,
    hours: Annotated[float, typer.Option("--hours", help="Window length in hours.")] = 72.0,
    aoi: AoiOpt = None,
    bbox: BboxOpt = None,
    norad: NoradOpt = None,
    swath_km: Annotated[float | None, typer.Option(
        "--swath-km", help="Sensor swath (nadir, km) for satellites without a built-in one.")] = None,
    max_off_nadir: Annotated[float, typer.Option(
        "--max-off-nadir", help="Pointing limit in degrees off nadir, for every sensor (a "
        "built-in sensor that points less far keeps its own limit).")] = 30.0,
    kind: Annotated[str, typer.Option("--kind", help="optical | sar")] = "optical",
    min_coverage: Annotated[float, typer.Option("--min-coverage")] = 0.0,
    ignore_sun: Annotated[bool, typer.Option("--ignore-sun",
                                             help="Keep optical night passes.")] = False,
    fmt: FormatOpt = "table",
) -> None:
    """Imaging opportunities over an AOI: coverage, off-nadir, look side, footprint."""
    def body() -> None:
        from sathub.orbits.coverage import find_opportunities
        from sathub.orbits.sensors import KNOWN_SENSORS, Sensor
        from sathub.orbits.timeutil import parse_utc

        f = _fmt(fmt)
        t0 = parse_utc(start, field="start")
        _check_off_nadir(max_off_nadir)
        if swath_km is not None and not 0 < swath_km <= 3000:
            raise InvalidInput("--swath-km must be in (0, 3000]", field="swath_km")
        if kind not in ("optical", "sar"):
            raise InvalidInput("--kind must be optical or sar", field="kind")
        sets = _load(tle, norad)
        sensors: dict[int, list[Sensor]] = {}
        for es in sets:
            if swath_km is not None:
                sensors[es.norad_id] = [Sensor(name="sensor", kind=kind,  # type: ignore[arg-type]
                                               swath_km=swath_km,
                                               max_off_nadir_deg=max_off_nadir)]
            elif es.norad_id in KNOWN_SENSORS:
                # the option caps the pointing of every sensor, built-in ones included
                sensors[es.norad_id] = [
                    sn.model_copy(update={"max_off_nadir_deg": min(sn.max_off_nadir_deg,
                                                                   max_off_nadir)})
                    for sn in KNOWN_SENSORS[es.norad_id]]
        if not sensors:
            raise InvalidInput("no sensor known for these satellites: give --swath-km",
                               field="swath_km")
        opps = find_opportunities(sets, sensors, _aoi(aoi, bbox), t0,
                                  t0 + timedelta(hours=hours), min_coverage=min_coverage,
                                  enforce_sun=not ignore_sun)
        rows = [o.to_dict() for o in opps]
        if f == "csv":
            rows = [{k: v for k, v in r.items() if k != "footprint"} for r in rows]
        emit(rows, f, OPP_COLUMNS, title=f"{len(rows)} opportunities")
    _run(body)


design_app = typer.Typer(help="Mission design for planned satellites.", no_args_is_help=True)


@design_app.command("sun-sync")
def design_sun_sync(
    epoch: Annotated[str | None, typer.Option(
        "--epoch", help="Element epoch, ISO 8601 (default: today 00:00 UTC).")] = None,
    altitude_km: Annotated[float, typer.Option("--altitude-km")] = 600.0,
    ltdn: Annotated[str, typer.Option("--ltdn", help="Local time of descending node, HH:MM.")
                    ] = "10:30",
    name: Annotated[str, typer.Option("--name")] = "PLANNED",
    aoi: AoiOpt = None,
    bbox: BboxOpt = None,
    days: Annotated[float, typer.Option("--days", help="Revisit analysis length.")] = 5.0,
    swath_km: Annotated[float, typer.Option("--swath-km")] = 60.0,
    max_off_nadir: Annotated[float, typer.Option("--max-off-nadir")] = 30.0,
    fmt: FormatOpt = "table",
) -> None:
    """Elements (3LE) of a sun-synchronous orbit, and its revisit over an AOI if given."""
    def body() -> None:
        from sgp4.exporter import export_tle

        from sathub.orbits.coverage import MAX_WINDOW_DAYS
        from sathub.orbits.design import revisit, sun_synchronous
        from sathub.orbits.sensors import Sensor
        from sathub.orbits.timeutil import iso, parse_utc

        f = _fmt(fmt)
        try:
            hh, mm = (int(x) for x in ltdn.split(":"))
        except ValueError:
            raise InvalidInput("--ltdn must be HH:MM", field="ltdn") from None
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise InvalidInput("--ltdn must be HH:MM with HH 0-23 and MM 0-59", field="ltdn")
        _check_off_nadir(max_off_nadir)
        if not 0 < swath_km <= 3000:
            raise InvalidInput("--swath-km must be in (0, 3000]", field="swath_km")
        if not 0 < days <= MAX_WINDOW_DAYS:
            raise InvalidInput(f"--days must be in (0, {MAX_WINDOW_DAYS:g}]", field="days")
        t_epoch = (parse_utc(epoch, field="epoch") if epoch is not None
                   else datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
        es = sun_synchronous(altitude_km, hh + mm / 60.0, t_epoch, name=name)
        l1, l2 = export_tle(es.satrec)
        err.print(f"{name}: epoch {iso(es.epoch)}, period {es.period_min:.2f} min, "
                  f"inclination {float(es.fields['INCLINATION']):.2f}°, "
                  f"RAAN {float(es.fields['RA_OF_ASC_NODE']):.2f}°",
                  highlight=False, soft_wrap=True)
        print(f"{name}\n{l1}\n{l2}")
        if aoi is not None or bbox is not None:
            stats = revisit(es, Sensor(name="camera", swath_km=swath_km,
                                       max_off_nadir_deg=max_off_nadir),
                            _aoi(aoi, bbox), es.epoch, days)
            err.print(revisit_summary(stats, days), highlight=False, soft_wrap=True)
            emit([{k: v for k, v in o.items() if k != "footprint"}
                  for o in stats["opportunities"]], f, OPP_COLUMNS)
    _run(body)


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
            f"mean coverage {100 * stats['mean_coverage_fraction']:.1f} %")


orders_app = typer.Typer(help="Acquisition orders (received → planned → acquired → "
                              "delivered).", no_args_is_help=True)
ORDER_COLUMNS = ["id", "priority", "status", "start", "end", "item_id", "created"]


def _order_row(o: Any) -> dict[str, Any]:
    d = o.model_dump(mode="json")
    return {k: d[k] for k in (*ORDER_COLUMNS, "opportunities", "history")}


@orders_app.command("create")
def orders_create(
    start: StartOpt,
    data: DataOpt = Path("sathub-data"),
    hours: Annotated[float, typer.Option("--hours")] = 72.0,
    aoi: AoiOpt = None,
    bbox: BboxOpt = None,
    priority: Annotated[str, typer.Option("--priority",
                                          help="disaster|urgent|high|normal|low")] = "normal",
    product: Annotated[str, typer.Option("--product", help="optical|sar|any")] = "any",
) -> None:
    """Record a new order (status: received)."""
    def body() -> None:
        from pydantic import ValidationError

        from sathub.orbits.orders import OrderBook, OrderRequest
        from sathub.orbits.timeutil import parse_utc

        t0 = parse_utc(start, field="start")
        try:
            req = OrderRequest(aoi=_aoi(aoi, bbox), start=t0, end=t0 + timedelta(hours=hours),
                               priority=priority, product=product)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise InvalidInput(str(exc.errors()[0]["msg"]), field="order") from None
        book = OrderBook(data)
        order = book.create(req)
        book.save()
        print(order.id)
    _run(body)


@orders_app.command("list")
def orders_list(data: DataOpt = Path("sathub-data"), fmt: FormatOpt = "table") -> None:
    """Orders, disaster response first."""
    def body() -> None:
        from sathub.orbits.orders import OrderBook

        emit([_order_row(o) for o in OrderBook(data).list_orders()], _fmt(fmt), ORDER_COLUMNS)
    _run(body)


@orders_app.command("plan")
def orders_plan(order_id: str, tle: TleOpt, data: DataOpt = Path("sathub-data"),
                norad: NoradOpt = None, fmt: FormatOpt = "table") -> None:
    """Propose opportunities for an order from an element file."""
    def body() -> None:
        from sathub.orbits.orders import OrderBook
        from sathub.orbits.sensors import KNOWN_SENSORS

        book = OrderBook(data)
        order = book.plan(order_id, _load(tle, norad), KNOWN_SENSORS)
        book.save()
        emit([{k: v for k, v in o.items() if k != "footprint"} for o in order.opportunities],
             _fmt(fmt), OPP_COLUMNS, title=f"order {order.id}: {order.status}")
    _run(body)


@orders_app.command("status")
def orders_status(order_id: str, status: str, data: DataOpt = Path("sathub-data"),
                  item_id: Annotated[str | None, typer.Option("--item-id")] = None,
                  note: Annotated[str | None, typer.Option("--note")] = None) -> None:
    """Move an order on (planned, acquired --item-id ID, delivered, failed, cancelled)."""
    def body() -> None:
        from sathub.orbits.orders import TRANSITIONS, OrderBook

        if status not in TRANSITIONS:
            raise SathubError(f"unknown status {status!r}")
        book = OrderBook(data)
        order = book.transition(order_id, status, note=note, item_id=item_id)  # type: ignore[arg-type]
        book.save()
        print(f"{order.id}: {order.status}")
    _run(body)


def register(app: typer.Typer) -> None:
    app.command("opportunities")(opportunities)
    app.add_typer(design_app, name="design")
    app.add_typer(orders_app, name="orders")
