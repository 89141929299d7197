"""Orbits API: satellites, element sets, passes, ground tracks, opportunities, orders, design.

A thin shell over :mod:`sathub.orbits`; the installation's :class:`OrbitStore` keeps the state.
Element sets come either inline (``elements``: TLE/3LE or OMM text) or from the registry
(``norad_ids``; the set nearest the requested time is used).

Permissions: the registry is readable by everyone (``orbits:read``); computations need a key
(``orbits:plan``); registry changes are for operators and admins (``orbits:write``), audited.
Orders: partners create and read their own organisation's (another's answers 404, exactly like
a missing one); operators and admins see all and plan them or change their status, audited.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import ValidationInfo, BaseModel, Field, field_validator

from sathub.access.models import Actor
from sathub.api.access import audit, installation
from sathub.api.gate import actor_of, requires
from sathub.errors import InvalidInput, NotFound
from sathub.orbits.coverage import find_opportunities
from sathub.orbits.design import revisit, sun_synchronous
from sathub.orbits.elements import ElementSet, parse_elements
from sathub.orbits.frames import Station
from sathub.orbits.groundtrack import ground_track
from sathub.orbits.orders import Order, OrderBook, OrderRequest, OrderStatus
from sathub.orbits.passes import find_passes
from sathub.orbits.registry import Registry, Satellite
from sathub.orbits.sensors import KNOWN_SENSORS, Sensor
from sathub.orbits.store import OrbitStore
from sathub.orbits.timeutil import iso, parse_utc

router = APIRouter(prefix="/orbits", tags=["orbits"])
READ, PLAN, WRITE = requires("orbits:read"), requires("orbits:plan"), requires("orbits:write")
ORDERS_READ, ORDERS_CREATE = requires("orders:read"), requires("orders:create")
ORDERS_MANAGE = requires("orders:manage")


def _data(request: Request) -> OrbitStore:
    return installation(request).orbits


def _sees_every_order(actor: Actor) -> bool:
    return actor.role in ("admin", "operator", "analyst")


def _order(request: Request, book: OrderBook, order_id: str) -> Order:
    """The order, if the caller's organisation may see it (another's is a 404)."""
    actor = actor_of(request)
    order = book.get(order_id)
    if not _sees_every_order(actor) and (actor.org_id is None or order.org_id != actor.org_id):
        raise NotFound(f"unknown order {order_id!r}", field="order_id")
    return order


class _Utc(BaseModel):
    @field_validator("start", "end", "epoch", mode="before", check_fields=False)
    @classmethod
    def _utc(cls, value: Any, info: ValidationInfo) -> datetime:
        return parse_utc(value, field=info.field_name or "time")


class ElementSource(_Utc):
    elements: str | None = Field(default=None, description="TLE/3LE or OMM text.")
    norad_ids: list[int] | None = Field(default=None, description="Use the registry.")

    def element_sets(self, request: Request, when: datetime) -> list[ElementSet]:
        if self.elements:
            sets = parse_elements(self.elements)
            if self.norad_ids:
                sets = [s for s in sets if s.norad_id in set(self.norad_ids)]
        elif self.norad_ids:
            sets = Registry(_data(request)).elements_at(self.norad_ids, when)
        else:
            raise InvalidInput("give elements or norad_ids", field="elements")
        if not sets:
            raise InvalidInput("no element sets selected", field="elements")
        return sets


class StationIn(BaseModel):
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    name: str = ""


class PassRequest(ElementSource):
    stations: list[StationIn] = Field(min_length=1, max_length=50)
    start: datetime
    hours: float = 24.0
    min_elevation_deg: float = 0.0


class OpportunityRequest(ElementSource):
    aoi: dict[str, Any]
    start: datetime
    end: datetime
    sensors: dict[int, list[Sensor]] | None = Field(
        default=None, description="Sensors per NORAD id; default: the registry / built-ins.")
    min_coverage: float = Field(default=0.0, ge=0, le=1)
    enforce_sun: bool = True


class DesignRequest(_Utc):
    altitude_km: float = 600.0
    ltdn_hours: float = 10.5
    epoch: datetime
    name: str = "PLANNED"
    aoi: dict[str, Any] | None = None
    sensor: Sensor | None = None
    days: float = Field(default=5.0, gt=0, le=31)


class StatusRequest(BaseModel):
    status: OrderStatus
    item_id: str | None = None
    note: str | None = None


@router.post("/passes", dependencies=[PLAN])
def passes(request: Request, body: PassRequest) -> dict[str, Any]:
    """Passes (AOS, TCA, LOS, max elevation, azimuths) of satellites over stations."""
    sets = body.element_sets(request, body.start)
    stations = [Station(s.lat_deg, s.lon_deg, s.alt_m, s.name) for s in body.stations]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = find_passes(sets, stations, body.start, body.hours,
                             min_elevation_deg=body.min_elevation_deg)
    return {"passes": [p.to_dict() for p in result.passes],
            "sgp4_failures": [f.to_dict() for f in result.failures],
            "warnings": sorted({str(w.message) for w in caught})}


@router.get("/satellites/{norad_id}/track", dependencies=[PLAN])
def track(request: Request, norad_id: int, start: str = Query(...),
          hours: float = Query(1.5, gt=0, le=48), step_s: float = Query(30.0, ge=1, le=600)
          ) -> dict[str, Any]:
    """Ground track of a registered satellite as a GeoJSON Feature (split at ±180°)."""
    when = parse_utc(start, field="start")
    (es,) = Registry(_data(request)).elements_at([norad_id], when)
    return ground_track(es, when, hours=hours, step_s=step_s)


@router.post("/track", dependencies=[PLAN])
def track_inline(request: Request, body: Annotated[ElementSource, Body()],
                 start: str = Query(...), hours: float = Query(1.5, gt=0, le=48),
                 step_s: float = Query(30.0, ge=1, le=600)) -> dict[str, Any]:
    """Ground tracks of inline element sets: a GeoJSON FeatureCollection."""
    when = parse_utc(start, field="start")
    sets = body.element_sets(request, when)
    if len(sets) > 100:
        raise InvalidInput("at most 100 satellites per track request", field="elements")
    return {"type": "FeatureCollection",
            "features": [ground_track(es, when, hours=hours, step_s=step_s) for es in sets]}


@router.post("/opportunities", dependencies=[PLAN])
def opportunities(request: Request, body: OpportunityRequest) -> dict[str, Any]:
    """Imaging opportunities over an AOI: coverage, off-nadir, look side, footprint, Sun."""
    sets = body.element_sets(request, body.start)
    sensors = body.sensors or _sensors(request, [s.norad_id for s in sets])
    opps = find_opportunities(sets, sensors, body.aoi, body.start, body.end,
                              min_coverage=body.min_coverage, enforce_sun=body.enforce_sun)
    return {"opportunities": [o.to_dict() for o in opps]}


def _sensors(request: Request, norad_ids: list[int]) -> dict[int, list[Sensor]]:
    reg = Registry(_data(request))
    out: dict[int, list[Sensor]] = {}
    for nid in norad_ids:
        known = [s for s in reg.satellites() if s.norad_id == nid]
        sensors = known[0].sensors if known and known[0].sensors else KNOWN_SENSORS.get(nid, [])
        if sensors:
            out[nid] = sensors
    return out


@router.get("/satellites", dependencies=[READ])
def satellites(request: Request) -> dict[str, Any]:
    return {"satellites": [s.model_dump(mode="json")
                           for s in Registry(_data(request)).satellites()]}


@router.get("/satellites/{norad_id}", dependencies=[READ])
def satellite(request: Request, norad_id: int) -> dict[str, Any]:
    return Registry(_data(request)).get(norad_id).model_dump(mode="json")


@router.put("/satellites/{norad_id}", dependencies=[WRITE])
def put_satellite(request: Request, norad_id: int, body: Satellite) -> dict[str, Any]:
    if body.norad_id != norad_id:
        raise InvalidInput("norad_id in the path and body differ", field="norad_id")
    reg = Registry(_data(request))
    sat = reg.upsert(body)
    audit(request, "orbits.satellite.put", f"satellite:{norad_id}", name=sat.name)
    return sat.model_dump(mode="json")


@router.post("/elements", dependencies=[WRITE])
def post_elements(request: Request, text: str = Body(..., media_type="text/plain")
                  ) -> dict[str, Any]:
    """Add element sets (TLE/3LE/OMM text) to the registry's history."""
    reg = Registry(_data(request))
    added = reg.add_elements(parse_elements(text))
    audit(request, "orbits.elements.add", "orbits:elements", added=added)
    return {"added": added}


@router.post("/satcat", dependencies=[WRITE])
def post_satcat(request: Request, text: str = Body(..., media_type="text/plain")
                ) -> dict[str, Any]:
    """Import a CelesTrak SATCAT CSV into the registry."""
    reg = Registry(_data(request))
    n = reg.import_satcat_csv(text)
    audit(request, "orbits.satcat.import", "orbits:satcat", imported=n)
    return {"imported": n}


@router.post("/orders", status_code=201, dependencies=[ORDERS_CREATE])
def create_order(request: Request, body: OrderRequest) -> dict[str, Any]:
    actor = actor_of(request)
    book = OrderBook(_data(request))
    order = book.create(body, org_id=actor.org_id, created_by=actor.name)
    audit(request, "orbits.order.create", f"order:{order.id}", priority=order.priority,
          org=actor.org_name)  # fmt: skip
    return order.model_dump(mode="json")


@router.get("/orders", dependencies=[ORDERS_READ])
def list_orders(request: Request, status: str | None = None) -> dict[str, Any]:
    actor = actor_of(request)
    orders = OrderBook(_data(request)).list_orders(status, org_id=actor.org_id,
                                                   every_org=_sees_every_order(actor))  # fmt: skip
    return {"orders": [o.model_dump(mode="json") for o in orders]}


@router.get("/orders/{order_id}", dependencies=[ORDERS_READ])
def get_order(request: Request, order_id: str) -> dict[str, Any]:
    return _order(request, OrderBook(_data(request)), order_id).model_dump(mode="json")


@router.post("/orders/{order_id}/plan", dependencies=[ORDERS_MANAGE])
def plan_order(request: Request, order_id: str,
               body: Annotated[ElementSource | None, Body()] = None) -> dict[str, Any]:
    """Propose opportunities from inline elements or the registry's satellites."""
    book = OrderBook(_data(request))
    order: Order = book.get(order_id)
    if body and (body.elements or body.norad_ids):
        sets = body.element_sets(request, order.start)
    else:
        reg = Registry(_data(request))
        ids = order.satellites or [s.norad_id for s in reg.satellites() if s.sensors]
        sets = reg.elements_at(ids, order.start) if ids else []
    if not sets:
        raise InvalidInput("no satellites with element sets to plan with", field="satellites")
    sensors = _sensors(request, [s.norad_id for s in sets])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        order = book.plan(order_id, sets, sensors)
    audit(request, "orbits.order.plan", f"order:{order_id}", status=order.status,
          opportunities=len(order.opportunities))  # fmt: skip
    return order.model_dump(mode="json")


@router.post("/orders/{order_id}/status", dependencies=[ORDERS_MANAGE])
def order_status(request: Request, order_id: str, body: StatusRequest) -> dict[str, Any]:
    book = OrderBook(_data(request))
    order = book.transition(order_id, body.status, note=body.note, item_id=body.item_id)
    audit(request, "orbits.order.status", f"order:{order_id}", status=body.status)
    return order.model_dump(mode="json")


@router.post("/design/sun-synchronous", dependencies=[PLAN])
def design(body: DesignRequest) -> dict[str, Any]:
    """Elements of a planned sun-synchronous satellite, and its revisit over an AOI."""
    from sgp4.exporter import export_omm, export_tle

    es = sun_synchronous(body.altitude_km, body.ltdn_hours, body.epoch, name=body.name)
    out: dict[str, Any] = {"omm": export_omm(es.satrec, body.name),
                           "tle": [body.name, *export_tle(es.satrec)],
                           "epoch": iso(es.epoch), "period_min": round(es.period_min, 3)}
    if body.aoi is not None:
        sensor = body.sensor or Sensor(name="camera", swath_km=60, max_off_nadir_deg=30)
        out["revisit"] = revisit(es, sensor, body.aoi, body.epoch, body.days)
    return out

