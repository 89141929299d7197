"""Cloud-free median composites over a period, tiled on Dask.

All scenes are read onto one grid: the finest native grid of the requested bands in the
first scene of the period, cropped to the AOI (scenes in another CRS or resolution are
warped onto it, see :mod:`sathub.analytics.scene`). The grid is cut into ``tile_px`` tiles;
each tile is one Dask task that reads that window of every scene, masks clouds and shadows
(as ``mask`` says; per scene the result gives the mask used and the share of its pixels it
removed) and nodata, and takes the per-pixel median (NaN where no scene saw the pixel — never 0).
Memory per task is bounded by tile_px² × scenes × bands.

``what`` is a list of band common names (a reflectance composite) or one index name (the
index is computed per scene, then composited).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import Affine
from shapely.geometry.base import BaseGeometry

from sathub.analytics.bands import Grid, mask_asset, resolve_band
from sathub.analytics.errors import MissingBand, MissingMask, NoData
from sathub.analytics.executor import Executor
from sathub.analytics.indices import INDICES, index_spec
from sathub.analytics.scene import (
    MaskMode,
    aoi_grid,
    load_scene,
    mask_mode,
    masked_index,
    native_grid,
)

TILE_PX = 512  # = the block size of ingested COGs: each block is decompressed once


@dataclass(frozen=True)
class TileTask:
    items: tuple[dict[str, Any], ...]
    assets_root: Path
    grid: Grid  # the tile
    row_off: int
    col_off: int
    what: tuple[str, ...]  # bands, or (index,)
    is_index: bool
    mask: MaskMode = "auto"


@dataclass
class Composite:
    grid: Grid
    layers: dict[str, np.ndarray]  # name → float32 (NaN = no valid observation)
    count: np.ndarray  # uint16 valid observations per pixel
    items: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    masks: list[dict[str, Any]] = field(default_factory=list)  # per scene: mask, fraction


def tiles_of(grid: Grid, tile_px: int) -> list[tuple[int, int, Grid]]:
    out = []
    for r in range(0, grid.height, tile_px):
        for c in range(0, grid.width, tile_px):
            t = grid.transform @ Affine.translation(c, r)
            out.append(
                (
                    r,
                    c,
                    Grid(grid.crs, t, min(tile_px, grid.width - c), min(tile_px, grid.height - r)),
                )
            )
    return out


def composite_tile(task: TileTask) -> dict[str, Any]:
    stacks: dict[str, list[np.ndarray]] = {k: [] for k in task.what}
    mask_counts: dict[str, tuple[str, int, int]] = {}
    for item in task.items:
        if task.is_index:
            spec = index_spec(task.what[0])
            scene = load_scene(item, task.assets_root, spec.bands, task.grid, mask=task.mask)
            stacks[task.what[0]].append(masked_index(scene, spec.name))
        else:
            scene = load_scene(item, task.assets_root, task.what, task.grid, mask=task.mask)
            for b in task.what:
                a = scene.bands[b].copy()
                a[scene.invalid] = np.nan
                stacks[b].append(a)
        mask_counts[item["id"]] = (scene.mask_source, *scene.mask_counts())
    out: dict[str, np.ndarray] = {}
    count = None
    for k, arrs in stacks.items():
        cube = np.stack(arrs)
        seen = ~np.isnan(cube)
        never = ~seen.any(axis=0)
        cube[:, never] = 0.0  # nanmedian warns on all-NaN pixels; they are set back to NaN
        med = np.nanmedian(cube, axis=0).astype(np.float32)
        med[never] = np.nan
        out[k] = med
        if count is None:
            count = seen.sum(axis=0).astype(np.uint16)
    return {"row": task.row_off, "col": task.col_off, "layers": out, "count": count,
            "mask_counts": mask_counts}  # fmt: skip


def usable(
    items: list[dict[str, Any]], what: tuple[str, ...], is_index: bool, mask: MaskMode = "auto"
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Items that have every band needed (and the mask asked for); the others with reasons."""
    bands = tuple(index_spec(what[0]).bands if is_index else what)
    if mask == "spectral":
        bands += ("blue", "nir")
    ok, skipped = [], []
    for it in items:
        try:
            for b in bands:
                resolve_band(it, b)
            if mask == "asset" and mask_asset(it) is None:
                raise MissingMask(f"item {it['id']!r} has no mask asset (SCL or QA_PIXEL)")
            ok.append(it)
        except (MissingBand, MissingMask) as exc:
            skipped.append({"item_id": it["id"], "reason": exc.message})
    return ok, skipped


def median_composite(
    items: list[dict[str, Any]],
    assets_root: Path,
    aoi_wgs84: BaseGeometry | None,
    what: tuple[str, ...],
    executor: Executor,
    *,
    grid: Grid | None = None,
    tile_px: int = TILE_PX,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    mask: MaskMode = "auto",
) -> Composite:
    is_index = len(what) == 1 and what[0].lower() in INDICES
    what = (what[0].lower(),) if is_index else what
    ok, skipped = usable(items, what, is_index, mask)
    if not ok:
        raise NoData(
            "no usable scene in the period" + (f": {skipped[0]['reason']}" if skipped else "")
        )
    if grid is None:
        first = ok[0]
        bands = index_spec(what[0]).bands if is_index else what
        refs = {b: resolve_band(first, b) for b in bands}
        grid = aoi_grid(native_grid(first, refs, assets_root), aoi_wgs84)
        if grid is None:
            raise NoData(f"the AOI does not overlap scene {first['id']!r}")
    tasks = [
        TileTask(tuple(ok), assets_root, g, r, c, what, is_index, mask)
        for r, c, g in tiles_of(grid, tile_px)
    ]
    parts = executor.map(composite_tile, tasks, progress=progress, cancel=cancel)
    layers = {k: np.full((grid.height, grid.width), np.nan, np.float32) for k in what}
    count = np.zeros((grid.height, grid.width), np.uint16)
    per_item: dict[str, list[Any]] = {}
    for p in parts:
        for item_id, (source, masked, data) in p["mask_counts"].items():
            acc = per_item.setdefault(item_id, [source, 0, 0])
            acc[1] += masked
            acc[2] += data
        r, c = p["row"], p["col"]
        for k, a in p["layers"].items():
            layers[k][r : r + a.shape[0], c : c + a.shape[1]] = a
        cnt = p["count"]
        count[r : r + cnt.shape[0], c : c + cnt.shape[1]] = cnt
    masks = [{"item_id": it["id"], "mask": per_item[it["id"]][0],
              "masked_fraction": per_item[it["id"]][1] / per_item[it["id"]][2]
              if per_item[it["id"]][2] else None}
             for it in ok if it["id"] in per_item]  # fmt: skip
    return Composite(grid=grid, layers=layers, count=count, items=ok, skipped=skipped,
                     masks=masks)  # fmt: skip


DERIVED_COMPOSITE = "derived-composite"


def run_composite(
    settings: Any,
    store: Any,
    executor: Executor,
    *,
    collection: str,
    aoi_wgs84: BaseGeometry,
    period: tuple[Any, Any],
    what: tuple[str, ...],
    output_collection: str = DERIVED_COMPOSITE,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    mask: str = "auto",
) -> dict[str, Any]:
    """Median composite of ``collection`` over ``period`` → a derived item."""
    mode = mask_mode(mask)
    from sathub.analytics.products import Layer, publish
    from sathub.analytics.select import find_items

    items = find_items(store, collection, aoi_wgs84, *period)
    if not items:
        raise NoData(f"no scene of {collection!r} intersects the AOI in the period")
    comp = median_composite(
        items, settings.layout.assets, aoi_wgs84, what, executor, progress=progress, cancel=cancel,
        mask=mode,
    )
    layers = [
        Layer(
            k, v, f"median {k} ({'index' if k in INDICES else 'reflectance'})", nodata=float("nan")
        )
        for k, v in comp.layers.items()
    ]
    layers.append(Layer("count", comp.count, "valid observations per pixel", nodata=None))
    params = {"what": list(comp.layers), "period": [d.isoformat() for d in period],
              "statistic": "median", "mask": mode}  # fmt: skip
    pub = publish(
        settings, store, collection=output_collection, algorithm="composite", parameters=params,
        inputs=comp.items, grid=comp.grid, layers=layers, start=period[0], end=period[1],
        lineage="Per-pixel median of cloud- and shadow-free observations over the period.",
    )  # fmt: skip
    observed = comp.count > 0
    return {
        "collection": collection,
        "mask": mode,
        "scenes": len(comp.items),
        "masks": comp.masks,
        "skipped": comp.skipped,
        "observed_fraction": float(observed.mean()),
        "item": {"collection": pub.collection, "id": pub.item_id, "status": pub.status},
    }
