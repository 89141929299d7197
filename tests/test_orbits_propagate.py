"""Propagation against Vallado's verification set (shipped with sgp4) and skyfield."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import sgp4
from hypothesis import given, settings
from hypothesis import strategies as st
from sgp4.api import SatrecArray

from sathub.orbits.elements import parse_tle
from sathub.orbits.frames import geodetic_from_itrs, itrs_from_geodetic
from sathub.orbits.groundtrack import ground_track, split_antimeridian
from sathub.orbits.propagate import propagate, propagate_teme

SGP4_DIR = Path(sgp4.__file__).parent
TOLERANCE = 2e-7  # the sgp4 package's own tolerance for tcppver.out (km, km/s)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "orbits"


def _tcppver() -> dict[int, np.ndarray]:
    out: dict[int, list[list[float]]] = {}
    current = None
    for line in (SGP4_DIR / "tcppver.out").read_text().splitlines():
        if "xx" in line:
            current = out.setdefault(int(line.split()[0]), [])
        elif line.strip() and current is not None:
            current.append([float(x) for x in line.split()[:7]])
    return {k: np.array(v) for k, v in out.items()}


def test_vallado_verification_set() -> None:
    sets = parse_tle((SGP4_DIR / "SGP4-VER.TLE").read_text(), verify_checksum=False)
    expected = _tcppver()
    assert len(sets) == 33 and len(expected) == 32
    checked = 0
    for es in sets:
        if es.norad_id not in expected:  # Vallado prints nothing for an init failure
            assert es.satrec.error != 0
            continue
        rows = expected[es.norad_id]
        tsince_min = rows[:, 0]
        whole, frac = np.divmod(tsince_min / 1440.0, 1.0)
        jd = es.satrec.jdsatepoch + whole
        fr = es.satrec.jdsatepochF + frac
        e, r, v = propagate_teme(SatrecArray([es.satrec]), jd, fr)
        ok = e[0] == 0
        # Vallado prints a line for the time of a decay error too; all others must be clean.
        assert ok[:-1].all(), es.norad_id
        np.testing.assert_allclose(r[0][ok], rows[ok, 1:4], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(v[0][ok], rows[ok, 4:7], rtol=0, atol=TOLERANCE)
        checked += int(ok.sum())
    assert checked > 500


def test_decay_is_reported_not_dropped() -> None:
    sets = parse_tle((SGP4_DIR / "SGP4-VER.TLE").read_text(), verify_checksum=False)
    decaying = [es for es in sets if es.norad_id == 33334]  # Vallado's decay case
    start = datetime(2009, 1, 1, tzinfo=UTC)
    eph = propagate(decaying, start, np.arange(0, 86400.0 * 40, 3600.0), warn_stale=False)
    failures = eph.failures()
    if eph.error.any():
        assert failures and failures[0].norad_id == 33334 and failures[0].code > 0
        assert np.isnan(eph.r_teme_km[eph.error != 0]).all()


@pytest.mark.skipif(not DATA.exists(), reason="shared data not present")
def test_geodetic_matches_skyfield() -> None:
    from skyfield.api import EarthSatellite, wgs84

    from sathub.orbits.timeutil import timescale

    sets = parse_tle((DATA / "eo_satellites_2025-10-04.txt").read_text())
    start = datetime(2025, 10, 4, 12, tzinfo=UTC)
    offsets = np.arange(0.0, 6000.0, 600.0)
    lat, lon, alt = propagate(sets, start, offsets).geodetic()
    ts = timescale()
    t = ts.utc(2025, 10, 4, 12, 0, offsets)
    for i, es in enumerate(sets):
        pos = wgs84.geographic_position_of(EarthSatellite.from_satrec(es.satrec, ts).at(t))
        np.testing.assert_allclose(lat[i], pos.latitude.degrees, atol=2e-4)
        dlon = (lon[i] - pos.longitude.degrees + 180) % 360 - 180
        assert np.abs(dlon).max() < 2e-4
        np.testing.assert_allclose(alt[i], pos.elevation.km, atol=0.02)


@pytest.mark.skipif(not DATA.exists(), reason="shared data not present")
def test_ground_track_is_split_at_antimeridian() -> None:
    es = parse_tle((DATA / "eo_satellites_2025-10-04.txt").read_text())[0]
    feature = ground_track(es, datetime(2025, 10, 4, 12, tzinfo=UTC), hours=3, step_s=30)
    geom = feature["geometry"]
    assert geom["type"] == "MultiLineString"
    assert len(geom["coordinates"]) >= 2
    for line in geom["coordinates"]:
        lons = np.array([p[0] for p in line])
        assert np.all(np.abs(np.diff(lons)) < 180)
        assert lons.min() >= -180 and lons.max() <= 180



@settings(max_examples=200, deadline=None)
@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180), alt=st.floats(-0.5, 40_000))
def test_geodetic_round_trip(lat: float, lon: float, alt: float) -> None:
    la, lo, al = geodetic_from_itrs(itrs_from_geodetic(lat, lon, alt))
    assert abs(float(la) - lat) < 1e-8 and abs(float(al) - alt) < 1e-6  # 1e-6 km = 1 mm
    if abs(lat) < 89.999:
        assert abs((float(lo) - lon + 180) % 360 - 180) < 1e-8


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-180, 180, exclude_max=True), st.floats(-85, 85)),
                min_size=2, max_size=40))
def test_split_antimeridian(points: list[tuple[float, float]]) -> None:
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    lines = split_antimeridian(lon, lat)
    for line in lines:
        lons = np.array([p[0] for p in line])
        assert np.all(np.abs(np.diff(lons)) <= 180.0 + 1e-9)
        assert lons.min() >= -180 and lons.max() <= 180
    # Consecutive pieces meet at ±180 at the same latitude.
    for a, b in pairwise(lines):
        assert abs(abs(a[-1][0]) - 180) < 1e-9 and a[-1][0] == -b[0][0]
        assert abs(a[-1][1] - b[0][1]) < 1e-9
    # No input vertex is lost.
    kept = sum(len(line) for line in lines) - 2 * (len(lines) - 1)
    assert kept == len(points)
