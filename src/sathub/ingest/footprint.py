"""Scene footprints: the outline of the valid pixels, simplified, in WGS84.

Pure functions of a mask and its grid. The result is a GeoJSON Polygon or MultiPolygon with
counter-clockwise exteriors, split at ±180° when the scene crosses the antimeridian (RFC 7946
§3.1.9), and a bbox whose west > east in that case.

Accuracy: the outline follows pixel edges, simplified with a tolerance of ``tolerance_px``
pixels, holes and islands smaller than ``min_fraction`` of the valid area dropped, then
densified before reprojection so long edges stay true on the sphere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.polygon import orient

from sathub.errors import IngestError

BBoxT = tuple[float, float, float, float]


def mask_outline(
    mask: np.ndarray, transform: Affine, *, tolerance_px: float = 1.0, min_fraction: float = 0.002
) -> Polygon | MultiPolygon:
    """The valid (True) area of ``mask`` as a simplified polygon in the grid's CRS."""
    if not mask.any():
        raise IngestError("all pixels are nodata: the scene has no valid data")
    polys = [
        shape(g)
        for g, v in rasterio.features.shapes(
            mask.astype(np.uint8), mask=mask, transform=transform, connectivity=8
        )
        if v == 1
    ]
    geom = shapely.union_all(polys)
    total = geom.area
    parts = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    kept = []
    for p in parts:
        if p.area < min_fraction * total:
            continue
        holes = [h for h in p.interiors if Polygon(h).area >= min_fraction * total]
        kept.append(Polygon(p.exterior, holes))
    if not kept:
        kept = [max(parts, key=lambda p: p.area)]
    pixel = max(abs(transform.a), abs(transform.e))
    out = shapely.union_all(kept).simplify(tolerance_px * pixel, preserve_topology=True)
    if not out.is_valid:
        out = shapely.make_valid(out)
    return out


def to_wgs84(
    geom: Polygon | MultiPolygon, crs: CRS | str, *, densify_parts: int = 32
) -> tuple[dict[str, Any], BBoxT]:
    """Reproject a polygon to WGS84 lon/lat; split at the antimeridian when crossed.

    Returns (GeoJSON geometry, bbox). Coordinates rounded to 1e-7° (~1 cm).
    """
    src = CRS.from_user_input(crs)
    minx, miny, maxx, maxy = geom.bounds
    step = max(maxx - minx, maxy - miny) / densify_parts
    if step > 0:
        geom = shapely.segmentize(geom, step)
    tr = Transformer.from_crs(src, CRS.from_epsg(4326), always_xy=True)
    lonlat = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    lons = shapely.get_coordinates(lonlat)[:, 0]
    crosses = bool(lons.max() - lons.min() > 180.0)
    if crosses:  # unwrap to 0..360, then cut at 180 and shift the eastern part back
        unwrapped = shapely.transform(
            lonlat,
            lambda xy: np.column_stack(
                [np.where(xy[:, 0] < 0, xy[:, 0] + 360, xy[:, 0]), xy[:, 1]]
            ),
        )
        west = unwrapped.intersection(box(-180, -90, 180, 90))
        east = shapely.affinity.translate(unwrapped.intersection(box(180, -90, 540, 90)), xoff=-360)
        pieces = [g for part in (west, east) for g in _polygons(part)]
        lonlat = MultiPolygon(pieces)
        wb = _bounds(west)
        eb = _bounds(east)
        bbox: BBoxT = (wb[0], min(wb[1], eb[1]), eb[2], max(wb[3], eb[3]))
    else:
        bbox = _bounds(lonlat)
    polys = [orient(p, 1.0) for p in _polygons(shapely.set_precision(lonlat, 1e-7))]
    out = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    return _plain(mapping(out)), tuple(round(v, 7) for v in bbox)  # type: ignore[return-value]


def footprint(
    mask: np.ndarray, transform: Affine, crs: CRS | str, *, tolerance_px: float = 1.0
) -> tuple[dict[str, Any], BBoxT]:
    """Valid-pixel outline of a mask on a grid → (GeoJSON geometry in WGS84, bbox)."""
    return to_wgs84(mask_outline(mask, transform, tolerance_px=tolerance_px), crs)


def _polygons(g: Any) -> list[Polygon]:
    if isinstance(g, Polygon):
        return [] if g.is_empty else [g]
    if hasattr(g, "geoms"):
        return [p for sub in g.geoms for p in _polygons(sub)]
    return []


def _bounds(g: Any) -> BBoxT:
    b = g.bounds
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def _plain(obj: Any) -> Any:
    """Tuples → lists so the geometry is plain JSON."""
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj
