"""Zonal statistics per polygon with exact cell coverage fractions (exactextract).

Every cell a polygon touches counts with the fraction of its area the polygon covers
(weight ``c`` in 0…1); NaN cells (nodata, cloud, shadow) are left out. With ``x`` the cell
values:

* ``mean``   Σ c·x / Σ c
* ``median`` the coverage-weighted median of exactextract (weighted percentile method)
* ``std``    population standard deviation weighted by c: sqrt(Σ c·(x − mean)² / Σ c)
* ``min`` / ``max`` over cells with c > 0
* ``count``  Σ c over valid cells (in cells, fractional)
* ``valid_fraction`` count / (polygon area / cell area): the share of the polygon observed
  with valid data (0 when the polygon lies outside the raster)

A polygon with no valid cell gets NaN statistics (never 0), count 0 and a ``reason``.
Polygons must be in the raster's CRS (see :func:`sathub.analytics.scene.to_crs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sathub.analytics.bands import Grid

STATS = ("mean", "median", "std", "min", "max", "count", "valid_fraction")
_OPS = {"mean": "mean", "median": "median", "std": "stdev", "min": "min", "max": "max",
        "count": "count"}  # fmt: skip
REASON_OUTSIDE = "the polygon does not overlap the scene"
REASON_NO_VALID = "no valid pixel in the polygon (nodata, cloud or shadow)"


def raster_source(values: np.ndarray, grid: Grid) -> NumPyRasterSource:
    """An exactextract raster over a float array (NaN = nodata) on ``grid`` (north-up)."""
    xmin, ymin, xmax, ymax = grid.bounds
    return NumPyRasterSource(
        values, xmin, ymin, xmax, ymax, srs_wkt=grid.crs.to_wkt() if grid.crs else None
    )


def features(polygons: Sequence[BaseGeometry]) -> list[dict[str, Any]]:
    return [
        {"type": "Feature", "properties": {"_i": i}, "geometry": mapping(g)}
        for i, g in enumerate(polygons)
    ]


def zonal_stats(
    values: np.ndarray, grid: Grid, polygons: Sequence[BaseGeometry]
) -> list[dict[str, Any]]:
    """Statistics of ``values`` (2-D float, NaN = nodata) on ``grid`` for each polygon
    (in the grid's CRS), in input order. Each row holds :data:`STATS` and ``reason``."""
    if values.shape != (grid.height, grid.width):
        raise ValueError(f"values {values.shape} do not match the grid {grid.height, grid.width}")
    if not len(polygons):
        return []
    values = np.ascontiguousarray(values, dtype=np.float64)
    raw = exact_extract(
        raster_source(values, grid),
        features(polygons),
        list(_OPS.values()),
        include_cols=["_i"],
        output="geojson",
    )
    cell_area = abs(grid.transform.a * grid.transform.e)
    xmin, ymin, xmax, ymax = grid.bounds
    rows: list[dict[str, Any]] = [{} for _ in polygons]
    for f in raw:
        p = f["properties"]
        i = int(p["_i"])
        row: dict[str, Any] = {k: _num(p.get(op)) for k, op in _OPS.items()}
        count = row["count"] if not math.isnan(row["count"]) else 0.0
        row["count"] = count
        area_cells = polygons[i].area / cell_area
        # ≤ 1 up to rounding (1e-10 after a reprojection): clamped
        row["valid_fraction"] = min(1.0, count / area_cells) if area_cells > 0 else float("nan")
        row["reason"] = None
        if count <= 0:
            for k in ("mean", "median", "std", "min", "max"):
                row[k] = float("nan")
            gb = polygons[i].bounds
            outside = gb[2] <= xmin or gb[0] >= xmax or gb[3] <= ymin or gb[1] >= ymax
            row["reason"] = REASON_OUTSIDE if outside else REASON_NO_VALID
        rows[i] = row
    for i, row in enumerate(rows):
        if not row:  # exactextract skips features entirely outside the raster
            rows[i] = empty_row(REASON_OUTSIDE)
    return rows


def empty_row(reason: str) -> dict[str, Any]:
    row: dict[str, Any] = {k: float("nan") for k in STATS}
    row["count"] = 0.0
    row["valid_fraction"] = 0.0
    row["masked_fraction"] = float("nan")
    row["masked_count"] = 0.0
    row["reason"] = reason
    return row


def _num(v: Any) -> float:
    if v is None:
        return float("nan")
    return float(v)


def masked_cells(
    removed: np.ndarray, grid: Grid, polygons: Sequence[BaseGeometry]
) -> list[tuple[float, float]]:
    """Per polygon (Σ c over cells the cloud mask removed, Σ c over cells with data), from a
    raster that is 1 where the mask removed a cell, 0 where it kept it, NaN without data."""
    if not len(polygons):
        return []
    raw = exact_extract(
        raster_source(np.ascontiguousarray(removed, dtype=np.float64), grid),
        features(polygons),
        ["sum", "count"],
        include_cols=["_i"],
        output="geojson",
    )
    out = [(0.0, 0.0)] * len(polygons)
    for f in raw:
        p = f["properties"]
        s, c = _num(p.get("sum")), _num(p.get("count"))
        out[int(p["_i"])] = (0.0 if math.isnan(s) else s, 0.0 if math.isnan(c) else c)
    return out


def weighted_sum(values: np.ndarray, grid: Grid, polygons: Sequence[BaseGeometry]) -> list[float]:
    """Σ c·x per polygon (NaN cells ignored): e.g. flooded cells × coverage."""
    if not len(polygons):
        return []
    raw = exact_extract(
        raster_source(np.ascontiguousarray(values, dtype=np.float64), grid),
        features(polygons),
        ["sum"],
        include_cols=["_i"],
        output="geojson",
    )
    out = [0.0] * len(polygons)
    for f in raw:
        v = f["properties"].get("sum")
        out[int(f["properties"]["_i"])] = 0.0 if v is None or math.isnan(v) else float(v)
    return out
