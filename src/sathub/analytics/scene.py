"""Load what an analysis needs from one scene: reflectances, a cloud/shadow mask, an index.

Reprojection policy (documented in docs/analytics.md):

* one scene, one index: the *analysis grid* is the native grid of the finest band the index
  needs, cropped to the AOI; coarser bands of that scene are resampled onto it (bilinear,
  masks nearest). Zonal statistics then run on that grid, in the scene's own CRS; polygons
  are reprojected to it (never the pixels).
* several scenes (flood, change, composite): everything is read onto the grid of a reference
  scene (the first "after" scene, or the first scene of the period), cropped to the AOI;
  scenes in other CRSs or resolutions are warped onto it (bilinear, masks nearest).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.enums import Resampling
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from sathub.analytics import indices, masks
from sathub.analytics.bands import (
    BandRef,
    Grid,
    band_grid,
    local_path,
    mask_asset,
    read_bands,
    read_raw,
    resolve_band,
)
from sathub.analytics.errors import MissingBand
from sathub.storage.base import ObjectStore

MASK_BANDS = ("blue", "nir", "swir16")


@dataclass
class SceneData:
    item_id: str
    datetime: datetime | None
    grid: Grid
    bands: dict[str, np.ndarray]
    invalid: np.ndarray  # True: cloud, shadow (never nodata: that is NaN in the bands)
    mask_source: str  # "scl" | "qa_pixel" | "spectral" | "none"
    notes: list[str] = field(default_factory=list)

    @property
    def nodata(self) -> np.ndarray:
        out = np.zeros((self.grid.height, self.grid.width), bool)
        for a in self.bands.values():
            out |= np.isnan(a)
        return out


def item_datetime(item: dict[str, Any]) -> datetime | None:
    p = item.get("properties", {})
    raw = p.get("datetime") or p.get("start_datetime")
    if not raw:
        return None
    return datetime.fromisoformat(str(raw))


@functools.lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _crs_key(crs: Any) -> str:
    return crs if isinstance(crs, str) else crs.to_wkt()


def to_crs(geom: BaseGeometry, src: Any, dst: Any) -> BaseGeometry:
    """Reproject a shapely geometry (vertices only, always_xy)."""
    tr = _transformer(_crs_key(src), _crs_key(dst))
    if tr.source_crs == tr.target_crs:
        return geom
    return shapely.transform(geom, lambda x, y: tr.transform(x, y), interleaved=False)


def to_crs_many(geoms: list[BaseGeometry], src: Any, dst: Any) -> list[BaseGeometry]:
    """:func:`to_crs` for many geometries in one vectorised call."""
    tr = _transformer(_crs_key(src), _crs_key(dst))
    if tr.source_crs == tr.target_crs:
        return list(geoms)
    arr = np.asarray(geoms, dtype=object)
    return list(shapely.transform(arr, lambda x, y: tr.transform(x, y), interleaved=False))


def index_refs(item: dict[str, Any], index: str) -> dict[str, BandRef]:
    spec = indices.index_spec(index)
    return {b: resolve_band(item, b) for b in spec.bands}


def native_grid(item: dict[str, Any], refs: dict[str, BandRef], objects: ObjectStore) -> Grid:
    """The grid of the finest of ``refs`` (ties: the first)."""
    grids = [band_grid(item, r, objects) for r in refs.values()]
    return min(grids, key=lambda g: g.res_m[0] * g.res_m[1])


def aoi_grid(grid: Grid, aoi_wgs84: BaseGeometry | None) -> Grid | None:
    """``grid`` cropped to the AOI (WGS84); None when the AOI misses the grid."""
    if aoi_wgs84 is None:
        return grid
    local = to_crs(aoi_wgs84, "EPSG:4326", grid.crs)
    if not local.intersects(box(*grid.bounds)):
        return None
    return grid.crop(local.bounds)


def load_scene(
    item: dict[str, Any],
    objects: ObjectStore,
    want: tuple[str, ...],
    grid: Grid,
    *,
    cloud_mask: bool = True,
) -> SceneData:
    """Reflectances of the bands ``want`` (common names) and the cloud mask, on ``grid``."""
    refs = {b: resolve_band(item, b) for b in want}
    extra_refs: dict[str, BandRef] = {}
    mask_kind = mask_asset(item) if cloud_mask else None
    if cloud_mask and mask_kind is None:  # the spectral test's bands, read in the same pass
        for b in MASK_BANDS:
            if b not in refs:
                try:
                    extra_refs[b] = resolve_band(item, b)
                except MissingBand:
                    pass
    read = read_bands({**refs, **extra_refs}, objects, grid)
    bands = {b: read[b] for b in refs}
    invalid = np.zeros((grid.height, grid.width), bool)
    source = "none"
    notes: list[str] = []
    if mask_kind is not None:
        kind, key = mask_kind
        asset = item["assets"][key]
        raw, valid = read_raw(
            local_path(asset["href"], objects), 1, grid, resampling=Resampling.nearest
        )
        invalid = masks.scl_invalid(raw) if kind == "scl" else masks.qa_pixel_invalid(raw)
        invalid &= valid
        source = kind
    elif cloud_mask:
        if "blue" in read and "nir" in read:
            invalid = masks.spectral_invalid(read)
            source = "spectral"
        else:
            notes.append("no mask asset and no blue/nir bands: clouds are not masked")
    return SceneData(
        item_id=item["id"],
        datetime=item_datetime(item),
        grid=grid,
        bands=bands,
        invalid=invalid,
        mask_source=source,
        notes=notes,
    )


def masked_index(scene: SceneData, index: str) -> np.ndarray:
    """The index on the scene's grid, NaN where nodata, cloud or shadow."""
    spec = indices.index_spec(index)
    value = np.asarray(indices.compute(spec.name, scene.bands), dtype=np.float32)
    value[scene.invalid] = np.nan
    return value
