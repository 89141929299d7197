"""``sathub orders …``: acquisition orders (received → planned → acquired → delivered), kept in
the data directory."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import typer

from sathub.cli.common import DEFAULT_DATA, Col, DataOpt, FormatOpt, emit, installation, instant, sub_app
from sathub.cli.orbits import OPP_COLUMNS, AoiOpt, BboxOpt, NoradOpt, StartOpt, TleOpt, _opp_rows, load_sets, read_aoi
from sathub.errors import InvalidInput

orders_app = sub_app("Acquisition orders (received → planned → acquired → delivered).")
ORDER_COLUMNS = [Col("id"), Col("priority"), Col("status"), Col("product"), Col("start", show=instant),
                 Col("end", show=instant), Col("item_id", "item"), Col("created", show=instant)]  # fmt: skip
Status = Literal["planned", "acquired", "delivered", "failed", "cancelled"]


def _row(o: Any) -> dict[str, Any]:
    d = o.model_dump(mode="json")
    return {k: d[k] for k in ("id", "priority", "status", "product", "start", "end", "item_id", "created",
                              "opportunities", "history")}  # fmt: skip


@orders_app.command("create")
def orders_create(
    start: StartOpt,
    data: DataOpt = DEFAULT_DATA,
    hours: Annotated[float, typer.Option("--hours", min=0, help="Window length (hours).")] = 72.0,
    aoi: AoiOpt = None,
    bbox: BboxOpt = None,
    priority: Annotated[Literal["disaster", "urgent", "high", "normal", "low"], typer.Option(
        "--priority", help="Disaster response is planned first.")] = "normal",
    product: Annotated[Literal["optical", "sar", "any"], typer.Option(
        "--product", help="Sensor kind wanted.")] = "any",
) -> None:
    """Record a new order (status: received); prints its id."""
    from pydantic import ValidationError

    from sathub.orbits.orders import OrderBook, OrderRequest
    from sathub.timeutil import parse_datetime

    t0 = parse_datetime(start, field="start")
    try:
        req = OrderRequest(aoi=read_aoi(aoi, bbox), start=t0, end=t0 + timedelta(hours=hours),
                           priority=priority, product=product)  # fmt: skip
    except ValidationError as exc:
        raise InvalidInput(str(exc.errors()[0]["msg"]), field="order") from None
    with installation(data) as inst:
        book = OrderBook(inst.orbits)
        order = book.create(req)
    print(order.id)


@orders_app.command("list")
def orders_list(data: DataOpt = DEFAULT_DATA, format: FormatOpt = "table") -> None:
    """Orders, disaster response first."""
    from sathub.orbits.orders import OrderBook

    with installation(data) as inst:
        orders = OrderBook(inst.orbits).list_orders()
    emit([_row(o) for o in orders], ORDER_COLUMNS, format)


@orders_app.command("plan")
def orders_plan(order_id: Annotated[str, typer.Argument(help="The order's id.")], tle: TleOpt,
                data: DataOpt = DEFAULT_DATA, norad: NoradOpt = None,
                format: FormatOpt = "table") -> None:  # fmt: skip
    """Propose imaging opportunities for an order from an element file (status: planned)."""
    from sathub.orbits.orders import OrderBook
    from sathub.orbits.sensors import KNOWN_SENSORS

    with installation(data) as inst:
        book = OrderBook(inst.orbits)
        book.get(order_id)  # an unknown order is an error before the elements are read
        order = book.plan(order_id, load_sets(tle, norad), KNOWN_SENSORS)
    emit(_opp_rows(order.opportunities, format), OPP_COLUMNS, format,
         title=f"order {order.id}: {order.status}")  # fmt: skip


@orders_app.command("status")
def orders_status(
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    status: Annotated[Status, typer.Argument(help="The new status.")],
    data: DataOpt = DEFAULT_DATA,
    item_id: Annotated[str | None, typer.Option("--item-id", help="The acquired item (acquired).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (kept in the history).")] = None,
) -> None:
    """Move an order on: planned, acquired (with --item-id), delivered, failed, cancelled."""
    from sathub.orbits.orders import OrderBook

    with installation(data) as inst:
        book = OrderBook(inst.orbits)
        order = book.transition(order_id, status, note=note, item_id=item_id)
    print(f"{order.id}: {order.status}")


def register(app: typer.Typer) -> None:
    app.add_typer(orders_app, name="orders")
