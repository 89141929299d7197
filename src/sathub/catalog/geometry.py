"""GeoJSON geometry parsing and validation (shapely 2), and bbox helpers."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, NoReturn

import shapely
from shapely.geometry.base import BaseGeometry

from sathub.errors import InvalidGeometry
from sathub.types import BBox

GEOJSON_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}


DEFAULT_MAX_VERTICES = 100_000  # the default of Settings.max_geometry_vertices
MAX_COLLECTION_DEPTH = 4  # GeometryCollections nested in GeometryCollections (RFC 7946 §3.1.8)
_max_vertices = DEFAULT_MAX_VERTICES


def configure(*, max_vertices: int) -> None:
    """Set the process-wide vertex limit (the API and the CLI apply their Settings here)."""
    global _max_vertices
    if max_vertices < 4:
        raise ValueError("max_geometry_vertices must be at least 4 (one closed ring)")
    _max_vertices = int(max_vertices)


def max_vertices() -> int:
    """The vertex limit in force (``SATHUB_MAX_GEOMETRY_VERTICES``)."""
    return _max_vertices


class _Walk:
    """One structural check of a GeoJSON geometry, in plain Python: nothing here hands the
    input to a C library, so a malformed geometry cannot crash or exhaust the process."""

    def __init__(self, field: str, limit: int, check_range: bool) -> None:
        self.field = field
        self.left = limit
        self.limit = limit
        self.check_range = check_range
        self.dims: set[int] = set()

    def fail(self, reason: str) -> NoReturn:
        raise InvalidGeometry(reason, field=self.field)

    def array(self, value: Any, what: str, min_len: int = 1) -> list[Any] | tuple[Any, ...]:
        if not isinstance(value, (list, tuple)):
            self.fail(f"{what} must be an array, got {_show(value)}")
        if len(value) < min_len:
            self.fail(f"{what} needs at least {min_len} positions, got {len(value)}"
                      if min_len > 1 else f"{what} is empty")  # fmt: skip
        return value

    def position(self, p: Any) -> None:
        if not isinstance(p, (list, tuple)) or not 2 <= len(p) <= 3:
            self.fail(f"a position is an array of 2 or 3 numbers, got {_show(p)}")
        for v in p:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.fail(f"a position holds numbers only, got {_show(p)}")
            try:
                finite = math.isfinite(v)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                self.fail(f"non-finite coordinate in {_show(p)}")
        if self.check_range and not (-180.0 <= p[0] <= 180.0 and -90.0 <= p[1] <= 90.0):
            self.fail(f"coordinate {_show(p)} is out of range (longitude -180..180, latitude -90..90)")
        self.dims.add(len(p))

    def positions(self, value: Any, what: str, min_len: int) -> list[Any] | tuple[Any, ...]:
        arr = self.array(value, what, min_len)
        self.left -= len(arr)
        if self.left < 0:
            self.fail(f"the geometry has more than {self.limit} vertices (limit "
                      "SATHUB_MAX_GEOMETRY_VERTICES); simplify it")  # fmt: skip
        position = self.position
        fast = 0
        for p in arr:
            # the common case, [lon, lat] of two floats in range, without the general checks
            # (a range test is False for NaN and infinities; type() is float excludes bool)
            if (self.check_range and type(p) is list and len(p) == 2 and type(p[0]) is float
                    and type(p[1]) is float and -180.0 <= p[0] <= 180.0 and -90.0 <= p[1] <= 90.0):  # fmt: skip
                fast += 1
            else:
                position(p)
        if fast:
            self.dims.add(2)
        return arr

    def ring(self, value: Any) -> None:
        ring = self.positions(value, "a ring", 4)
        if list(ring[0]) != list(ring[-1]):
            self.fail("a polygon ring is not closed (first and last positions differ)")

    def polygon(self, value: Any) -> None:
        for r in self.array(value, "a polygon's ring list"):
            self.ring(r)

    def coordinates(self, kind: str, coords: Any) -> None:
        if kind == "Point":
            self.positions([coords], "a Point", 1)
        elif kind == "MultiPoint":
            self.positions(coords, "a MultiPoint", 1)
        elif kind == "LineString":
            self.positions(coords, "a LineString", 2)
        elif kind == "MultiLineString":
            for line in self.array(coords, "a MultiLineString"):
                self.positions(line, "a LineString", 2)
        elif kind == "Polygon":
            self.polygon(coords)
        else:  # MultiPolygon
            for poly in self.array(coords, "a MultiPolygon"):
                self.polygon(poly)

    def geometry(self, geom: Any, types: Collection[str], depth: int = 0) -> None:
        kind = geom.get("type") if isinstance(geom, dict) else None
        if not isinstance(kind, str) or kind not in types:
            self.fail(f"not a GeoJSON geometry of type {' or '.join(sorted(types))}")
        if kind == "GeometryCollection":
            if depth >= MAX_COLLECTION_DEPTH:
                self.fail(f"GeometryCollections are nested more than {MAX_COLLECTION_DEPTH} deep")
            parts = geom.get("geometries")
            if not isinstance(parts, list) or not parts:
                self.fail("a GeometryCollection needs a non-empty 'geometries' array")
            self.left -= len(parts)  # every member counts, so an empty-ish flood is bounded too
            if self.left < 0:
                self.fail(f"the geometry has more than {self.limit} parts and vertices")
            for g in parts:
                self.geometry(g, GEOJSON_TYPES, depth + 1)
            return
        if "coordinates" not in geom:
            self.fail("geometry has no 'coordinates'")
        self.coordinates(kind, geom["coordinates"])


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_geojson(
    geom: Any, *, field: str = "geometry", types: Collection[str] = GEOJSON_TYPES,
    max_vertices: int | None = None, check_range: bool = True,
) -> None:  # fmt: skip
    """Check a GeoJSON geometry's structure before any C library (GEOS, GDAL) sees it:
    its type (one of ``types``), nesting, positions of 2 or 3 finite numbers (WGS84 ranges
    unless ``check_range=False``), the same dimension throughout, LineStrings of ≥ 2 and
    closed rings of ≥ 4 positions, at most ``max_vertices`` positions (default: the
    process-wide :func:`max_vertices`). Raises :class:`InvalidGeometry` naming the reason."""
    walk = _Walk(field, _max_vertices if max_vertices is None else max_vertices, check_range)
    walk.geometry(geom, types)
    if len(walk.dims) > 1:
        walk.fail("positions mix 2 and 3 coordinates (with and without elevation) in one geometry")


def geometry_from_geojson(
    geom: Any, *, field: str = "geometry", types: Collection[str] = GEOJSON_TYPES,
    max_vertices: int | None = None,
) -> BaseGeometry:  # fmt: skip
    """Parse and validate a GeoJSON geometry (:func:`check_geojson`, then GEOS validity);
    raise InvalidGeometry naming the reason."""
    check_geojson(geom, field=field, types=types, max_vertices=max_vertices)
    try:
        shape = shapely.geometry.shape(geom)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        raise InvalidGeometry(f"malformed geometry: {exc}", field=field) from exc
    if shape.is_empty:
        raise InvalidGeometry("geometry is empty", field=field)
    if not shape.is_valid:
        reason = shapely.is_valid_reason(shape)
        raise InvalidGeometry(f"invalid geometry: {reason}", field=field)
    return shape


def geometries_from_geojson(geoms: list[Any]) -> list[BaseGeometry | None]:
    """Bulk version of :func:`geometry_from_geojson` for loading: parses, validates and
    range-checks many geometries at once in GEOS (about 4x faster). An entry is None where
    the fast path cannot vouch for the geometry (not a dict, a GeometryCollection, a parse
    error, invalid, empty, out of range): the caller then runs :func:`geometry_from_geojson`
    on it, which accepts or rejects it with the precise reason. Every shape returned passes
    the checks :func:`geometry_from_geojson` makes."""
    import numpy as np
    import orjson

    out: list[BaseGeometry | None] = [None] * len(geoms)
    idx = [i for i, g in enumerate(geoms) if _structurally_valid(g)]
    if not idx:
        return out
    # one-ring Polygons of [x, y] positions (footprints, the common case) are built from one
    # coordinate array; the others go through GEOS's GeoJSON reader
    simple = [k for k, i in enumerate(idx) if _one_ring_2d(geoms[i])]
    other = [k for k, i in enumerate(idx) if not _one_ring_2d(geoms[i])] if len(simple) < len(idx) else []
    shapes = np.empty(len(idx), dtype=object)
    if simple:
        rings = [geoms[idx[k]]["coordinates"][0] for k in simple]
        coords = np.array([p for r in rings for p in r], dtype=np.float64)
        which = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
        shapes[simple] = shapely.polygons(shapely.linearrings(coords, indices=which))
    if other:
        try:
            texts = [orjson.dumps(geoms[idx[k]]).decode() for k in other]
        except (TypeError, orjson.JSONEncodeError):
            return out
        shapes[other] = shapely.from_geojson(texts, on_invalid="ignore")
    ok = ~shapely.is_missing(shapes)
    ok[ok] &= shapely.is_valid(shapes[ok]) & ~shapely.is_empty(shapes[ok])
    if ok.any():
        coords, which = shapely.get_coordinates(shapes[ok], return_index=True)
        bad = ~(np.isfinite(coords).all(axis=1) & (np.abs(coords[:, 0]) <= 180.0)
                & (np.abs(coords[:, 1]) <= 90.0))  # fmt: skip
        if bad.any():
            ok_pos = np.flatnonzero(ok)
            ok[ok_pos[np.unique(which[bad])]] = False
    # positions with and without z in one geometry: GEOS fills the missing z with NaN, the
    # exact path refuses; let it say so
    with_z = np.flatnonzero(ok & shapely.has_z(shapes))
    if len(with_z):
        zs, which = shapely.get_coordinates(shapes[with_z], include_z=True, return_index=True)
        nan_z = np.unique(which[np.isnan(zs[:, 2])])
        ok[with_z[nan_z]] = False
    for k in np.flatnonzero(ok):
        out[idx[k]] = shapes[k]
    return out


def polygons_from_rings(coords: Any, lengths: list[int]) -> list[BaseGeometry | None]:
    """One-ring Polygons made at once in GEOS from an (n, 2) array of the rings' positions one
    after the other, ``lengths`` positions each (closed rings of at least 4); None where a
    position is outside longitude -180..180 or latitude -90..90, or where the polygon is empty
    or invalid (:func:`geometry_from_geojson` refuses those)."""
    import numpy as np

    which = np.repeat(np.arange(len(lengths)), lengths)
    outside = ~((np.abs(coords[:, 0]) <= 180.0) & (np.abs(coords[:, 1]) <= 90.0))
    shapes = shapely.polygons(shapely.linearrings(coords, indices=which))
    ok = shapely.is_valid(shapes) & ~shapely.is_empty(shapes)
    ok[np.unique(which[outside])] = False
    return [s if k else None for s, k in zip(shapes.tolist(), ok.tolist(), strict=True)]


def _one_ring_2d(g: dict[str, Any]) -> bool:
    """A Polygon without holes of [x, y] positions (after :func:`_structurally_valid`: every
    position then has as many numbers as the first)."""
    if g["type"] != "Polygon" or len(g["coordinates"]) != 1:
        return False
    return len(g["coordinates"][0][0]) == 2


def _structurally_valid(g: Any) -> bool:
    """The fast path's gate: GEOS parses only what :func:`check_geojson` accepts."""
    if not isinstance(g, dict) or g.get("type") == "GeometryCollection":
        return False
    try:
        check_geojson(g)
    except InvalidGeometry:
        return False
    return True


def to_wkb(geom: BaseGeometry) -> bytes:
    return shapely.to_wkb(geom, output_dimension=2)


def bbox_geometry(bbox: BBox) -> BaseGeometry:
    """The area of a bbox; one crossing the antimeridian (west > east) becomes two boxes."""
    w, s, e, n = bbox
    if w > e:
        return shapely.MultiPolygon([shapely.box(w, s, 180.0, n), shapely.box(-180.0, s, e, n)])
    return shapely.box(w, s, e, n)


def validate_bbox(values: Any, *, field: str = "bbox") -> BBox:
    """Validate a 4- or 6-number bbox; return (west, south, east, north)."""
    if not isinstance(values, (list, tuple)) or len(values) not in (4, 6):
        raise InvalidGeometry("bbox must have 4 or 6 numbers", field=field)
    try:
        nums = [float(v) for v in values]
    except OverflowError as exc:  # an integer of hundreds of digits
        raise InvalidGeometry("bbox values must be finite numbers", field=field) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidGeometry(f"bbox values must be numbers: {values!r:.200}", field=field) from exc
    if len(nums) == 6:
        w, s, _, e, n, _ = nums
    else:
        w, s, e, n = nums
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise InvalidGeometry("bbox values must be finite", field=field)
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise InvalidGeometry(f"bbox {values!r:.200} is out of range", field=field)
    if s > n:
        raise InvalidGeometry(f"bbox south ({s}) is greater than north ({n})", field=field)
    return (w, s, e, n)


def index_boxes(bbox: BBox) -> list[BBox]:
    """The boxes to probe an R-tree with: two for an antimeridian-crossing bbox."""
    w, s, e, n = bbox
    if w > e:
        return [(w, s, 180.0, n), (-180.0, s, e, n)]
    return [bbox]
