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
from rio_tiler.errors import InvalidExpression, PointOutsideBounds, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

from sathub.errors import InvalidInput
from sathub.tiles.expression import band_aliases, compile_expression
from sathub.tiles.params import MAX_IMAGE_PX, RenderParams, check_size

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
            yield src


def prepare(
    src: Reader, params: RenderParams, eo_bands: Sequence[dict] | None, image: bool = True
) -> RenderParams:
    """Check band numbers and compile the expression against this dataset. For images
    (``image=True``) with no bands chosen, pick :func:`default_bands`; values and statistics
    default to every band."""
    assert src.dataset is not None
    return prepare_for(src.dataset.count, params, eo_bands, image)


def prepare_for(
    count: int, params: RenderParams, eo_bands: Sequence[dict] | None, image: bool = True
) -> RenderParams:
    """:func:`prepare` for a dataset of ``count`` bands."""
    if params.bidx:
        bad = [b for b in params.bidx if b > count]
        if bad:
            raise InvalidInput(
                f"bidx {bad[0]} does not exist: the asset has {count} band(s)", field="bidx"
            )
    if params.expression:
        compiled = compile_expression(params.expression, count, band_aliases(eo_bands))
        params = RenderParams(**{**params.__dict__, "expression": compiled})
    elif image and not params.bidx and count > 1:
        params = RenderParams(**{**params.__dict__, "bidx": default_bands(count, eo_bands)})
    return params


def default_bands(count: int, eo_bands: Sequence[dict] | None) -> list[int]:
    """True colour when red, green and blue are known, else the first band (or first three
    of a 3- or 4-band file, e.g. an RGB(A) image)."""
    names = band_aliases(eo_bands)
    if all(c in names for c in ("red", "green", "blue")):
        return [names["red"], names["green"], names["blue"]]
    return [1, 2, 3] if count in (3, 4) else [1]


def _finish(img: ImageData, params: RenderParams) -> ImageData:
    if params.expression:
        # division by zero in the data: mask inf/nan instead of painting them
        data = img.array.data
        bad = ~np.isfinite(data)
        if data.dtype.kind == "f":  # rio-tiler turns ±inf into ±max float
            bad |= np.abs(data) >= np.finfo(data.dtype).max
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
    return Rendered(data, media_type)


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except InvalidExpression as exc:
        raise InvalidInput(f"expression: {exc}", field="expression") from None
    except ZeroDivisionError:
        raise InvalidInput("expression: division by zero", field="expression") from None


def read_tile(
    src: Reader, params: RenderParams, z: int, x: int, y: int, tilesize: int = 256
) -> ImageData | None:
    """The tile's pixels, or None when it does not touch the raster."""
    check_size("tilesize", tilesize, 1024)
    try:  # rio-tiler checks the tile touches the raster (TileOutsideBounds)
        img = _guard(lambda: src.tile(x, y, z, tilesize=tilesize, **params.read_kwargs()))
    except TileOutsideBounds:
        return None
    return _finish(img, params)


def read_preview(
    src: Reader, params: RenderParams, max_size: int = 1024,
    width: int | None = None, height: int | None = None,
) -> ImageData:  # fmt: skip
    check_size("max_size", max_size)
    check_size("width", width)
    check_size("height", height)
    img = _guard(
        lambda: src.preview(max_size=max_size, width=width, height=height, **params.read_kwargs())
    )
    return _finish(img, params)


def read_bbox(
    src: Reader, params: RenderParams, bbox: tuple[float, float, float, float],
    max_size: int = 1024, width: int | None = None, height: int | None = None,
    dst_crs: CRS | None = None,
) -> ImageData:  # fmt: skip
    check_size("max_size", max_size)
    check_size("width", width)
    check_size("height", height)
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
    check_size("max_size", max_size)
    shape = feature.get("geometry", feature) if feature.get("type") == "Feature" else feature
    if not isinstance(shape, dict) or shape.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput("feature must be a GeoJSON (Multi)Polygon or Feature", field="body")
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
    values = [None if m else float(v) for v, m in zip(pt.array.data, np.ma.getmaskarray(pt.array))]
    return {"coordinates": [lon, lat], "values": values, "band_names": list(pt.band_names)}


def read_statistics(src: Reader, params: RenderParams, max_size: int = 1024) -> dict[str, Any]:
    check_size("max_size", max_size, MAX_IMAGE_PX)
    stats = _guard(lambda: src.statistics(max_size=max_size, **params.read_kwargs()))
    return {k: v.model_dump() for k, v in stats.items()}


def info(src: Reader) -> dict[str, Any]:
    return src.info().model_dump(exclude_none=True)
