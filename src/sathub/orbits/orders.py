"""Acquisition orders, after the STAPI draft (products → opportunities → orders).

An order asks for an AOI in a time window with a priority (``disaster`` first). The planner
proposes opportunities (:func:`sathub.orbits.coverage.find_opportunities`); the order then
moves ``received → planned → acquired`` (linked to an ingested item id) ``→ delivered``, or
ends ``failed`` / ``cancelled``. Kept by an :class:`~sathub.orbits.store.OrbitStore`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from sathub.errors import Conflict, InvalidInput, NotFound
from sathub.orbits.coverage import find_opportunities, normalise_aoi
from sathub.orbits.elements import ElementSet
from sathub.orbits.sensors import Sensor
from sathub.orbits.store import FileOrbitStore, OrbitStore
from sathub.orbits.timeutil import parse_utc

Priority = Literal["disaster", "urgent", "high", "normal", "low"]
PRIORITY_RANK: dict[str, int] = {"disaster": 0, "urgent": 1, "high": 2, "normal": 3, "low": 4}
OrderStatus = Literal["received", "planned", "acquired", "delivered", "failed", "cancelled"]
TRANSITIONS: dict[str, set[str]] = {
    "received": {"planned", "failed", "cancelled"},
    "planned": {"planned", "acquired", "failed", "cancelled"},
    "acquired": {"delivered", "failed"},
    "delivered": set(), "failed": set(), "cancelled": set(),
}
MAX_ORDER_DAYS = 31.0


class StatusChange(BaseModel):
    status: OrderStatus
    at: datetime
    note: str | None = None


class OrderRequest(BaseModel):
    """What a user asks for."""

    aoi: dict[str, Any]
    start: datetime
    end: datetime
    priority: Priority = "normal"
    product: Literal["optical", "sar", "any"] = "any"
    min_coverage: float = Field(default=0.2, ge=0, le=1)
    max_off_nadir_deg: float | None = Field(default=None, ge=0, le=60)
    satellites: list[int] | None = None
    note: str | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> datetime:
        return parse_utc(value, field="start/end")


class Order(OrderRequest):
    id: str
    org_id: int | None = None  # the ordering organisation (None: the agency itself)
    created_by: str = ""
    status: OrderStatus = "received"
    created: datetime
    opportunities: list[dict[str, Any]] = Field(default_factory=list)
    item_id: str | None = None
    history: list[StatusChange] = Field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


class OrderBook:
    """The orders of one installation, kept by an :class:`OrbitStore` (a data directory: its
    JSON files). Every change is written when the method returns; a status change is checked
    and applied in one atomic step of the store (two concurrent ones cannot both apply)."""

    def __init__(self, store: OrbitStore | Path) -> None:
        self.store: OrbitStore = FileOrbitStore(store) if isinstance(store, Path) else store

    def create(self, request: OrderRequest, *, org_id: int | None = None,
               created_by: str = "") -> Order:
        if request.end <= request.start:
            raise InvalidInput("order end must be after start", field="end")
        if (request.end - request.start).total_seconds() > MAX_ORDER_DAYS * 86400:
            raise InvalidInput(f"order window longer than {MAX_ORDER_DAYS:g} days", field="end")
        normalise_aoi(request.aoi)  # validates
        now = _now()
        order = Order(**request.model_dump(), id=uuid.uuid4().hex[:12], created=now,
                      org_id=org_id, created_by=created_by,
                      history=[StatusChange(status="received", at=now)])
        self.store.add_order(order.model_dump(mode="json"))
        return order

    def get(self, order_id: str) -> Order:
        doc = self.store.order(order_id)
        if doc is None:
            raise NotFound(f"unknown order {order_id!r}", field="order_id")
        return Order.model_validate(doc)

    def list_orders(self, status: str | None = None, *, org_id: int | None = None,
                    every_org: bool = True) -> list[Order]:
        """Orders by priority (disaster response first), then by creation time; only those of
        ``org_id`` unless ``every_org``."""
        orders = [o for o in map(Order.model_validate, self.store.orders())
                  if (status is None or o.status == status) and (every_org or o.org_id == org_id)]
        return sorted(orders, key=lambda o: (PRIORITY_RANK[o.priority], o.created))

    def _update(self, order_id: str, change: Callable[[Order], None]) -> Order:
        """``change`` applied to the current order, in one atomic step of the store."""

        def apply(doc: dict[str, Any]) -> dict[str, Any]:
            order = Order.model_validate(doc)
            change(order)
            return order.model_dump(mode="json")

        doc = self.store.update_order(order_id, apply)
        if doc is None:
            raise NotFound(f"unknown order {order_id!r}", field="order_id")
        return Order.model_validate(doc)

    def transition(self, order_id: str, status: OrderStatus, note: str | None = None,
                   item_id: str | None = None) -> Order:
        if status == "acquired" and not item_id:
            self.get(order_id)  # an unknown order is a 404 first
            raise InvalidInput("an acquired order needs the ingested item id", field="item_id")
        return self._update(order_id, lambda order: _transition(order, status, note, item_id))

    def plan(self, order_id: str, sets: Sequence[ElementSet],
             sensors: dict[int, list[Sensor]], *, max_opportunities: int = 10) -> Order:
        """Propose opportunities (best coverage, then earliest); status becomes ``planned``
        when there is at least one."""
        order = self.get(order_id)
        chosen = {}
        for nid, lst in sensors.items():
            if order.satellites and nid not in order.satellites:
                continue
            keep = [s for s in lst if order.product in ("any", s.kind)]
            if order.max_off_nadir_deg is not None:
                keep = [s.model_copy(update={"max_off_nadir_deg": min(
                    s.max_off_nadir_deg, order.max_off_nadir_deg)}) for s in keep]
            if keep:
                chosen[nid] = keep
        opps = find_opportunities(sets, chosen, order.aoi, order.start, order.end,
                                  min_coverage=order.min_coverage)
        opps.sort(key=lambda o: (-round(o.coverage_fraction, 2), o.center_time))
        found = [o.to_dict() for o in opps[:max_opportunities]]

        def planned(current: Order) -> None:
            current.opportunities = found
            if found:
                _transition(current, "planned", f"{len(opps)} opportunities, best coverage "
                                                f"{opps[0].coverage_fraction:.0%}", None)

        return self._update(order_id, planned)


def _transition(order: Order, status: OrderStatus, note: str | None, item_id: str | None) -> None:
    """Move ``order`` to ``status`` (Conflict when its current status does not allow it)."""
    if status not in TRANSITIONS[order.status]:
        raise Conflict(f"order {order.id} is {order.status}; cannot become {status}",
                       field="status")
    if status == "acquired":
        order.item_id = item_id
    order.status = status
    order.history.append(StatusChange(status=status, at=_now(), note=note))
