"""What ingest reads back from a written COG: grid, per-band statistics, valid mask.

Large rasters are read decimated (via the COG's overviews) to at most ``max_size`` pixels on
the long side, so memory stays bounded; rasters smaller than that are read at full
resolution and their statistics are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import MaskFlags, Resampling

MAX_SIZE = 2048


@dataclass
class Grid:
    crs_wkt: str
    epsg: int | None
    width: int
    height: int
    transform: Affine
    bounds: tuple[float, float, float, float]


def grid_of(path: Path) -> Grid:
    with rasterio.open(path) as src:
        return Grid(
            crs_wkt=src.crs.to_wkt(version="WKT2_2019"),
            epsg=src.crs.to_epsg(),
            width=src.width,
            height=src.height,
            transform=src.transform,
            bounds=tuple(src.bounds),
        )  # type: ignore[arg-type]


def _out_shape(width: int, height: int, max_size: int) -> tuple[int, int, float]:
    f = max(1.0, max(width, height) / max_size)
    return max(1, round(height / f)), max(1, round(width / f)), f


def analyse(
    path: Path, max_size: int = MAX_SIZE
) -> tuple[list[dict[str, Any]], np.ndarray, Affine]:
    """Per band dtype/nodata/statistics/resolution, plus the valid mask and its grid.

    One read of the (possibly decimated) raster serves both. A pixel is valid when any band
    is valid (GDAL's dataset mask: nodata, internal mask, NaN for floats).
    """
    bands = []
    with rasterio.open(path) as src:
        h, w, _ = _out_shape(src.width, src.height, max_size)
        transform = src.transform @ Affine.scale(src.width / w, src.height / h)
        data = src.read(out_shape=(src.count, h, w), resampling=Resampling.nearest)
        nd = src.nodata
        if nd is not None:
            band_valid = data != nd if not math.isnan(nd) else ~np.isnan(data)
        elif any(MaskFlags.per_dataset in f for f in src.mask_flag_enums):
            m = src.dataset_mask(out_shape=(h, w), resampling=Resampling.nearest) > 0
            band_valid = np.broadcast_to(m, data.shape)
        else:
            band_valid = np.ones(data.shape, dtype=bool)
        if np.issubdtype(data.dtype, np.floating):
            band_valid = band_valid & np.isfinite(data)
        res = float(abs(src.transform.a))
        for i in range(src.count):
            v = data[i][band_valid[i]].astype(np.float64)
            stats: dict[str, Any] = {"valid_percent": round(100.0 * v.size / (h * w), 3)}
            if v.size:
                stats.update(
                    minimum=_num(v.min()),
                    maximum=_num(v.max()),
                    mean=_num(v.mean()),
                    stddev=_num(v.std()),
                )
            band: dict[str, Any] = {
                "data_type": src.dtypes[i],
                "spatial_resolution": res,
                "statistics": stats,
            }
            if nd is not None:
                band["nodata"] = (
                    _num(nd)
                    if math.isfinite(nd)
                    else "nan"
                    if math.isnan(nd)
                    else "inf"
                    if nd > 0
                    else "-inf"
                )
            bands.append(band)
        mask = band_valid.any(axis=0)
    return bands, mask, transform


def union_mask(masks: list[tuple[np.ndarray, Affine]]) -> tuple[np.ndarray, Affine]:
    """Union of valid masks on the first one's grid (others resampled by nearest pixel)."""
    ref, transform = masks[0]
    out = ref.copy()
    for m, _ in masks[1:]:
        if m.shape != ref.shape:
            yi = np.arange(ref.shape[0]) * m.shape[0] // ref.shape[0]
            xi = np.arange(ref.shape[1]) * m.shape[1] // ref.shape[1]
            m = m[yi][:, xi]
        out |= m
    return out, transform


def _num(v: Any) -> float | int:
    f = float(v)
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return round(f, 6)
