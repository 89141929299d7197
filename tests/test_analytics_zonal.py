"""Zonal statistics against a brute-force NumPy computation and exactextract called
directly on a GeoTIFF (relative 1e-9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from exactextract import exact_extract
from rasterio.crs import CRS
from rasterio.features import rasterize
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from sathub.analytics.bands import Grid
from sathub.analytics.zonal import REASON_NO_VALID, REASON_OUTSIDE, zonal_stats

CRS_UTM = CRS.from_epsg(32647)
TRANSFORM = from_origin(500_000.0, 2_400_000.0, 20.0, 20.0)
H, W = 60, 80
GRID = Grid(CRS_UTM, TRANSFORM, W, H)


def _values(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(0.5, 0.2, (H, W))
    v[rng.random((H, W)) < 0.1] = np.nan  # clouds / nodata
    return v


def _cell_box(r: int, c: int) -> Polygon:
    x0, y0 = TRANSFORM @ (c, r)
    x1, y1 = TRANSFORM @ (c + 1, r + 1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """Weighted percentile method (Wikipedia 'Percentile', weighted variant), q = 0.5."""
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    n = len(x)
    cum = np.cumsum(w)
    s = np.arange(n) * w + (n - 1) * np.concatenate([[0.0], cum[:-1]])
    target = 0.5 * cum[-1] * (n - 1)
    j = np.searchsorted(s, target, side="right")
    if j == 0:
        return float(x[0])
    if j == n:
        return float(x[-1])
    return float(x[j - 1] + (target - s[j - 1]) * (x[j] - x[j - 1]) / (s[j] - s[j - 1]))


def _brute(values: np.ndarray, poly: Polygon) -> dict[str, float]:
    """Exact coverage of every cell by polygon clipping, then weighted NumPy statistics."""
    xs, ws = [], []
    for r in range(H):
        for c in range(W):
            cell = _cell_box(r, c)
            if not cell.intersects(poly):
                continue
            frac = cell.intersection(poly).area / cell.area
            if frac > 0 and not np.isnan(values[r, c]):
                xs.append(values[r, c])
                ws.append(frac)
    x, w = np.array(xs), np.array(ws)
    mean = float((w * x).sum() / w.sum())
    return {
        "mean": mean,
        "median": _weighted_median(x, w),
        "std": float(np.sqrt((w * (x - mean) ** 2).sum() / w.sum())),
        "min": float(x.min()),
        "max": float(x.max()),
        "count": float(w.sum()),
        "valid_fraction": float(w.sum()) / (poly.area / 400.0),
    }


def _polygons() -> list[Polygon]:
    x0, y0 = 500_000.0, 2_400_000.0 - H * 20
    return [
        Polygon([(x0 + 113.7, y0 + 101.3), (x0 + 731.1, y0 + 240.9), (x0 + 402.5, y0 + 911.0)]),
        box(x0 + 55.5, y0 + 300.25, x0 + 611.1, y0 + 777.7).difference(
            box(x0 + 200, y0 + 400, x0 + 300.3, y0 + 500.9)
        ),
        Polygon(
            [
                (x0 + 1000.1, y0 + 50.2),
                (x0 + 1500.7, y0 + 90.4),
                (x0 + 1400.3, y0 + 1100.6),
                (x0 + 1250.0, y0 + 600.0),
                (x0 + 1010.0, y0 + 1000.0),
            ]
        ),
    ]


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def test_equals_brute_force_exact_coverage() -> None:
    values = _values()
    polys = _polygons()
    rows = zonal_stats(values, GRID, polys)
    for poly, row in zip(polys, rows):
        ref = _brute(values, poly)
        for k, v in ref.items():
            assert _close(row[k], v), (k, row[k], v)
        assert row["reason"] is None


def test_pixel_aligned_polygons_equal_plain_numpy_on_rasterised_mask() -> None:
    values = _values(2)
    polys = [box(500_000 + 20 * 3, 2_400_000 - 20 * 40, 500_000 + 20 * 31, 2_400_000 - 20 * 7)]
    mask = rasterize([(polys[0], 1)], out_shape=(H, W), transform=TRANSFORM).astype(bool)
    sel = values[mask & ~np.isnan(values)]
    row = zonal_stats(values, GRID, polys)[0]
    assert _close(row["mean"], float(np.mean(sel)))
    assert _close(row["median"], float(np.median(sel)))
    assert _close(row["std"], float(np.std(sel)))
    assert row["min"] == sel.min() and row["max"] == sel.max()
    assert row["count"] == sel.size
    assert _close(row["valid_fraction"], sel.size / mask.sum())


def test_equals_exactextract_called_directly_on_a_geotiff(tmp_path: Path) -> None:
    values = _values(3)
    path = tmp_path / "v.tif"
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=1, dtype="float64",
                       crs=CRS_UTM, transform=TRANSFORM, nodata=np.nan) as dst:  # fmt: skip
        dst.write(values, 1)
    polys = _polygons()
    from shapely.geometry import mapping

    feats = [{"type": "Feature", "properties": {"pid": i}, "geometry": mapping(p)}
             for i, p in enumerate(polys)]  # fmt: skip
    direct = exact_extract(
        str(path), feats, ["mean", "median", "stdev", "min", "max", "count"],
        include_cols=["pid"], output="pandas",
    )  # fmt: skip
    rows = zonal_stats(values, GRID, polys)
    for i, row in enumerate(rows):
        d = direct[direct.pid == i].iloc[0]
        for ours, theirs in (("mean", "mean"), ("median", "median"), ("std", "stdev"),
                             ("min", "min"), ("max", "max"), ("count", "count")):  # fmt: skip
            assert _close(row[ours], float(d[theirs])), (ours, row[ours], d[theirs])


def test_no_valid_pixels_and_outside_give_nan_with_reason() -> None:
    values = _values()
    values[:10, :10] = np.nan
    polys = [
        box(500_000 + 20, 2_400_000 - 180, 500_000 + 160, 2_400_000 - 20),  # all cloudy
        box(400_000, 2_000_000, 400_100, 2_000_100),  # far outside
    ]
    rows = zonal_stats(values, GRID, polys)
    assert np.isnan(rows[0]["mean"]) and rows[0]["count"] == 0
    assert rows[0]["reason"] == REASON_NO_VALID and rows[0]["valid_fraction"] == 0
    assert np.isnan(rows[1]["mean"]) and rows[1]["reason"] == REASON_OUTSIDE
