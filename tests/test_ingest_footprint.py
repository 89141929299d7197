"""Footprints: pure functions checked against hand-computed geometry."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box, shape

from sathub.errors import IngestError
from sathub.ingest.footprint import footprint, mask_outline


def test_outline_follows_valid_pixels_not_bbox() -> None:
    m = np.zeros((100, 100), bool)
    m[10:90, 5:95] = True
    m[40:60, 40:60] = False  # a 20x20 hole: 4% of the valid area, kept
    t = Affine(30, 0, 500000, 0, -30, 2000000)
    g = mask_outline(m, t)
    expected = box(
        500000 + 5 * 30, 2000000 - 90 * 30, 500000 + 95 * 30, 2000000 - 10 * 30
    ).difference(box(500000 + 1200, 2000000 - 1800, 500000 + 1800, 2000000 - 1200))
    assert g.symmetric_difference(expected).area / expected.area < 1e-6


def test_speckle_dropped_and_simplified() -> None:
    rng = np.random.default_rng(0)
    m = np.ones((200, 200), bool)
    m[rng.integers(0, 200, 50), rng.integers(0, 200, 50)] = False  # isolated nodata pixels
    g = mask_outline(m, Affine(10, 0, 0, 0, -10, 0))
    assert len(g.interiors) == 0 and len(g.exterior.coords) == 5


def test_wgs84_matches_pyproj_corners() -> None:
    m = np.ones((50, 80), bool)
    t = Affine(20, 0, 700000, 0, -20, 2400000)
    geom, bbox = footprint(m, t, "EPSG:32647")
    tr = Transformer.from_crs(32647, 4326, always_xy=True)
    for x, y in ((700000, 2400000), (701600, 2399000)):
        lon, lat = tr.transform(x, y)
        assert shape(geom).exterior.distance(shapely.Point(lon, lat)) < 1e-6
    assert shapely.is_ccw(shape(geom).exterior)
    assert bbox[0] < bbox[2]


def test_antimeridian_split() -> None:
    # UTM 60S straddling 180°: 100 km wide, centred near 180°E
    m = np.ones((100, 100), bool)
    geom, bbox = footprint(m, Affine(1000, 0, 760000, 0, -1000, 8000000), "EPSG:32760")
    assert geom["type"] == "MultiPolygon"
    parts = [shape({"type": "Polygon", "coordinates": c}) for c in geom["coordinates"]]
    assert all(p.bounds[0] >= -180 and p.bounds[2] <= 180 for p in parts)
    assert {round(p.bounds[2]) for p in parts} >= {180} and min(p.bounds[0] for p in parts) < -179
    west, _, east, _ = bbox
    assert west > east and west > 179 and east < -179  # RFC 7946 crossing bbox
    assert shape(geom).is_valid


def test_all_nodata_is_an_error() -> None:
    with pytest.raises(IngestError, match="all pixels are nodata"):
        footprint(np.zeros((10, 10), bool), Affine(1, 0, 0, 0, -1, 0), "EPSG:32647")
