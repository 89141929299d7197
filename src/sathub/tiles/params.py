"""Rendering parameters (validated, framework-free) and their limits."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import morecantile

from sathub.errors import InvalidInput, NotFound
from sathub.tiles.limits import MAX_IMAGE_PX, RenderLimits

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
MAX_BANDS_OUT = 4
MAX_COLORMAP_ENTRIES = 1024
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


def _finite(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{field} {text[:40]!r} is not a number", field=field) from None
    if not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number, got {text[:40]!r}", field=field)
    return value


def parse_colormap(text: str) -> dict[int, tuple[int, int, int, int]]:
    """``{"value": [r, g, b, a]}`` with integer values and 0–255 components."""
    usage = 'colormap must be JSON like {"1": [255, 0, 0, 255]} (value: [r, g, b, a], 0-255)'
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput(usage, field="colormap") from None
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(usage, field="colormap")
    if len(raw) > MAX_COLORMAP_ENTRIES:
        raise InvalidInput(f"colormap has more than {MAX_COLORMAP_ENTRIES} entries", field="colormap")
    out: dict[int, tuple[int, int, int, int]] = {}
    for k, v in raw.items():
        try:
            key = int(k)
        except ValueError:
            raise InvalidInput(f"colormap key {k[:40]!r} is not an integer; {usage}",
                               field="colormap") from None  # fmt: skip
        if not -(2**31) <= key < 2**32:
            raise InvalidInput(f"colormap key {k[:40]!r} is out of range", field="colormap")
        if (not isinstance(v, list) or len(v) != 4
                or not all(type(c) is int and 0 <= c <= 255 for c in v)):  # fmt: skip
            raise InvalidInput(f"colormap entry {k[:40]!r}: {str(v)[:40]} is not [r, g, b, a]; "
                               + usage, field="colormap")  # fmt: skip
        out[key] = (v[0], v[1], v[2], v[3])
    return out


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
    limits: RenderLimits = field(default_factory=RenderLimits)

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
        limits: RenderLimits | None = None,
    ) -> RenderParams:
        p = cls(bidx=bidx or None, expression=expression or None, limits=limits or RenderLimits())
        if expression:
            from sathub.tiles.expression import check_limits

            check_limits(expression, p.limits)
        if bidx and len(bidx) > MAX_BANDS_OUT:
            raise InvalidInput(f"at most {MAX_BANDS_OUT} bands (bidx)", field="bidx")
        if bidx and any(b < 1 for b in bidx):
            raise InvalidInput("bidx are 1-based band numbers", field="bidx")
        if rescale:
            ranges = []
            if len(rescale) > max(MAX_BANDS_OUT, p.limits.max_expression_outputs):
                raise InvalidInput("more rescale ranges than output bands", field="rescale")
            for r in rescale:
                parts = r.split(",")
                if len(parts) != 2:
                    raise InvalidInput(f"rescale {r[:40]!r} is not 'min,max'", field="rescale")
                lo, hi = (_finite(v, "rescale") for v in parts)
                if not lo < hi:
                    raise InvalidInput(f"rescale {r[:40]!r}: min must be less than max",
                                       field="rescale")  # fmt: skip
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
            p.colormap = parse_colormap(colormap)
        if nodata is not None and nodata != "":
            p.nodata = _finite(nodata, "nodata")
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
