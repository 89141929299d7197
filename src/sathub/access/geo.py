"""AOIs of agreements and activations: GeoJSON (Multi)Polygons, validated and bounded."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
import shapely
from shapely.geometry.base import BaseGeometry

from sathub.catalog.geometry import geometry_from_geojson
from sathub.errors import InvalidGeometry, InvalidInput

MAX_AOI_VERTICES = 10_000  # larger AOIs are refused: they would slow every partner's search


def check_aoi(aoi: Any) -> dict[str, Any]:
    """The AOI as a GeoJSON (Multi)Polygon, or InvalidInput/InvalidGeometry."""
    if isinstance(aoi, dict) and aoi.get("type") == "Feature":
        aoi = aoi.get("geometry")
    if isinstance(aoi, dict) and aoi.get("type") == "FeatureCollection":
        feats = aoi.get("features") or []
        if len(feats) != 1:
            raise InvalidInput("an AOI file holds one feature or one geometry", field="aoi")
        aoi = feats[0].get("geometry")
    if not isinstance(aoi, dict) or aoi.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry("an AOI is a GeoJSON Polygon or MultiPolygon", field="aoi")
    if len(orjson.dumps(aoi)) > 2_000_000:
        raise InvalidGeometry("the AOI is too large (over 2 MB of GeoJSON)", field="aoi")
    geom = geometry_from_geojson(aoi, field="aoi")
    if shapely.get_num_coordinates(geom) > MAX_AOI_VERTICES:
        raise InvalidGeometry(f"the AOI has more than {MAX_AOI_VERTICES} vertices; simplify it",
                              field="aoi")  # fmt: skip
    return {"type": aoi["type"], "coordinates": aoi["coordinates"]}


@lru_cache(maxsize=1024)
def _shape(text: str) -> BaseGeometry:
    geom = geometry_from_geojson(orjson.loads(text), field="aoi")
    shapely.prepare(geom)
    return geom


def shape(aoi: dict[str, Any]) -> BaseGeometry:
    """The (prepared, cached) shapely geometry of an AOI."""
    return _shape(orjson.dumps(aoi, option=orjson.OPT_SORT_KEYS).decode())


def item_shape(item: dict[str, Any]) -> BaseGeometry | None:
    g = item.get("geometry")
    if not g:
        return None
    return geometry_from_geojson(g, field="geometry")
