"""Imaging opportunities checked against an independent brute-force sampling of the swath."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from shapely import geometry as sg

from sathub.errors import InvalidGeometry, InvalidInput
from sathub.orbits.coverage import find_opportunities, normalise_aoi
from sathub.orbits.elements import ElementSet, load_elements
from sathub.orbits.frames import geodetic_from_itrs, itrs_from_geodetic
from sathub.orbits.propagate import propagate
from sathub.orbits.sensors import Sensor

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "orbits"
START = datetime(2025, 10, 4, 0, tzinfo=UTC)
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared data not present")


def _aoi(lon: float, lat: float, half_deg: float) -> dict[str, object]:
    return dict(sg.mapping(sg.box(lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg)))


def _sat(norad_id: int) -> ElementSet:
    return next(e for e in load_elements(DATA / "eo_satellites_2025-10-04.txt")
                if e.norad_id == norad_id)


def _brute_fraction(es: ElementSet, opp_roll_deg: float, swath_km: float, center: datetime,
                    aoi: sg.Polygon, n: int = 25) -> float:
    """Share of AOI grid points whose line of sight, when the point crosses the sensor's
    cross-track plane, lies inside the rolled fan. Uses plain vector algebra on SGP4 states
    (geocentric-normal body frame, spherical-free), not the footprint polygon."""
    minx, miny, maxx, maxy = aoi.bounds
    lon, lat = np.meshgrid(np.linspace(minx, maxx, n), np.linspace(miny, maxy, n))
    keep = np.array([aoi.contains(sg.Point(x, y)) for x, y in zip(lon.ravel(), lat.ravel())])
    pts = itrs_from_geodetic(lat.ravel()[keep], lon.ravel()[keep], 0.0)
    times = np.arange(-120.0, 120.0, 0.25)
    eph = propagate([es], center, times, warn_stale=False)
    r, v = eph.itrs()
    r, v = r[0], v[0]
    covered = 0
    for p in pts:
        los = p - r
        # Body frame from the *ellipsoid normal* at the sub-satellite point.
        la, lo, alt = geodetic_from_itrs(r)
        up = np.stack([np.cos(np.radians(la)) * np.cos(np.radians(lo)),
                       np.cos(np.radians(la)) * np.sin(np.radians(lo)),
                       np.sin(np.radians(la))], axis=-1)
        z = -up
        x = v - np.sum(v * z, -1, keepdims=True) * z
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        y = np.cross(z, x)
        along = np.sum(los * x, -1)
        k = np.flatnonzero((along[:-1] > 0) & (along[1:] <= 0))
        if not len(k):
            continue
        k = k[0]
        roll = np.degrees(np.arctan2(np.sum(los[k] * y[k]), np.sum(los[k] * z[k])))
        half = np.degrees(np.arctan(swath_km / 2 / alt[k]))
        covered += abs(roll - opp_roll_deg) <= half
    return covered / len(pts)


@pytest.mark.parametrize("norad_id,lon,lat,half", [(59371, 96.1, 19.8, 0.15),
                                                   (43180, 37.6, 55.7, 0.1),
                                                   (40697, 2.3, 48.8, 0.6)])
def test_coverage_matches_brute_force(norad_id: int, lon: float, lat: float,
                                      half: float) -> None:
    es = _sat(norad_id)
    sensor = {59371: Sensor(name="Geoton", swath_km=38, max_off_nadir_deg=45),
              43180: Sensor(name="PSS", swath_km=23, max_off_nadir_deg=40),
              40697: Sensor(name="MSI", swath_km=290)}[norad_id]
    aoi = _aoi(lon, lat, half)
    opps = find_opportunities([es], {norad_id: [sensor]}, aoi, START,
                              START + timedelta(days=3), enforce_sun=False)
    assert opps, "expected at least one opportunity in three days"
    for opp in opps[:4]:
        truth = _brute_fraction(es, opp.roll_deg, sensor.swath_km, opp.center_time,
                                sg.shape(aoi))
        assert abs(truth - opp.coverage_fraction) < 0.06, (opp.to_dict(), truth)
        assert opp.off_nadir_deg <= sensor.max_off_nadir_deg + 1e-9
        assert opp.look_side in ("left", "right", "nadir")
        assert sg.shape(opp.footprint).is_valid


def test_sun_constraint_for_optical() -> None:
    es = _sat(59371)
    sensor = Sensor(name="Geoton", swath_km=38, max_off_nadir_deg=45)
    aoi = _aoi(96.1, 19.8, 0.1)
    every = find_opportunities([es], {59371: [sensor]}, aoi, START, START + timedelta(days=3),
                               enforce_sun=False)
    lit = find_opportunities([es], {59371: [sensor]}, aoi, START, START + timedelta(days=3))
    assert all(o.sun_elevation_deg is not None and o.sun_elevation_deg >= 10 for o in lit)
    assert len(lit) < len(every)  # the night-side (ascending) passes are dropped
    sar = Sensor(name="SAR", kind="sar", swath_km=38, max_off_nadir_deg=45)
    dark = find_opportunities([es], {59371: [sar]}, aoi, START, START + timedelta(days=3))
    assert len(dark) == len(every)


def test_antimeridian_aoi() -> None:
    es = _sat(59371)
    sensor = Sensor(name="Geoton", swath_km=38, max_off_nadir_deg=45)
    split = {"type": "MultiPolygon", "coordinates": [
        [[[179.8, -17.0], [180.0, -17.0], [180.0, -16.6], [179.8, -16.6], [179.8, -17.0]]],
        [[[-180.0, -17.0], [-179.8, -17.0], [-179.8, -16.6], [-180.0, -16.6], [-180.0, -17.0]]]]}
    geom = normalise_aoi(split)
    assert geom.geom_type == "Polygon" and abs(geom.bounds[2] - geom.bounds[0] - 0.4) < 1e-9
    opps = find_opportunities([es], {59371: [sensor]}, split, START, START + timedelta(days=4),
                              enforce_sun=False)
    assert opps
    for o in opps:
        for poly in ([o.footprint["coordinates"]] if o.footprint["type"] == "Polygon"
                     else o.footprint["coordinates"]):
            lons = [pt[0] for ring in poly for pt in ring]
            assert -180 <= min(lons) and max(lons) <= 180


def test_bad_aoi_and_window() -> None:
    es = _sat(59371)
    sensors = {59371: [Sensor(name="G", swath_km=38, max_off_nadir_deg=45)]}
    with pytest.raises(InvalidGeometry):
        find_opportunities([es], sensors, {"type": "Point", "coordinates": [0, 0]}, START,
                           START + timedelta(days=1))
    with pytest.raises(InvalidInput):
        find_opportunities([es], sensors, _aoi(0, 0, 1), START, START - timedelta(days=1))


def _skyfield_off_nadir_deg(es: ElementSet, center: datetime, lon: float, lat: float) -> float:
    """Smallest angle, over ±3 s around ``center``, between the satellite's geodetic nadir and
    its line of sight to (lon, lat, 0): the pointing a push-broom needs at closest approach.
    Positions from skyfield alone (its own SGP4 wrapper, TEME → GCRS and WGS84), not from the
    code under test."""
    from skyfield.api import EarthSatellite, wgs84

    from sathub.orbits.timeutil import timescale

    ts = timescale()
    line1, line2 = _tle_lines(es)
    sat = EarthSatellite(line1, line2, es.name, ts)
    offsets = np.arange(-3.0, 3.0001, 0.02)
    t = ts.from_datetimes([center + timedelta(seconds=float(s)) for s in offsets])
    pos = sat.at(t)
    r_sat = pos.position.km
    r_nadir = wgs84.subpoint_of(pos).at(t).position.km
    r_target = wgs84.latlon(lat, lon).at(t).position.km
    a, b = r_nadir - r_sat, r_target - r_sat
    cos = np.sum(a * b, 0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))).min())


def _tle_lines(es: ElementSet) -> tuple[str, str]:
    from sgp4.exporter import export_tle

    return export_tle(es.satrec)  # type: ignore[no-any-return]


@pytest.mark.parametrize("norad_id,limit", [(59371, 30.0), (43180, 20.0), (59371, 45.0)])
def test_off_nadir_within_limit_and_equal_to_skyfield_geometry(norad_id: int,
                                                               limit: float) -> None:
    """Every reported off-nadir angle is within the limit, and where the roll was not clipped
    it is the angle between nadir and the line of sight to the AOI centre, computed by skyfield
    (to 0.02°: the 0.5 s refinement step of the search)."""
    es = _sat(norad_id)
    lon, lat = 96.25, 21.25
    sensor = Sensor(name="S", swath_km=38, max_off_nadir_deg=limit)
    opps = find_opportunities([es], {norad_id: [sensor]}, _aoi(lon, lat, 0.05), START,
                              START + timedelta(days=4), enforce_sun=False)
    assert opps
    free = 0
    for o in opps:
        assert o.off_nadir_deg <= limit + 1e-9, o.to_dict()
        truth = _skyfield_off_nadir_deg(es, o.center_time, lon, lat)
        if o.off_nadir_deg < limit - 1e-6:
            free += 1
            assert abs(truth - o.off_nadir_deg) < 0.02, (o.to_dict(), truth)
        else:  # clipped: the centre is further off nadir than the sensor may point
            assert truth >= limit - 0.02, (o.to_dict(), truth)
    assert free >= 1
