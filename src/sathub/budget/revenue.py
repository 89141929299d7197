"""Revenue from data agreements: a price per GB (10⁹ bytes) or per km² delivered, applied to
the audited distribution records of the agreement.

A delivery is an audit record of the agreement with action ``download`` or ``tiles`` and
outcome ``ok`` in the period (UTC days, both ends included). Per GB: the bytes of every
delivery. Per km²: the geodesic area (WGS84) of every distinct item delivered in the period,
counted once however often it was fetched. The amount is the quantity times the price,
rounded half up to the currency's minor unit, once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sathub.budget.model import Price
from sathub.budget.money import round_to, to_minor

if TYPE_CHECKING:
    from sathub.catalog.store import CatalogStore

DELIVERY_ACTIONS = frozenset({"download", "tiles"})
BYTES_PER_GB = Decimal(10) ** 9
AreaFn = Callable[[str, str], "float | None"]  # (collection, item) → km² (None: unknown item)


@dataclass
class Revenue:
    agreement_id: int
    start: dt.date
    end: dt.date
    unit: str
    quantity: Decimal  # GB or km²
    price: Decimal
    currency: str
    amount: Decimal
    deliveries: int
    items: int
    unknown_items: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("quantity", "price", "amount", "start", "end"):
            d[k] = str(d[k]) if not isinstance(d[k], dt.date) else d[k].isoformat()
        return d


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def deliveries(records: list[dict[str, Any]], start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    lo, hi = _epoch(start), _epoch(end + dt.timedelta(days=1))
    return [r for r in records if r["action"] in DELIVERY_ACTIONS and r["outcome"] == "ok"
            and lo <= r["ts"] < hi]  # fmt: skip


def compute(price: Price, records: list[dict[str, Any]], start: dt.date, end: dt.date,
            area_km2: AreaFn | None = None) -> Revenue:  # fmt: skip
    """The revenue of ``price``'s agreement over [start, end] from its audit records."""
    got = deliveries(records, start, end)
    unit_price = Decimal(price.price)
    items = sorted({"/".join(str(r["resource"]).split("/")[:2]) for r in got})
    unknown: list[str] = []
    if price.unit == "per_gb":
        quantity = Decimal(sum(int(r["bytes"]) for r in got)) / BYTES_PER_GB
    else:
        quantity = Decimal(0)
        for key in items:
            collection, _, item = key.partition("/")
            area = area_km2(collection, item) if area_km2 else None
            if area is None:
                unknown.append(key)
                continue
            quantity += Decimal(f"{area:.6f}")
    amount = round_to(quantity * unit_price, price.currency)
    to_minor(amount, price.currency)  # checks the precision
    return Revenue(price.agreement_id, start, end, price.unit, quantity, unit_price, price.currency,
                   amount, len(got), len(items), unknown)  # fmt: skip


def catalog_area(store: CatalogStore) -> AreaFn:
    """Item areas (km², geodesic on WGS84) read from the installation's catalog."""
    from pyproj import Geod

    from sathub.access.geo import item_shape
    from sathub.errors import NotFound

    geod = Geod(ellps="WGS84")

    def area(collection: str, item_id: str) -> float | None:
        try:
            item = store.get_item(collection, item_id)
        except NotFound:
            return None
        geom = item_shape(dict(item))
        if geom is None:
            return None
        return abs(geod.geometry_area_perimeter(geom)[0]) / 1e6

    return area
