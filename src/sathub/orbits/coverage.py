"""Imaging opportunities: when a sensor's swath, rolled up to its off-nadir limit, covers an AOI.

Geometry (WGS84 ellipsoid, ITRS):

* Body frame of the satellite: ``z`` = geodetic nadir, ``x`` = along-track (ITRS velocity made
  perpendicular to ``z``), ``y = z × x`` points to the right of the ground track.
* The sensor is a push-broom across-track fan of half-angle ``α = atan(swath_km / 2 / h)``
  (``h`` the altitude, so ``swath_km`` is the nadir swath), rolled by ``φ`` about ``x``;
  ``off_nadir_deg = |φ|``, ``look_side`` = right for ``φ > 0``.
* Swath edges are the rays at ``φ ± α`` intersected with the ellipsoid (exact, no spherical
  approximation); the footprint is the polygon of the edge points over the imaging time.

An opportunity is found at each closest approach of the ground track to the AOI centroid
within reach; the roll centres the swath on the centroid (clipped to the off-nadir limit).
Coverage fraction is area(footprint ∩ AOI) / area(AOI) in a Lambert azimuthal equal-area
projection centred on the AOI. AOIs crossing the antimeridian are accepted with continuous
longitudes (e.g. 170…190) or as a MultiPolygon split at ±180; footprints crossing it are
returned as a MultiPolygon split at ±180.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from shapely import geometry as sg
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from sathub.catalog.geometry import check_geojson
from sathub.errors import InvalidGeometry, InvalidInput
from sathub.orbits.elements import ElementSet
from sathub.orbits.frames import (
    WGS84_A_KM,
    WGS84_B_KM,
    geodetic_from_itrs,
    itrs_from_geodetic,
)
from sathub.orbits.propagate import propagate
from sathub.orbits.sensors import Sensor
from sathub.orbits.sun import sun_elevation_deg
from sathub.orbits.timeutil import iso

FloatArray = NDArray[np.float64]


def shp_transform(fn: Any, geom: Any) -> Any:
    """Apply ``fn(x, y) -> (x, y)`` (arrays) to every coordinate of a shapely geometry."""
    return shapely.transform(geom, lambda x, y: fn(x, y), interleaved=False)


MAX_WINDOW_DAYS = 31.0
SEARCH_STEP_S = 20.0
STRIP_STEP_S = 1.0


@dataclass
class Opportunity:
    """One imaging opportunity of one sensor over the AOI."""

    norad_id: int
    satellite: str
    sensor: str
    start: datetime
    end: datetime
    center_time: datetime
    off_nadir_deg: float
    roll_deg: float
    look_side: str
    coverage_fraction: float
    sun_elevation_deg: float | None
    footprint: dict[str, Any]
    feasible: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "norad_id": self.norad_id, "satellite": self.satellite, "sensor": self.sensor,
            "start": iso(self.start), "end": iso(self.end), "center_time": iso(self.center_time),
            "off_nadir_deg": round(self.off_nadir_deg, 3), "roll_deg": round(self.roll_deg, 3),
            "look_side": self.look_side, "coverage_fraction": round(self.coverage_fraction, 4),
            "sun_elevation_deg": None if self.sun_elevation_deg is None
            else round(self.sun_elevation_deg, 2),
            "feasible": self.feasible, "footprint": self.footprint,
        }


# ------------------------------------------------------------------------------ AOI


def normalise_aoi(geojson: dict[str, Any]) -> sg.base.BaseGeometry:
    """A valid (Multi)Polygon with longitudes made continuous around its first vertex."""
    if isinstance(geojson, dict) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")  # type: ignore[assignment]
    check_geojson(geojson, field="aoi", types=("Polygon", "MultiPolygon"))
    try:
        geom = shape(geojson)
    except Exception as exc:  # shapely raises several types
        raise InvalidGeometry(f"AOI is not a GeoJSON geometry: {exc}", field="aoi") from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InvalidGeometry("AOI must be a non-empty Polygon or MultiPolygon", field="aoi")
    ref = geom.geoms[0].exterior.coords[0][0] if geom.geom_type == "MultiPolygon" \
        else geom.exterior.coords[0][0]

    def unwrap(x: Any, y: Any) -> tuple[Any, Any]:
        x = np.asarray(x, dtype=float)
        return ref + (x - ref + 180.0) % 360.0 - 180.0, y

    raw = geom
    geom = unary_union(shp_transform(unwrap, geom))
    if not geom.is_valid:
        if raw.is_valid and raw.bounds[2] - raw.bounds[0] > 60:  # e.g. the world box, folded
            raise InvalidGeometry("AOI larger than 60° across; split it", field="aoi")
        raise InvalidGeometry("AOI polygon is invalid (self-intersecting?)", field="aoi")
    minx, miny, maxx, maxy = geom.bounds
    if miny < -90 or maxy > 90:
        raise InvalidGeometry("AOI latitude outside [-90, 90]", field="aoi")
    if maxx - minx > 60 or maxy - miny > 60:
        raise InvalidGeometry("AOI larger than 60° across; split it", field="aoi")
    return geom


def _laea(geom: sg.base.BaseGeometry) -> Transformer:
    c = geom.centroid
    crs = CRS.from_proj4(f"+proj=laea +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m")
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def wrap_geojson(geom: sg.base.BaseGeometry) -> dict[str, Any]:
    """GeoJSON in [-180, 180], split into a MultiPolygon where it crosses the antimeridian."""
    parts = []
    for shift in (-360.0, 0.0, 360.0):
        moved = shp_transform(lambda x, y, dx=shift: (np.asarray(x) + dx, y), geom)
        clipped = moved.intersection(sg.box(-180, -90, 180, 90))
        if not clipped.is_empty:
            parts.append(clipped)
    merged = unary_union(parts)
    return dict(mapping(merged))


# ------------------------------------------------------------------------- geometry


def _body_frame(r: FloatArray, v: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Unit along-track x, cross-track (right) y and geodetic-nadir z, shapes (n, 3)."""
    lat, lon, _ = geodetic_from_itrs(r)
    la, lo = np.radians(lat), np.radians(lon)
    up = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)
    z = -up
    x = v - np.sum(v * z, axis=-1, keepdims=True) * z
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return x, y, z


def ray_ellipsoid(origin_km: FloatArray, direction: FloatArray) -> FloatArray:
    """First intersection of rays with the WGS84 ellipsoid (NaN where a ray misses)."""
    scale = np.array([1 / WGS84_A_KM, 1 / WGS84_A_KM, 1 / WGS84_B_KM])
    o = origin_km * scale
    d = direction * scale
    a = np.sum(d * d, axis=-1)
    b = 2 * np.sum(o * d, axis=-1)
    c = np.sum(o * o, axis=-1) - 1
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    t = np.where((disc >= 0) & (t > 0), t, np.nan)
    return origin_km + t[..., None] * direction


def half_angle_rad(swath_km: float, altitude_km: FloatArray) -> FloatArray:
    return np.arctan(swath_km / 2.0 / altitude_km)


def edge_points(r: FloatArray, v: FloatArray, roll_rad: float, swath_km: float
                ) -> tuple[FloatArray, FloatArray]:
    """ITRS ground points of the left and right swath edges at each state."""
    _, y, z = _body_frame(r, v)
    _, _, alt = geodetic_from_itrs(r)
    alpha = half_angle_rad(swath_km, alt)[:, None]
    left = ray_ellipsoid(r, np.cos(roll_rad - alpha) * z + np.sin(roll_rad - alpha) * y)
    right = ray_ellipsoid(r, np.cos(roll_rad + alpha) * z + np.sin(roll_rad + alpha) * y)
    return left, right


def look_roll_rad(r: FloatArray, v: FloatArray, target_km: FloatArray
                  ) -> tuple[FloatArray, FloatArray]:
    """(roll, along-track angle) in radians of the line of sight to a target."""
    x, y, z = _body_frame(r, v)
    los = target_km - r
    return (np.arctan2(np.sum(los * y, -1), np.sum(los * z, -1)),
            np.arctan2(np.sum(los * x, -1), np.sum(los * z, -1)))


def strip_polygon(left_km: FloatArray, right_km: FloatArray, ref_lon_deg: float
                  ) -> sg.Polygon:
    """Polygon (lon continuous around ``ref_lon_deg``) of a strip between edge point series."""
    ok = np.isfinite(left_km).all(-1) & np.isfinite(right_km).all(-1)
    if ok.sum() < 2:
        return sg.Polygon()
    lat_l, lon_l, _ = geodetic_from_itrs(left_km[ok])
    lat_r, lon_r, _ = geodetic_from_itrs(right_km[ok])

    def cont(lon: FloatArray) -> FloatArray:
        return ref_lon_deg + (lon - ref_lon_deg + 180.0) % 360.0 - 180.0

    ring = np.concatenate([np.c_[cont(lon_l), lat_l], np.c_[cont(lon_r), lat_r][::-1]])
    poly = sg.Polygon(ring)
    return poly if poly.is_valid else poly.buffer(0)


# ---------------------------------------------------------------------------- search


def find_opportunities(sets: Sequence[ElementSet], sensors: dict[int, list[Sensor]],
                       aoi_geojson: dict[str, Any], start: datetime, end: datetime, *,
                       min_coverage: float = 0.0, enforce_sun: bool = True
                       ) -> list[Opportunity]:
    """Imaging opportunities of every (satellite, sensor) over the AOI in ``[start, end]``.

    Optical sensors need the Sun at least ``sensor.sun_limit_deg`` above the horizon at the
    AOI centroid (``feasible`` is False otherwise; those are dropped when ``enforce_sun``).
    """
    span_s = (end - start).total_seconds()
    if not 0 < span_s <= MAX_WINDOW_DAYS * 86400:
        raise InvalidInput(f"window must be positive and at most {MAX_WINDOW_DAYS:g} days",
                           field="end")
    aoi = normalise_aoi(aoi_geojson)
    proj = _laea(aoi)
    aoi_area = shp_transform(proj.transform, aoi).area
    c = aoi.centroid
    target = itrs_from_geodetic(c.y, c.x, 0.0)
    # Radius of the AOI around its centroid (km), for reach and strip length.
    aoi_m = shp_transform(proj.transform, aoi)
    radius_km = float(max(sg.Point(0, 0).distance(sg.Point(p)) for p in _coords(aoi_m))) / 1000
    offsets = np.arange(0.0, span_s + SEARCH_STEP_S, SEARCH_STEP_S)
    out: list[Opportunity] = []
    usable = [es for es in sets if sensors.get(es.norad_id)]
    if not usable:
        return out
    eph = propagate(usable, start, offsets)
    r_all, v_all = eph.itrs()
    for i, es in enumerate(usable):
        r, v = r_all[i], v_all[i]
        _, along = look_roll_rad(r, v, target)
        # Closest approaches: the along-track angle to the target changes sign (+ → −).
        idx = np.flatnonzero((along[:-1] > 0) & (along[1:] <= 0))
        for sensor in sensors[es.norad_id]:
            for j in idx:
                opp = _opportunity(es, sensor, start, offsets[j], offsets[j + 1], target,
                                   aoi, proj, aoi_area, radius_km, c.x)
                if opp is None or opp.coverage_fraction <= min_coverage:
                    continue
                out.append(opp)
    # Sun constraint for optical sensors (vectorised over opportunities).
    if out:
        sun = sun_elevation_deg(c.y, c.x, [o.center_time for o in out])
        for o, s in zip(out, sun):
            limit = next((sn.sun_limit_deg for sn in sensors[o.norad_id] if sn.name == o.sensor),
                         None)
            if limit is not None:
                o.sun_elevation_deg = float(s)
                o.feasible = bool(o.feasible and s >= limit)
    if enforce_sun:
        out = [o for o in out if o.feasible]
    out.sort(key=lambda o: o.center_time)
    return out


def _coords(geom: sg.base.BaseGeometry) -> list[tuple[float, float]]:
    polys = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
    return [xy for p in polys for xy in p.exterior.coords]


def _opportunity(es: ElementSet, sensor: Sensor, start: datetime, t_a: float, t_b: float,
                 target: FloatArray, aoi: Any, proj: Transformer, aoi_area: float,
                 radius_km: float, ref_lon: float) -> Opportunity | None:
    # Refine the closest approach (along-track angle = 0) on a 0.5 s grid.
    fine = np.arange(t_a, t_b + 0.5, 0.5)
    eph = propagate([es], start, fine, warn_stale=False)
    r, v = eph.itrs()
    roll, along = look_roll_rad(r[0], v[0], target)
    k = int(np.nanargmin(np.abs(along)))
    if not np.isfinite(roll[k]):
        return None
    _, _, alt = geodetic_from_itrs(r[0][k])
    alpha = float(np.degrees(half_angle_rad(sensor.swath_km, np.asarray(alt))))
    need_deg = float(np.degrees(roll[k]))
    if sensor.look_side == "right":
        need_deg = max(need_deg, 0.0)
    elif sensor.look_side == "left":
        need_deg = min(need_deg, 0.0)
    roll_deg = float(np.clip(need_deg, -sensor.max_off_nadir_deg, sensor.max_off_nadir_deg))
    # Unreachable: the swath edge cannot get within the AOI radius of its centroid.
    reach_deg = sensor.max_off_nadir_deg + alpha
    if abs(float(np.degrees(roll[k]))) > reach_deg + np.degrees(radius_km / float(alt) * 0.8):
        return None
    t_c = float(fine[k])
    ground_speed_km_s = 6.8
    half_len_s = radius_km / ground_speed_km_s + 2.0
    times = np.arange(t_c - half_len_s, t_c + half_len_s + STRIP_STEP_S, STRIP_STEP_S)
    strip = propagate([es], start, times, warn_stale=False)
    rs, vs = strip.itrs()
    left, right = edge_points(rs[0], vs[0], np.radians(roll_deg), sensor.swath_km)
    poly = strip_polygon(left, right, ref_lon)
    if poly.is_empty:
        return None
    covered = poly.intersection(aoi)
    if covered.is_empty:
        return None
    fraction = shp_transform(proj.transform, covered).area / aoi_area
    # Imaging time: the part of the strip that overlaps the AOI.
    inside = [i for i in range(len(times) - 1) if not strip_polygon(
        left[i:i + 2], right[i:i + 2], ref_lon).buffer(0).intersection(aoi).is_empty]
    t0 = times[inside[0]] if inside else t_c
    t1 = times[inside[-1] + 1] if inside else t_c
    return Opportunity(
        norad_id=es.norad_id, satellite=es.name, sensor=sensor.name,
        start=start + timedelta(seconds=float(t0)), end=start + timedelta(seconds=float(t1)),
        center_time=start + timedelta(seconds=t_c), off_nadir_deg=abs(roll_deg),
        roll_deg=roll_deg, look_side="right" if roll_deg > 0 else "left" if roll_deg < 0
        else "nadir", coverage_fraction=float(min(1.0, fraction)), sun_elevation_deg=None,
        footprint=wrap_geojson(poly.intersection(sg.box(ref_lon - 180, -90, ref_lon + 180, 90))),
        feasible=True)
