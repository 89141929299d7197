"""Zonal time series: one row per polygon per scene, then per interval (dekad, month).

Per scene (:func:`scene_rows`, one Dask task per scene): the index on the scene's analysis
grid (clouds and shadows masked as the task's ``mask`` says), zonal statistics per polygon
(:mod:`zonal`), and per polygon the mask used (``mask``) and the share of its cells with data
that the mask removed (``masked_fraction``, pooled like ``count`` when rows are combined). Memory is
bounded: polygons are processed in groups whose window is at most ``tile_px``² cells;
a polygon larger than that is cut along the tile grid and its pieces are combined with
:func:`combine` (exact for mean, std, min, max, count; the median of such a polygon is the
count-weighted median of the pieces' medians, an approximation).

Per interval (:func:`aggregate`): the rows of one polygon in one interval are combined the
same way (pooled mean and standard deviation over all valid pixels of all scenes; min, max;
count summed; median = count-weighted median of the scene medians; valid_fraction = the
mean over the interval's scenes). An interval in which every scene is cloudy gets NaN with
the reason "no valid pixel in the interval", never 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from sathub.analytics.bands import Grid, mask_asset, resolve_band
from sathub.analytics.errors import MissingBand, MissingMask
from sathub.analytics.scene import (
    index_and_mask,
    index_refs,
    load_scene,
    native_grid,
    to_crs_many,
)
from sathub.analytics.select import Zone
from sathub.analytics.zonal import REASON_OUTSIDE, STATS, empty_row, masked_cells, zonal_stats
from sathub.storage.base import ObjectStore
from sathub.timeutil import parse_datetime

TILE_PX = 2048
INTERVALS = {"dekad": "10-day periods (1–10, 11–20, 21–end of month)", "month": "calendar months"}
_INTERVAL_ALIASES = {"10d": "dekad", "10-day": "dekad", "p10d": "dekad", "dekad": "dekad",
                     "month": "month", "1m": "month", "p1m": "month", "monthly": "month"}  # fmt: skip
COLUMNS = ("id", "item_id", "datetime", *STATS, "mask", "masked_fraction", "reason")


@dataclass(frozen=True)
class SceneTask:
    item: dict[str, Any]
    index: str
    zones: tuple[Zone, ...]
    objects: ObjectStore
    tile_px: int = TILE_PX
    mask: str = "auto"


def interval_name(text: str) -> str:
    from sathub.errors import InvalidInput

    key = text.strip().lower()
    if key not in _INTERVAL_ALIASES:
        raise InvalidInput(f"unknown interval {text!r}: use 10d (dekad) or month", field="interval")
    return _INTERVAL_ALIASES[key]


def _pool_masks(rows: list[dict[str, Any]], out: dict[str, Any]) -> dict[str, Any]:
    """``mask`` (the sources, ``;``-joined), ``masked_count`` (summed) and
    ``masked_fraction`` = masked cells / cells with data, over all ``rows``."""
    masked = float(sum(r.get("masked_count") or 0.0 for r in rows))
    data = masked + float(sum(r.get("count") or 0.0 for r in rows))
    sources = sorted({str(r["mask"]) for r in rows if r.get("mask")})
    out["mask"] = ";".join(sources) if sources else None
    out["masked_count"] = masked
    out["masked_fraction"] = masked / data if data > 0 else float("nan")
    return out


def combine(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool statistics of disjoint pixel sets (see module doc)."""
    ok = [r for r in rows if r["count"] and r["count"] > 0 and not math.isnan(r["mean"])]
    if not ok:
        out = empty_row(rows[0]["reason"] if rows and rows[0].get("reason") else "no valid pixel")
        if rows:
            out["valid_fraction"] = float(np.mean([r["valid_fraction"] for r in rows]))
        return _pool_masks(rows, out)
    c = np.array([r["count"] for r in ok])
    m = np.array([r["mean"] for r in ok])
    s = np.array([r["std"] for r in ok])
    n = c.sum()
    mean = float((c * m).sum() / n)
    var = float((c * (s**2 + (m - mean) ** 2)).sum() / n)
    med = np.array([r["median"] for r in ok])
    order = np.argsort(med)
    cum = np.cumsum(c[order])
    median = float(med[order][np.searchsorted(cum, n / 2)])
    return _pool_masks(rows, {
        "mean": mean,
        "median": median if len(ok) > 1 else float(ok[0]["median"]),
        "std": math.sqrt(max(var, 0.0)),
        "min": float(min(r["min"] for r in ok)),
        "max": float(max(r["max"] for r in ok)),
        "count": float(n),
        "valid_fraction": float(np.mean([r["valid_fraction"] for r in rows])),
        "reason": None,
    })


def _groups(
    grid: Grid, polys: list[BaseGeometry], tile_px: int
) -> tuple[list[tuple[Grid, list[int]]], list[int]]:
    """(window grid, polygon indices) groups of small polygons; indices of big ones."""
    resx, resy = grid.res_m
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    big: list[int] = []
    x0, y1 = grid.bounds[0], grid.bounds[3]
    for i, p in enumerate(polys):
        b = p.bounds
        if (b[2] - b[0]) / resx > tile_px or (b[3] - b[1]) / resy > tile_px:
            big.append(i)
            continue
        key = (int((b[0] - x0) // (tile_px * resx)), int((y1 - b[3]) // (tile_px * resy)))
        buckets[key].append(i)
    groups = []
    for idx in buckets.values():
        bb = np.array([polys[i].bounds for i in idx])
        sub = grid.crop((bb[:, 0].min(), bb[:, 1].min(), bb[:, 2].max(), bb[:, 3].max()))
        if sub is not None:
            groups.append((sub, idx))
    return groups, big


def _tiles(grid: Grid, geom: BaseGeometry, tile_px: int) -> list[tuple[Grid, BaseGeometry]]:
    sub = grid.crop(geom.bounds)
    if sub is None:
        return []
    out = []
    resx, resy = sub.res_m
    x0, y0, x1, y1 = sub.bounds
    ty = y1
    while ty > y0 + 1e-9:
        tx = x0
        while tx < x1 - 1e-9:
            cell = box(tx, max(ty - tile_px * resy, y0), min(tx + tile_px * resx, x1), ty)
            piece = geom.intersection(cell)
            g = grid.crop(cell.bounds)
            if not piece.is_empty and piece.area > 0 and g is not None:
                out.append((g, piece))
            tx += tile_px * resx
        ty -= tile_px * resy
    return out


def scene_rows(task: SceneTask) -> dict[str, Any]:
    """Zonal statistics of every zone on one scene. Returns rows and notes (never raises
    for a missing band: the scene is reported as skipped with the reason)."""
    item = task.item
    dt = item["properties"].get("datetime")
    try:
        refs = index_refs(item, task.index)
        if task.mask == "asset" and mask_asset(item) is None:
            raise MissingMask(f"item {item['id']!r} has no mask asset (SCL or QA_PIXEL)")
        if task.mask == "spectral":
            resolve_band(item, "blue")
            resolve_band(item, "nir")
    except (MissingBand, MissingMask) as exc:
        return {"item_id": item["id"], "rows": [], "skipped": exc.message}
    want = tuple(refs)
    full = native_grid(item, refs, task.objects)
    polys = to_crs_many([z.geometry for z in task.zones], "EPSG:4326", full.crs)
    results: list[dict[str, Any] | None] = [None] * len(polys)
    mask_source = "none"

    def run(g: Grid, geoms: list[BaseGeometry]) -> list[dict[str, Any]]:
        nonlocal mask_source
        scene = load_scene(item, task.objects, want, g, mask=task.mask)  # type: ignore[arg-type]
        mask_source = scene.mask_source
        values, removed = index_and_mask(scene, task.index)
        rows = zonal_stats(values, g, geoms)
        for row, (masked, data) in zip(rows, masked_cells(removed, g, geoms)):
            row["mask"] = scene.mask_source
            row["masked_count"] = masked
            row["masked_fraction"] = masked / data if data > 0 else float("nan")
        return rows

    groups, big = _groups(full, polys, task.tile_px)
    for g, idx in groups:
        for i, row in zip(idx, run(g, [polys[i] for i in idx])):
            results[i] = row
    for i in big:
        pieces = _tiles(full, polys[i], task.tile_px)
        part_rows = [run(g, [piece])[0] for g, piece in pieces]
        if not part_rows:
            results[i] = empty_row(REASON_OUTSIDE)
            continue
        row = combine(part_rows)
        cell = full.res_m[0] * full.res_m[1]
        row["valid_fraction"] = row["count"] / (polys[i].area / cell)
        results[i] = row
    rows = []
    for z, found in zip(task.zones, results):
        row = found or empty_row(REASON_OUTSIDE)
        if row.get("reason") == REASON_OUTSIDE:
            continue  # the scene does not cover this polygon: no observation, no row
        rows.append({"id": z.id, "item_id": item["id"], "datetime": dt, **row})
    return {"item_id": item["id"], "rows": rows, "skipped": None, "mask_source": mask_source}


def scene_rows_batch(tasks: list[SceneTask]) -> list[dict[str, Any]]:
    return [scene_rows(t) for t in tasks]


def interval_start(dt: datetime, interval: str) -> datetime:
    if interval == "month":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    day = 1 if dt.day <= 10 else 11 if dt.day <= 20 else 21
    return dt.replace(day=day, hour=0, minute=0, second=0, microsecond=0)


def aggregate(rows: list[dict[str, Any]], interval: str) -> list[dict[str, Any]]:
    """One row per polygon per interval (see module doc); ``datetime`` is the interval start,
    ``item_id`` lists the scenes combined (``;``-separated)."""
    interval = interval_name(interval)
    buckets: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        dt = parse_datetime(str(r["datetime"]))
        buckets[(r["id"], interval_start(dt, interval))].append(r)
    out = []
    for (zid, start), group in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        row = combine(group)
        if row["count"] == 0:
            row["reason"] = "no valid pixel in the interval (cloud, shadow or nodata)"
        out.append(
            {
                "id": zid,
                "item_id": ";".join(r["item_id"] for r in group),
                "datetime": start.isoformat().replace("+00:00", "Z"),
                **row,
            }
        )
    return out
