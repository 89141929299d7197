"""Mosaics: one tile from the COGs of many items (a registered search or a collection).

Items are taken in the search's order (newest first by default) and painted first-come
(the first valid pixel wins, rio-tiler's ``FirstMethod``); reading stops as soon as the
tile is full. At most ``max_items`` items are read per tile. Below ``min_zoom`` the answer
is an empty tile at once (no reads), so a client zoomed out to the whole world never waits.
COG overviews make the zooms in between cheap.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import morecantile
import numpy as np
import rasterio
from pyproj import Transformer
from rio_tiler.errors import EmptyMosaicError, TileOutsideBounds
from rio_tiler.expression import parse_expression
from rio_tiler.models import ImageData
from rio_tiler.mosaic import mosaic_reader

from sathub.tiles.params import MAX_ITEMS_PER_TILE, MIN_ZOOM, RenderParams, check_size
from sathub.tiles.render import _finish, _guard, open_reader, prepare, prepare_for

from sathub.tiles.searches import MAX_SEARCHES, SearchRegistry

__all__ = ["MAX_ITEMS_PER_TILE", "MAX_SEARCHES", "MIN_ZOOM", "SearchRegistry", "mosaic_tile"]
COARSE_FACTOR = 4.0  # use the cached coarse path when a tile pixel spans ≥ 4 overview pixels
COARSE_CACHE_ENTRIES = 512


class CoarseCache:
    """The coarsest overview of each COG (selected bands, masked), kept in memory (LRU).

    Low-zoom mosaic tiles need a few dozen pixels from each of many items; reading and
    warping each COG costs tens of milliseconds even from its overview, so the overview is
    read once and later tiles only reproject the small array (a few milliseconds).
    """

    def __init__(self, max_entries: int = COARSE_CACHE_ENTRIES) -> None:
        self._data: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, path: str, indexes: tuple[int, ...], nodata: float | None) -> Any:
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            mtime = 0
        key = (path, mtime, indexes, nodata)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit
        with rasterio.open(path) as ds:
            ovr = ds.overviews(1)
            f = ovr[-1] if ovr else 1
            h, w = max(1, ds.height // f), max(1, ds.width // f)
            kw: dict[str, Any] = {"out_shape": (len(indexes), h, w), "masked": True}
            arr = ds.read(list(indexes), **kw)
            if nodata is not None:
                arr = np.ma.masked_equal(arr.filled(nodata), nodata)
            transform = ds.transform * ds.transform.scale(ds.width / w, ds.height / h)
            entry = (arr, transform, ds.crs, abs(transform.a), ds.bounds)
        with self._lock:
            self._data[key] = entry
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return entry


    def get_many(
        self, paths: Sequence[str], indexes: tuple[int, ...], nodata: float | None, threads: int
    ) -> list[Any]:
        """Entries of several COGs, reading the missing ones in ``threads`` threads."""
        if threads > 1 and len(paths) > 1:
            with ThreadPoolExecutor(threads) as ex:
                return list(ex.map(lambda p: self.get(p, indexes, nodata), paths))
        return [self.get(p, indexes, nodata) for p in paths]


COARSE = CoarseCache()


def _paint(
    entry: Any, out: np.ndarray, empty: np.ndarray, bounds: Any, px: float,
    tms: morecantile.TileMatrixSet,
) -> bool:  # fmt: skip
    """Fill the still-empty pixels of ``out`` from one cached coarse overview (nearest
    neighbour by direct lookup, only over the tile pixels the item can cover)."""
    arr, transform, crs, _, (l, b_, r, t) = entry
    dst_crs = tms.rasterio_crs.to_string()
    xs, ys = _transformer(crs.to_string(), dst_crs).transform([l, r, l, r], [b_, b_, t, t])
    size = out.shape[-1]
    c0 = max(0, int((min(xs) - bounds.left) // px))
    c1 = min(size, int((max(xs) - bounds.left) // px) + 1)
    r0 = max(0, int((bounds.top - max(ys)) // px))
    r1 = min(size, int((bounds.top - min(ys)) // px) + 1)
    if c0 >= c1 or r0 >= r1:
        return False
    todo = empty[r0:r1, c0:c1]
    if not todo.any():
        return False
    cols, rows = np.meshgrid(np.arange(c0, c1), np.arange(r0, r1))
    sx, sy = _transformer(dst_crs, crs.to_string()).transform(
        bounds.left + (cols + 0.5) * px, bounds.top - (rows + 0.5) * px
    )
    fc, fr = ~transform * (sx, sy)
    ci, ri = np.floor(fc).astype(int), np.floor(fr).astype(int)
    inside = (ci >= 0) & (ri >= 0) & (ci < arr.shape[2]) & (ri < arr.shape[1])
    ci, ri = np.clip(ci, 0, arr.shape[2] - 1), np.clip(ri, 0, arr.shape[1] - 1)
    invalid = np.asarray(np.ma.getmaskarray(arr).any(axis=0))[ri, ci]
    take = todo & inside & ~invalid
    if not take.any():
        return False
    window = out[:, r0:r1, c0:c1]
    window[:, take] = arr.data[:, ri[take], ci[take]]
    todo[take] = False  # a view into ``empty``
    return True


def coarse_mosaic(
    sources: Sequence[tuple[str, Sequence[dict] | None]], params: RenderParams,
    tms: morecantile.TileMatrixSet, z: int, x: int, y: int, tilesize: int, threads: int,
) -> tuple[ImageData, list[str]] | None | bool:  # fmt: skip
    """The mosaic from cached coarse overviews; False when this tile is too fine for them
    (or the items differ in band layout), None when nothing is painted."""
    if tms.crs.to_epsg() != 3857:
        return False
    bounds = tms.xy_bounds(morecantile.Tile(x, y, z))
    px = (bounds.right - bounds.left) / tilesize
    plans: set[tuple[tuple[int, ...], str | None]] = set()
    for path, eo_bands in sources:
        count, dtype = _band_info(path)
        q = prepare_for(count, params, eo_bands, dtype=dtype)
        if q.expression:
            plans.add((tuple(sorted(parse_expression(q.expression))), q.expression))
        else:
            plans.add((tuple(q.bidx or [1]), None))
    if len(plans) != 1:
        return False
    indexes, expression = plans.pop()
    paths = [p for p, _ in sources]
    entries = COARSE.get_many(paths, indexes, params.nodata, threads)
    if any(COARSE_FACTOR * e[3] > px for e in entries):
        return False
    out = np.zeros((len(indexes), tilesize, tilesize), np.result_type(*[e[0].dtype for e in entries]))
    empty = np.ones((tilesize, tilesize), bool)
    used = []
    for path, entry in zip(paths, entries):
        if _paint(entry, out, empty, bounds, px, tms):
            used.append(path)
            if not empty.any():
                break
    if not used:
        return None
    data = np.ma.MaskedArray(out, mask=np.broadcast_to(empty, out.shape).copy())
    img = ImageData(data, bounds=tuple(bounds), crs=tms.rasterio_crs,
                    band_names=[f"b{i}" for i in indexes])  # fmt: skip
    if expression:
        img = img.apply_expression(expression)
    return img, used


def mosaic_tile(
    sources: Sequence[tuple[str, Sequence[dict] | None]],
    params: RenderParams,
    tms: morecantile.TileMatrixSet,
    z: int, x: int, y: int,
    tilesize: int = 256,
    threads: int = 2,
) -> tuple[ImageData, list[str]] | None:  # fmt: skip
    """Mosaic of ``sources`` (COG path, eo:bands) for one tile; None when nothing is there."""
    check_size("tilesize", tilesize, params.limits.max_tile_px)
    bands = params.expression.count(";") + 1 if params.expression else len(params.bidx or [1, 2, 3])
    params.limits.check_values(tilesize, tilesize, bands, "tilesize")
    if not sources:
        return None
    return _guard(lambda: _mosaic_tile(sources, params, tms, z, x, y, tilesize, threads))  # type: ignore[no-any-return]


def _mosaic_tile(
    sources: Sequence[tuple[str, Sequence[dict] | None]], params: RenderParams,
    tms: morecantile.TileMatrixSet, z: int, x: int, y: int, tilesize: int, threads: int,
) -> tuple[ImageData, list[str]] | None:  # fmt: skip
    fast = coarse_mosaic(sources, params, tms, z, x, y, tilesize, threads)
    if fast is None:
        return None
    if fast is not False:
        img, used = fast  # type: ignore[misc]
        return _finish(img, params), used

    def read(asset: tuple[str, Sequence[dict] | None], *args: Any, **kw: Any) -> ImageData:
        path, eo_bands = asset
        with open_reader(path, tms) as src:
            if not src.tile_exists(x, y, z):
                raise TileOutsideBounds("outside")
            p = prepare(src, params, eo_bands)
            img = src.tile(x, y, z, tilesize=tilesize, **p.read_kwargs())
            img.assets = [path]
            return img

    try:
        img, used = mosaic_reader(list(sources), read, threads=threads)
    except EmptyMosaicError:
        return None
    return _finish(img, params), used


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


@lru_cache(maxsize=4096)
def _band_info(path: str) -> tuple[int, str]:
    with rasterio.open(path) as ds:
        return int(ds.count), str(ds.dtypes[0])
