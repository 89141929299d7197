"""Render one COG: tiles, previews, bbox/feature crops, point values, statistics.

Thin on purpose: rio-tiler reads and renders; this module validates parameters against the
dataset (band numbers, expressions, sizes) and turns rio-tiler's errors into sathub's.
A tile that does not touch the raster returns ``None`` (the API answers 204 No Content).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import morecantile
import numpy as np
import rasterio
from rasterio._err import CPLE_AppDefinedError
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rio_tiler.errors import InvalidExpression, InvalidFormat, PointOutsideBounds, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

from sathub.catalog.geometry import geometry_from_geojson
from sathub.errors import InvalidGeometry, InvalidInput
from sathub.tiles.expression import band_aliases, compile_expression
from sathub.tiles.params import RenderParams, check_size

GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "VSI_CACHE": "TRUE",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
}
WGS84 = CRS.from_epsg(4326)


@dataclass
class Rendered:
    content: bytes
    media_type: str


@contextmanager
def open_reader(
    path: str, tms: morecantile.TileMatrixSet | None = None
) -> Iterator[Reader]:
    with rasterio.Env(**GDAL_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw: dict[str, Any] = {"tms": tms} if tms is not None else {}
        try:
            reader = Reader(path, **kw)
        except RasterioIOError:
            raise InvalidInput("this asset is not a raster that can be rendered", field="asset") from None
        with reader as src:
            ds = src.dataset
            if ds is None or ds.crs is None or ds.transform.is_identity:
                raise InvalidInput("this asset is not a georeferenced raster (e.g. a thumbnail); "
                                   "name a GeoTIFF asset", field="asset")  # fmt: skip
            yield src


def prepare(
    src: Reader, params: RenderParams, eo_bands: Sequence[dict] | None, image: bool = True
) -> RenderParams:
    """Check band numbers and compile the expression against this dataset. For images
    (``image=True``) with no bands chosen, pick :func:`default_bands`; values and statistics
    default to every band."""
    assert src.dataset is not None
    return prepare_for(src.dataset.count, params, eo_bands, image, src.dataset.dtypes[0])


def prepare_for(
    count: int, params: RenderParams, eo_bands: Sequence[dict] | None, image: bool = True,
    dtype: str | None = None,
) -> RenderParams:  # fmt: skip
    """:func:`prepare` for a dataset of ``count`` bands of ``dtype``."""
    if params.nodata is not None and dtype is not None:
        check_nodata(params.nodata, dtype)
    if params.bidx:
        bad = [b for b in params.bidx if b > count]
        if bad:
            raise InvalidInput(
                f"bidx {bad[0]} does not exist: the asset has {count} band(s)", field="bidx"
            )
    if params.expression:
        compiled = compile_expression(params.expression, count, band_aliases(eo_bands), params.limits)
        params = RenderParams(**{**params.__dict__, "expression": compiled})
    elif image and not params.bidx and count > 1:
        params = RenderParams(**{**params.__dict__, "bidx": default_bands(count, eo_bands)})
    return params


def check_nodata(nodata: float, dtype: str) -> None:
    """InvalidInput unless ``nodata`` is a value of the asset's data type."""
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        info = np.iinfo(kind)
        ok = nodata == int(nodata) and info.min <= nodata <= info.max
    else:
        ok = kind.kind != "f" or abs(nodata) <= np.finfo(kind).max
    if not ok:
        raise InvalidInput(f"nodata {nodata:g} is not a value of the asset's data type {dtype}",
                           field="nodata")  # fmt: skip


def output_bands(params: RenderParams, count: int) -> int:
    """How many bands a prepared request returns."""
    if params.expression:
        return params.expression.count(";") + 1
    return len(params.bidx) if params.bidx else count


def _budget(src: Reader, params: RenderParams, width: int, height: int, field: str) -> None:
    assert src.dataset is not None
    params.limits.check_values(width, height, output_bands(params, src.dataset.count), field)


def _fitted(src: Reader, max_size: int, width: int | None, height: int | None) -> tuple[int, int]:
    """The size rio-tiler reads for a preview: width × height if given, else the dataset
    scaled down (never up) so its longest side is at most ``max_size``."""
    assert src.dataset is not None
    w, h = src.dataset.width, src.dataset.height
    if width and height:
        return width, height
    scale = min(1.0, max_size / max(w, h))
    return width or max(1, round(w * scale)), height or max(1, round(h * scale))


def default_bands(count: int, eo_bands: Sequence[dict] | None) -> list[int]:
    """True colour when red, green and blue are known, else the first band (or first three
    of a 3- or 4-band file, e.g. an RGB(A) image)."""
    names = band_aliases(eo_bands)
    if all(c in names for c in ("red", "green", "blue")):
        return [names["red"], names["green"], names["blue"]]
    return [1, 2, 3] if count in (3, 4) else [1]


def _not_finite(data: np.ndarray) -> np.ndarray:
    """Where values are ±inf or NaN (rio-tiler turns ±inf into ±max float)."""
    bad = ~np.isfinite(data)
    if data.dtype.kind == "f":
        bad |= np.abs(data) >= np.finfo(data.dtype).max
    return bad


def _finish(img: ImageData, params: RenderParams) -> ImageData:
    if params.expression:
        # division by zero or overflow in the data: mask them instead of painting them
        bad = _not_finite(img.array.data)
        if bad.any():
            img.array.mask = np.logical_or(np.ma.getmaskarray(img.array), bad)
    if params.rescale:
        img.rescale(in_range=params.rescale)
    return img


PNG_ZLEVEL = 1  # deflate level of PNG tiles: half the encoding time of the default 6, ~15 % larger


def encode(img: ImageData, params: RenderParams, driver: str, media_type: str) -> Rendered:
    options: dict[str, Any] = {"ZLEVEL": PNG_ZLEVEL} if driver == "PNG" else {}
    try:
        data = img.render(img_format=driver, colormap=params.cmap(), add_mask=driver != "JPEG", **options)
    except InvalidExpression as exc:
        raise InvalidInput(f"expression: {exc}", field="expression") from None
    except InvalidFormat:
        field = "expression" if params.expression else "bidx"
        raise InvalidInput(
            f"{driver} cannot hold {img.count} band(s) (PNG and WEBP: 1-3, JPEG: 1 or 3); "
            "choose fewer bands or fmt=tif", field=field,
        ) from None  # fmt: skip
    return Rendered(data, media_type)


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except InvalidExpression as exc:
        raise InvalidInput(f"expression: {exc}", field="expression") from None
    except ZeroDivisionError:
        raise InvalidInput("expression: division by zero", field="expression") from None
    except OverflowError:
        raise InvalidInput("expression: a constant overflows", field="expression") from None


def read_tile(
    src: Reader, params: RenderParams, z: int, x: int, y: int, tilesize: int = 256
) -> ImageData | None:
    """The tile's pixels, or None when it does not touch the raster."""
    check_size("tilesize", tilesize, params.limits.max_tile_px)
    _budget(src, params, tilesize, tilesize, "tilesize")
    try:  # rio-tiler checks the tile touches the raster (TileOutsideBounds)
        img = _guard(lambda: src.tile(x, y, z, tilesize=tilesize, **params.read_kwargs()))
    except TileOutsideBounds:
        return None
    return _finish(img, params)


def read_preview(
    src: Reader, params: RenderParams, max_size: int = 1024,
    width: int | None = None, height: int | None = None,
) -> ImageData:  # fmt: skip
    _check_sizes(params, max_size, width, height)
    _budget(src, params, *_fitted(src, max_size, width, height), "max_size")
    img = _guard(
        lambda: src.preview(max_size=max_size, width=width, height=height, **params.read_kwargs())
    )
    return _finish(img, params)


def read_bbox(
    src: Reader, params: RenderParams, bbox: tuple[float, float, float, float],
    max_size: int = 1024, width: int | None = None, height: int | None = None,
    dst_crs: CRS | None = None,
) -> ImageData:  # fmt: skip
    _check_sizes(params, max_size, width, height)
    _budget(src, params, width or max_size, height or max_size, "max_size")
    w, s, e, n = bbox
    if not (w < e and s < n):
        raise InvalidInput("bbox must be minx,miny,maxx,maxy with min < max", field="bbox")
    img = _guard(
        lambda: src.part(
            bbox, bounds_crs=WGS84, dst_crs=dst_crs or WGS84, max_size=max_size,
            width=width, height=height, **params.read_kwargs(),
        )
    )  # fmt: skip
    return _finish(img, params)


def read_feature(
    src: Reader, params: RenderParams, feature: dict[str, Any], max_size: int = 1024,
    dst_crs: CRS | None = None,
) -> ImageData:  # fmt: skip
    _check_sizes(params, max_size)
    shape = feature.get("geometry", feature) if feature.get("type") == "Feature" else feature
    try:  # structure first (no C library sees a malformed one), then GEOS validity
        geometry_from_geojson(shape, field="body", types=("Polygon", "MultiPolygon"))
    except InvalidGeometry as exc:
        raise InvalidGeometry(f"feature: {exc.message}", field="body") from None
    _budget(src, params, max_size, max_size, "max_size")
    img = _guard(
        lambda: src.feature(shape, shape_crs=WGS84, dst_crs=dst_crs or WGS84,
                            max_size=max_size, **params.read_kwargs())
    )  # fmt: skip
    return _finish(img, params)


def read_point(src: Reader, params: RenderParams, lon: float, lat: float) -> dict[str, Any]:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"point {lon},{lat} is not a WGS84 longitude,latitude", field="coordinates")
    try:
        pt = _guard(lambda: src.point(lon, lat, **params.read_kwargs()))
    except (PointOutsideBounds, CPLE_AppDefinedError):
        raise InvalidInput(f"point {lon},{lat} is outside the asset", field="coordinates") from None
    masked = np.ma.getmaskarray(pt.array) | _not_finite(pt.array.data)
    values = [None if m else float(v) for v, m in zip(pt.array.data, masked)]
    return {"coordinates": [lon, lat], "values": values, "band_names": list(pt.band_names)}


def read_statistics(src: Reader, params: RenderParams, max_size: int = 1024) -> dict[str, Any]:
    """Statistics of a ≤ ``max_size`` px read; values an expression makes non-finite (an
    overflow, a division by zero) are masked like nodata."""
    _check_sizes(params, max_size)
    _budget(src, params, *_fitted(src, max_size, None, None), "max_size")
    img = _finish(_guard(lambda: src.preview(max_size=max_size, **params.read_kwargs())), params)
    try:
        stats = _guard(lambda: img.statistics())
    except ValueError:  # numpy cannot bin values near the float64 limits into a histogram
        raise InvalidInput("expression: the values are too large to summarise (near the "
                           "float64 limit)", field="expression") from None  # fmt: skip
    return {k: v.model_dump() for k, v in stats.items()}


def _check_sizes(params: RenderParams, max_size: int, width: int | None = None,
                 height: int | None = None) -> None:  # fmt: skip
    limit = params.limits.max_image_px
    check_size("max_size", max_size, limit)
    check_size("width", width, limit)
    check_size("height", height, limit)


def info(src: Reader) -> dict[str, Any]:
    return src.info().model_dump(exclude_none=True)
