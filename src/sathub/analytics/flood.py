"""Flood mapping: optical water index + Otsu, minus permanent water; SAR change ratio.

Optical (Sentinel-2/Landsat-like scenes), :func:`flood_map`:

1. every scene is read onto the grid of the first *after* scene, cropped to the AOI
   (see :mod:`sathub.analytics.scene` for the reprojection policy); clouds and shadows are
   masked as ``mask`` says (:mod:`sathub.analytics.masks`; each scene's summary gives the
   mask used and the share of its pixels it removed);
2. water = water index > threshold, with the index MNDWI (Xu 2006; NDWI of McFeeters 1996
   when a scene has no SWIR1 band, or on request) and an Otsu threshold per scene with a
   bimodality check and the fallback 0.0 (:mod:`sathub.analytics.otsu`);
3. permanent water = water in more than ``permanent_fraction`` (default ½) of the valid
   pre-event observations of that pixel; a pixel never observed before the event is
   not permanent;
4. flood water = water in any valid post-event observation and not permanent water.

Classes of the product (same coding as the demo's ground truth): 0 dry, 1 flood water,
2 permanent water, 255 not observed after the event (cloud, shadow or nodata).

SAR (Sentinel-1 VH backscatter), :func:`sar_change_flood`: the change-ratio method of the
UN-SPIDER Recommended Practice "Flood mapping and damage assessment using Sentinel-1 SAR
data in Google Earth Engine": both VH images in dB, smoothed with a 50 m focal mean, ratio
after / before (of the dB values, both negative: darker water after the event gives a
ratio > 1), flooded where the ratio > 1.25 (the practice's ``difference_threshold``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.features import shapes
from shapely.geometry import shape as to_shape
from shapely.geometry.base import BaseGeometry

from sathub.analytics import indices, otsu
from sathub.analytics.bands import Grid
from sathub.analytics.errors import AnalyticsError, MissingBand, NoData
from sathub.analytics.scene import (
    MaskMode,
    aoi_grid,
    index_refs,
    load_scene,
    masked_index,
    native_grid,
)

DRY, FLOOD, PERMANENT, UNKNOWN = 0, 1, 2, 255
SAR_RATIO_THRESHOLD = 1.25
MAX_CELLS = 64_000_000  # ~1 GB of working arrays; larger AOIs must be split
SAR_SMOOTHING_RADIUS_M = 50.0


@dataclass
class SceneWater:
    item_id: str
    index: str
    threshold: dict[str, Any]
    valid_fraction: float
    water_fraction: float
    mask_source: str
    masked_fraction: float  # share of the pixels with data the cloud/shadow mask removed


@dataclass
class FloodResult:
    grid: Grid
    classes: np.ndarray  # uint8, see module doc
    before: list[SceneWater] = field(default_factory=list)
    after: list[SceneWater] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def cell_area_km2(self) -> float:
        return abs(self.grid.transform.a * self.grid.transform.e) / 1e6

    def flooded_km2(self) -> float:
        return float((self.classes == FLOOD).sum()) * self.cell_area_km2


def water_of_scene(
    item: dict[str, Any], assets_root: Path, grid: Grid, index: str = "mndwi",
    mask: MaskMode = "auto",
) -> tuple[np.ndarray, np.ndarray, SceneWater]:
    """(water, valid, summary) of one optical scene on ``grid``."""
    try:
        index_refs(item, index)
    except MissingBand:
        if index != "mndwi":
            raise
        index = "ndwi"  # no SWIR1: McFeeters' NDWI
    scene = load_scene(item, assets_root, indices.index_spec(index).bands, grid, mask=mask)
    value = masked_index(scene, index)
    valid = ~np.isnan(value)
    thr = otsu.water_threshold(value[valid])
    with np.errstate(invalid="ignore"):
        water = (value > thr.value) & valid
    summary = SceneWater(
        item_id=item["id"],
        index=index,
        threshold=thr.to_dict(),
        valid_fraction=float(valid.mean()),
        water_fraction=float(water.sum() / max(valid.sum(), 1)),
        mask_source=scene.mask_source,
        masked_fraction=scene.masked_fraction,
    )
    return water, valid, summary


@dataclass(frozen=True)
class WaterTask:
    item: dict[str, Any]
    assets_root: Path
    grid: Grid
    index: str
    mask: MaskMode = "auto"


def water_task(t: WaterTask) -> tuple[np.ndarray, np.ndarray, SceneWater]:
    return water_of_scene(t.item, t.assets_root, t.grid, t.index, t.mask)


def flood_map(
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    assets_root: Path,
    aoi_wgs84: BaseGeometry | None,
    *,
    index: str = "mndwi",
    permanent_fraction: float = 0.5,
    executor: Any = None,
    mask: MaskMode = "auto",
) -> FloodResult:
    """Flood classes on the grid of the first after scene (see module doc). With an
    :class:`~sathub.analytics.executor.Executor`, one Dask task per scene."""
    if not after:
        raise NoData("no scene in the after period intersects the AOI")
    if not before:
        raise NoData("no scene in the before period intersects the AOI")
    first = after[0]
    refs = index_refs(first, "ndwi" if index == "ndwi" else "mndwi")
    grid = aoi_grid(native_grid(first, refs, assets_root), aoi_wgs84)
    if grid is None:
        raise NoData(f"the AOI does not overlap scene {first['id']!r}")
    if grid.width * grid.height > MAX_CELLS:
        raise AnalyticsError(
            f"the AOI covers {grid.width * grid.height / 1e6:.0f} M cells of the scene grid; "
            f"flood mapping reads it at once (limit {MAX_CELLS / 1e6:.0f} M): split the AOI"
        )
    shape2 = (grid.height, grid.width)
    water_n = np.zeros(shape2, np.int32)
    valid_n = np.zeros(shape2, np.int32)
    result = FloodResult(grid=grid, classes=np.full(shape2, UNKNOWN, np.uint8))
    tasks = [WaterTask(item, assets_root, grid, index, mask) for item in [*before, *after]]
    if executor is not None:
        waters = executor.map(water_task, tasks)
    else:
        waters = [water_task(t) for t in tasks]
    for w, v, summary in waters[: len(before)]:
        water_n += w
        valid_n += v
        result.before.append(summary)
    permanent = (valid_n > 0) & (water_n > permanent_fraction * valid_n)
    water_after = np.zeros(shape2, bool)
    seen_after = np.zeros(shape2, bool)
    for w, v, summary in waters[len(before) :]:
        water_after |= w
        seen_after |= v
        result.after.append(summary)
    if not seen_after.any():
        raise NoData("every after scene is cloudy or nodata over the AOI")
    classes = result.classes
    classes[seen_after] = DRY
    classes[seen_after & water_after] = FLOOD
    classes[seen_after & permanent] = PERMANENT
    result.parameters = {
        "index": index,
        "mask": mask,
        "permanent_fraction": permanent_fraction,
        "threshold": "otsu per scene, bimodality check (separability >= "
        f"{otsu.MIN_SEPARABILITY}, class >= {otsu.MIN_CLASS_FRACTION:.0%}), "
        f"fallback {otsu.FALLBACK_WATER_THRESHOLD}",
    }
    return result


def flood_polygons(classes: np.ndarray, grid: Grid, value: int = FLOOD) -> list[BaseGeometry]:
    """Polygons (grid CRS) of the connected regions of ``classes == value``."""
    mask = classes == value
    return [
        to_shape(geom)
        for geom, _ in shapes(mask.astype(np.uint8), mask=mask, transform=grid.transform)
    ]


# ------------------------------------------------------------------------------------ SAR
def to_db(linear: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(linear > 0, 10 * np.log10(linear), np.nan)


def focal_mean(a: np.ndarray, radius_px: int) -> np.ndarray:
    """Mean over a (2r+1)² square window ignoring NaN (NumPy integral image)."""
    if radius_px <= 0:
        return a.astype(np.float64)
    valid = ~np.isnan(a)
    filled = np.where(valid, a, 0.0)

    def box_sum(x: np.ndarray) -> np.ndarray:
        k = 2 * radius_px + 1
        p = np.pad(x, radius_px, mode="constant")
        c = np.zeros((p.shape[0] + 1, p.shape[1] + 1))
        c[1:, 1:] = p.cumsum(0).cumsum(1)
        return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]

    total = box_sum(filled)
    n = box_sum(valid.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


def sar_change_flood(
    vh_before_db: np.ndarray,
    vh_after_db: np.ndarray,
    *,
    pixel_size_m: float,
    ratio_threshold: float = SAR_RATIO_THRESHOLD,
    smoothing_radius_m: float = SAR_SMOOTHING_RADIUS_M,
) -> np.ndarray:
    """Flooded (bool) by the UN-SPIDER change ratio on VH backscatter in dB (module doc).
    NaN input pixels are never flooded."""
    r = round(smoothing_radius_m / pixel_size_m)
    before = focal_mean(np.asarray(vh_before_db, np.float64), r)
    after = focal_mean(np.asarray(vh_after_db, np.float64), r)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = after / before
        return (ratio > ratio_threshold) & ~np.isnan(vh_after_db) & ~np.isnan(vh_before_db)
