"""Rendering parameters (validated, framework-free) and their limits."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import morecantile

from sathub.errors import InvalidInput, NotFound


MAX_ITEMS_PER_TILE = 50  # items painted into one mosaic tile at most
MIN_ZOOM = 4  # below this, mosaic tiles are empty (a 204) without reading anything


def _colormaps() -> Any:
    """rio-tiler's colormaps (imported on first use: rio-tiler pulls in xarray and pandas,
    ~90 MB that a server answering only catalog requests never needs)."""
    from rio_tiler.colormap import cmap

    return cmap

ImageFormat = Literal["png", "jpeg", "webp", "tif"]
FORMATS: dict[str, tuple[str, str]] = {  # extension → (rio-tiler driver, media type)
    "png": ("PNG", "image/png"),
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
    "tif": ("GTiff", "image/tiff; application=geotiff"),
}
MAX_IMAGE_PX = 4096  # longest side of a preview, crop or tile
MAX_BANDS_OUT = 4
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode")


def image_format(ext: str | None, default: str = "png") -> tuple[str, str]:
    ext = (ext or default).lower().lstrip(".")
    if ext not in FORMATS:
        raise InvalidInput(
            f"unknown image format {ext!r}; use one of {', '.join(FORMATS)}", field="format"
        )
    return FORMATS[ext]


@functools.lru_cache(maxsize=32)  # parsed once; raised errors are not cached
def tile_matrix_set(tms_id: str) -> morecantile.TileMatrixSet:
    try:
        return morecantile.tms.get(tms_id)
    except morecantile.errors.InvalidIdentifier:
        raise NotFound(
            f"unknown TileMatrixSet {tms_id!r}; known: {', '.join(morecantile.tms.list())}"
        ) from None


def check_tile(tms: morecantile.TileMatrixSet, z: int, x: int, y: int) -> None:
    """InvalidInput (400) unless z/x/y address a tile of the matrix set."""
    if not tms.minzoom <= z <= tms.maxzoom:
        raise InvalidInput(f"zoom {z} outside {tms.minzoom}…{tms.maxzoom}", field="z")
    m = tms.matrix(z)
    if not (0 <= x < m.matrixWidth and 0 <= y < m.matrixHeight):
        raise InvalidInput(
            f"tile {z}/{x}/{y} outside the matrix ({m.matrixWidth}×{m.matrixHeight} at zoom {z})",
            field="x",
        )


def check_size(name: str, value: int | None, limit: int = MAX_IMAGE_PX) -> None:
    if value is not None and not 1 <= value <= limit:
        raise InvalidInput(f"{name} must be between 1 and {limit} px (got {value})", field=name)


@dataclass
class RenderParams:
    """How to turn pixels into an image. Empty means: the asset's bands as they are."""

    bidx: list[int] | None = None  # 1-based band indexes
    expression: str | None = None
    rescale: list[tuple[float, float]] | None = None
    colormap_name: str | None = None
    colormap: dict[int, tuple[int, int, int, int]] | None = None
    nodata: float | None = None
    resampling: str = "nearest"
    unscale: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        bidx: list[int] | None = None,
        expression: str | None = None,
        rescale: list[str] | None = None,
        colormap_name: str | None = None,
        colormap: str | None = None,
        nodata: str | None = None,
        resampling: str | None = None,
    ) -> RenderParams:
        p = cls(bidx=bidx or None, expression=expression or None)
        if bidx and len(bidx) > MAX_BANDS_OUT:
            raise InvalidInput(f"at most {MAX_BANDS_OUT} bands (bidx)", field="bidx")
        if bidx and any(b < 1 for b in bidx):
            raise InvalidInput("bidx are 1-based band numbers", field="bidx")
        if rescale:
            ranges = []
            for r in rescale:
                try:
                    lo, hi = (float(v) for v in r.split(","))
                except ValueError:
                    raise InvalidInput(
                        f"rescale {r!r} is not 'min,max'", field="rescale"
                    ) from None
                ranges.append((lo, hi))
            p.rescale = ranges
        if colormap_name:
            if colormap_name not in _colormaps().list():
                raise InvalidInput(
                    f"unknown colormap_name {colormap_name!r} (e.g. viridis, rdylgn, greys)",
                    field="colormap_name",
                )
            p.colormap_name = colormap_name
        if colormap:
            try:
                raw = json.loads(colormap)
                p.colormap = {int(k): tuple(int(c) for c in v) for k, v in raw.items()}  # type: ignore[misc]
            except (ValueError, TypeError, AttributeError):
                raise InvalidInput(
                    'colormap must be JSON like {"1": [255, 0, 0, 255]}', field="colormap"
                ) from None
        if nodata is not None and nodata != "":
            try:
                p.nodata = float(nodata)
            except ValueError:
                raise InvalidInput(f"nodata {nodata!r} is not a number", field="nodata") from None
        if resampling:
            if resampling not in RESAMPLING:
                raise InvalidInput(
                    f"resampling must be one of {', '.join(RESAMPLING)}", field="resampling"
                )
            p.resampling = resampling
        return p

    def cmap(self) -> Any:
        if self.colormap is not None:
            return self.colormap
        if self.colormap_name:
            return _colormaps().get(self.colormap_name)
        return None

    def read_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"resampling_method": self.resampling}
        if self.nodata is not None:
            kw["nodata"] = self.nodata
        if self.expression:
            kw["expression"] = self.expression
        elif self.bidx:
            kw["indexes"] = self.bidx
        return kw
