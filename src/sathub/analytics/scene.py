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
from typing import Any, Literal

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.transform import Affine
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
from sathub.analytics.errors import MissingBand, MissingMask
from sathub.errors import InvalidInput
from sathub.storage.base import ObjectStore
from sathub.timeutil import parse_datetime

MASK_BANDS = ("blue", "nir", "swir16")
MaskMode = Literal["auto", "asset", "spectral", "none"]
MASK_MODES: tuple[str, ...] = ("auto", "asset", "spectral", "none")
"""``auto``: the scene's mask asset (SCL, QA_PIXEL) when it has one, else no mask;
``asset``: the mask asset, a scene without one is refused; ``spectral``: the spectral
cloud/shadow test of :mod:`masks` (needs blue and NIR); ``none``: no cloud mask."""


def mask_mode(value: str | None) -> MaskMode:
    """Check a mask choice (None → ``auto``); InvalidInput naming the field otherwise."""
    mode = (value or "auto").strip().lower()
    if mode not in MASK_MODES:
        raise InvalidInput(
            f"unknown mask {value!r}: one of {', '.join(MASK_MODES)}", field="mask"
        )
    return mode  # type: ignore[return-value]


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

    def mask_counts(self) -> tuple[int, int]:
        """(pixels the mask removed, pixels with data) on the grid: nodata never counts."""
        data = ~self.nodata
        return int((self.invalid & data).sum()), int(data.sum())

    @property
    def masked_fraction(self) -> float:
        """Share of the pixels with data that the cloud/shadow mask removed (NaN: no data)."""
        masked, data = self.mask_counts()
        return masked / data if data else float("nan")


def item_datetime(item: dict[str, Any]) -> datetime | None:
    p = item.get("properties", {})
    raw = p.get("datetime") or p.get("start_datetime")
    if not raw:
        return None
    return parse_datetime(str(raw), field="properties.datetime")


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


def _expand(grid: Grid, px: int) -> Grid:
    if px <= 0:
        return grid
    t = grid.transform @ Affine.translation(-px, -px)
    return Grid(grid.crs, t, grid.width + 2 * px, grid.height + 2 * px)


def _crop(a: np.ndarray, px: int) -> np.ndarray:
    return a[px:-px, px:-px] if px > 0 else a


def load_scene(
    item: dict[str, Any],
    objects: ObjectStore,
    want: tuple[str, ...],
    grid: Grid,
    *,
    mask: MaskMode = "auto",
) -> SceneData:
    """Reflectances of the bands ``want`` (common names) and the cloud mask chosen by
    ``mask`` (see :data:`MASK_MODES`), on ``grid``. Raises :class:`MissingMask` when ``asset``
    is asked of a scene without a mask asset, :class:`MissingBand` when ``spectral`` is asked
    of a scene without blue or NIR."""
    refs = {b: resolve_band(item, b) for b in want}
    extra_refs: dict[str, BandRef] = {}
    mask_kind = mask_asset(item) if mask in ("auto", "asset") else None
    if mask == "asset" and mask_kind is None:
        raise MissingMask(
            f"item {item.get('id')!r} has no mask asset (Sentinel-2 SCL or Landsat QA_PIXEL); "
            "choose --mask spectral or none",
            field="mask",
        )
    if mask == "spectral":  # the spectral test's bands, read in the same pass
        for b in MASK_BANDS:
            if b not in refs:
                try:
                    extra_refs[b] = resolve_band(item, b)
                except MissingBand:
                    if b != "swir16":
                        raise
    # the spectral test grows its mask by DILATE_PX: read a halo so that a cloud just outside
    # the window masks the pixels it would mask in a whole-scene run
    halo = masks.DILATE_PX if mask == "spectral" else 0
    read = read_bands({**refs, **extra_refs}, objects, _expand(grid, halo))
    bands = {b: _crop(read[b], halo) for b in refs}
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
    elif mask == "spectral":
        invalid = _crop(masks.spectral_invalid(read), halo)
        source = "spectral"
    elif mask == "auto":
        notes.append("no mask asset: clouds and shadows are not masked (ask for --mask spectral)")
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
    return index_and_mask(scene, index)[0]


def index_and_mask(scene: SceneData, index: str) -> tuple[np.ndarray, np.ndarray]:
    """(index NaN where nodata, cloud or shadow; mask raster: 1.0 where the mask removed a
    pixel whose index is defined, 0.0 where it kept one, NaN where the index is undefined)."""
    spec = indices.index_spec(index)
    value = np.asarray(indices.compute(spec.name, scene.bands), dtype=np.float32)
    removed = np.where(np.isnan(value), np.nan, scene.invalid.astype(np.float64))
    value[scene.invalid] = np.nan
    return value, removed
