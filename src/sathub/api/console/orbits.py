"""Satellites and orbits: the registry with element-set ages and ground tracks
(``/console/orbits``), a pass timeline per ground station with conflicts
(``/console/orbits/passes``), imaging opportunities for an AOI turned into orders
(``/console/orbits/opportunities``) and the order board (``/console/orders``).

Computations are the orbits API's route functions; writes are its routes, posted by the page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from sathub.api.console import data
from sathub.api.console.listing import Column, listing
from sathub.api.console.render import ConsoleRoute, page
from sathub.api.gate import requires
from sathub.errors import InvalidInput
from sathub.orbits.orders import TRANSITIONS

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

SATELLITES = (
    Column("norad_id", "col.norad_id", numeric=True), Column("name", "col.name"),
    Column("operator", "col.operator", filter=True), Column("status", "col.status", filter=True),
    Column("orbit_class", "col.orbit_class", filter=True),
    Column("sensor_count", "col.sensors", numeric=True), Column("epoch", "col.epoch"),
    Column("age_days", "col.age_days", numeric=True),
    Column("age", "col.freshness", filter=True, labels="elements.age."),
)  # fmt: skip
ORDERS = (
    Column("id", "col.id"), Column("priority", "col.priority", filter=True, labels="order.priority."),
    Column("status", "col.status", filter=True, labels="order.status."),
    Column("start", "col.start"), Column("end", "col.end"), Column("org", "col.organisation", filter=True),
    Column("created", "col.created"), Column("opportunities_n", "col.opportunities", numeric=True),
)  # fmt: skip
BOARD = ("received", "planned", "acquired", "delivered")
TIMELINE_W, ROW_H, LABEL_W = 900, 22, 150


@router.get("/orbits", dependencies=[requires("console:staff")])
def satellites(request: Request) -> Response:
    rows = data.registry(request)
    tracked = [s for s in rows if s["epoch"]]
    return page(request, "orbits.html", "orbits.title", needs=("map", "orbits"),
                satellites=listing(request, rows, SATELLITES, sort="norad_id"), tracked=tracked,
                stale=sum(1 for s in rows if s["age"] in ("old", "stale")))  # fmt: skip


@router.get("/orbits/passes", dependencies=[requires("console:staff")])
def pass_timeline(request: Request, station: str | None = Query(default=None, max_length=64),
                  days: float = Query(default=2.0, gt=0, le=7),
                  min_elevation: float = Query(default=10.0, ge=0, le=90)) -> Response:  # fmt: skip
    stations = data.stations(request)
    chosen = [s for s in stations if station in (None, "", s["code"])]
    if station and not chosen:
        raise InvalidInput(f"unknown ground station {station!r}", field="station")
    start, end = data.window(days)
    timelines = []
    for st in chosen:
        found = data.passes(request, st, start, days * 24.0, min_elevation)
        timelines.append(_timeline(st, found["passes"], start, end))
    return page(request, "passes.html", "passes.title", stations=stations, station=station or "",
                days=days, min_elevation=min_elevation, timelines=timelines, start=start, end=end)  # fmt: skip


def _timeline(station: dict[str, Any], passes: list[dict[str, Any]], start: datetime,
              end: datetime) -> dict[str, Any]:  # fmt: skip
    """Rows (one per satellite) of pass bars, the overlaps between satellites (one antenna
    serves one satellite at a time), and day ticks: positions in the SVG's coordinates."""
    span = (end - start).total_seconds()

    def x(iso: str) -> float:
        at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        return LABEL_W + max(0.0, min(1.0, (at - start).total_seconds() / span)) * (TIMELINE_W - LABEL_W)

    names = sorted({(p["norad_id"], p["name"]) for p in passes}, key=lambda s: s[1])
    row_of = {nid: i for i, (nid, _) in enumerate(names)}
    bars = [{**p, "x": x(p["aos"]), "w": max(1.5, x(p["los"]) - x(p["aos"])),
             "y": 20 + row_of[p["norad_id"]] * ROW_H} for p in passes]  # fmt: skip
    clashes = data.conflicts(passes)
    marks = [{**c, "x": x(c["start"]), "w": max(2.0, x(c["end"]) - x(c["start"]))} for c in clashes]
    ticks = []
    day = start.replace(hour=0, minute=0) + timedelta(days=1)
    while day < end:
        ticks.append({"x": x(day.isoformat()), "label": day.strftime("%Y-%m-%d")})
        day += timedelta(days=1)
    height = 30 + max(1, len(names)) * ROW_H
    return {"station": station, "rows": [{"name": n, "y": 20 + i * ROW_H} for i, (_, n) in enumerate(names)],
            "bars": bars, "conflicts": marks, "ticks": ticks, "height": height, "width": TIMELINE_W,
            "passes": passes}  # fmt: skip


@router.get("/orbits/opportunities", dependencies=[requires("orders:create")])
def opportunities(request: Request) -> Response:
    start, _ = data.window(0)
    sats = [s for s in data.registry(request) if s["epoch"] and s["sensor_count"]]
    return page(request, "opportunities.html", "opportunities.title", needs=("map", "orbits"),
                satellites=sats, start=start.strftime("%Y-%m-%dT%H:%M"),
                end=(start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))  # fmt: skip


@router.get("/orders", dependencies=[requires("orders:read")])
def orders(request: Request) -> Response:
    names = data.org_names(request)
    rows = data.orders(request)
    for o in rows:
        o["org"] = names.get(o["org_id"], "") if o["org_id"] is not None else ""
        o["opportunities_n"] = len(o.get("opportunities") or [])
        o["next"] = sorted(TRANSITIONS[o["status"]] - {o["status"]})
    board = {s: [o for o in rows if o["status"] == s] for s in BOARD}
    return page(request, "orders.html", "orders.title", board=board, states=BOARD,
                orders=listing(request, rows, ORDERS, sort="created", desc=True))  # fmt: skip
