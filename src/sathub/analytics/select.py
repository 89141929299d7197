"""Inputs of a job: the AOI polygons (GeoJSON) and the catalog items of a period."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from sathub.catalog.geometry import check_geojson
from sathub.catalog.store import CatalogStore, SearchQuery
from sathub.errors import InvalidGeometry, InvalidInput
from sathub.timeutil import parse_datetime
from sathub.timeutil import parse_range as _parse_range


@dataclass(frozen=True)
class Zone:
    """One AOI polygon: its ``id`` property (or feature id, or position) and WGS84 shape."""

    id: str
    geometry: BaseGeometry
    properties: dict[str, Any]


def load_zones(source: Path | dict[str, Any]) -> list[Zone]:
    """Polygons of a GeoJSON FeatureCollection/Feature/geometry (WGS84 lon/lat)."""
    try:
        doc = json.loads(Path(source).read_text()) if not isinstance(source, dict) else source
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the AOI {source}: {exc}", field="aoi") from exc
    if not isinstance(doc, dict):
        raise InvalidGeometry("the AOI is not a GeoJSON object", field="aoi")
    if doc.get("type") == "FeatureCollection":
        feats = doc.get("features") or []
        if not isinstance(feats, list):
            raise InvalidGeometry("the AOI's 'features' is not an array", field="aoi")
    elif doc.get("type") == "Feature":
        feats = [doc]
    else:
        feats = [{"type": "Feature", "geometry": doc, "properties": {}}]
    zones = []
    for i, f in enumerate(feats):
        if not isinstance(f, dict):
            raise InvalidGeometry(f"AOI feature {i} is not a GeoJSON Feature", field="aoi")
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            raise InvalidInput(f"AOI feature {i}: 'properties' is not an object", field="aoi")
        try:
            check_geojson(f.get("geometry"), field="aoi", types=("Polygon", "MultiPolygon"))
        except InvalidGeometry as exc:
            raise InvalidGeometry(f"AOI feature {i}: {exc.message}", field="aoi") from None
        try:
            geom = shape(f["geometry"])
        except Exception as exc:
            raise InvalidGeometry(f"AOI feature {i}: {exc}", field="aoi") from exc
        zid = props.get("id", f.get("id", i))
        name = f"AOI polygon {zid!r} (feature {i})" if zid != i else f"AOI feature {i}"
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            raise InvalidGeometry(f"{name} is not a polygon", field="aoi")
        if not geom.is_valid:
            # a bow-tie or a ring that crosses itself has no single meaning (buffer(0) keeps
            # one lobe, make_valid another): the caller must fix it
            raise InvalidGeometry(
                f"{name} is not a valid polygon: {shapely.is_valid_reason(geom)}", field="aoi"
            )
        zones.append(Zone(str(zid), geom, props))
    if not zones:
        raise InvalidGeometry("the AOI holds no polygon", field="aoi")
    return zones


def union(zones: list[Zone]) -> BaseGeometry:
    return unary_union([z.geometry for z in zones])


def parse_day(text: str, *, end: bool = False, field: str = "datetime") -> datetime:
    """A date (that whole day: its first instant, or its last with ``end``) or a datetime, as
    UTC (:func:`sathub.timeutil.parse_datetime`)."""
    return parse_datetime(text, end=end, field=field)


def parse_range(text: str, field: str) -> tuple[datetime, datetime]:
    """``D1/D2`` → (start, end), inclusive whole days (:func:`sathub.timeutil.parse_range`)."""
    return _parse_range(text, field=field)


def find_items(
    store: CatalogStore,
    collection: str,
    aoi: BaseGeometry,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Items of ``collection`` intersecting ``aoi`` in [start, end], oldest first."""
    store.get_collection(collection)  # NotFound for an unknown collection
    # a detailed AOI (thousands of fields) is searched by its convex hull: same items
    search_shape = aoi.convex_hull if shapely.get_num_coordinates(aoi) > 1000 else aoi
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        res = store.search(
            SearchQuery(
                collections=[collection],
                intersects=mapping(search_shape),
                start=start,
                end=end,
                limit=1000,
                token=token,
            )
        )
        out.extend(res.items)
        token = res.next_token
        if not token:
            break
    out.sort(key=lambda it: (it["properties"].get("datetime") or "", it["id"]))
    return out
