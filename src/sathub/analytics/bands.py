"""From a STAC item to reflectance arrays: band resolution, scale/offset, reading on a grid.

Band resolution
    A band is found by its ``eo:bands`` ``common_name`` (asset-level ``eo:bands`` first, then
    the item's when it has a single multi-band data asset); ``nir`` falls back to ``nir08``
    (see :data:`sathub.analytics.indices.ALIASES`). A band *name* (``B04``) also matches.

Scale and offset (physical = DN × scale + offset)
    Taken from the asset's ``raster:bands`` (what ingest records: surface or top-of-atmosphere
    reflectance). A band whose ``unit`` is a radiance or a temperature is refused
    (:class:`MissingBand`): indices and masks need reflectance. When a Sentinel-2 item
    has no ``raster:bands`` ``scale`` it is 1 / ``s2:quantification_value`` (default
    10 000). When its ``s2:processing_baseline`` is ≥ 04.00 and ``raster:bands`` gives no
    ``offset``, the ESA ``BOA_ADD_OFFSET`` applies: ``s2:dn_offsets[band]`` when present,
    else −1000 DN (the value ESA uses), times the scale. An explicit ``offset`` (even 0) always
    wins, so an offset is never applied twice.

Reading
    :func:`read_band` returns float32 reflectance with NaN for nodata, on any target
    :class:`Grid`: a window read when the grid is aligned with the file, else a warp
    (bilinear for reflectance, nearest for masks — see :func:`read_raw`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from sathub.analytics.errors import MissingBand
from sathub.analytics.indices import ALIASES
from sathub.ingest.hrefs import asset_path

S2_DEFAULT_DN_OFFSET = -1000.0
"""BOA_ADD_OFFSET of Sentinel-2 L2A (RADIO_ADD_OFFSET of L1C) from baseline 04.00 on."""


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform (north-up), size in pixels."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def res_m(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        x0, y0 = t.c, t.f
        x1, y1 = x0 + t.a * self.width, y0 + t.e * self.height
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def crop(self, bounds: tuple[float, float, float, float]) -> Grid | None:
        """The sub-grid (snapped outwards to whole pixels) covering ``bounds`` in this CRS,
        clipped to the grid; None when they do not overlap."""
        t = self.transform
        inv = ~t
        cols, rows = zip(
            *(inv @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3]))
        )
        c0 = max(0, int(np.floor(min(cols) + 1e-9)))
        r0 = max(0, int(np.floor(min(rows) + 1e-9)))
        c1 = min(self.width, int(np.ceil(max(cols) - 1e-9)))
        r1 = min(self.height, int(np.ceil(max(rows) - 1e-9)))
        if c1 <= c0 or r1 <= r0:
            return None
        return Grid(self.crs, t @ Affine.translation(c0, r0), c1 - c0, r1 - r0)


@dataclass(frozen=True)
class BandRef:
    """Where one band of one item lives and how to turn its DN into reflectance."""

    common_name: str
    name: str
    asset_key: str
    href: str
    index: int  # 1-based band index in the asset's file
    scale: float
    offset: float
    nodata: float | None


def _baseline(props: dict[str, Any]) -> float | None:
    raw = props.get("s2:processing_baseline")
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _is_sentinel2(item: dict[str, Any]) -> bool:
    p = item.get("properties", {})
    return str(p.get("constellation", "")).lower() == "sentinel-2" or any(
        k.startswith("s2:") for k in p
    )


def scale_offset(
    item: dict[str, Any], band_name: str, raster_band: dict[str, Any]
) -> tuple[float, float]:
    """(scale, offset) for one band, with the Sentinel-2 baseline ≥ 04.00 rule above."""
    props = item.get("properties", {})
    s2 = _is_sentinel2(item)
    scale = raster_band.get("scale")
    if scale is None:
        scale = 1.0 / float(props.get("s2:quantification_value", 10000)) if s2 else 1.0
    offset = raster_band.get("offset")
    if offset is None:
        offset = 0.0
        baseline = _baseline(props)
        if s2 and baseline is not None and baseline >= 4.0:
            dn_offsets = props.get("s2:dn_offsets") or {}
            offset = float(dn_offsets.get(band_name, S2_DEFAULT_DN_OFFSET)) * float(scale)
    return float(scale), float(offset)


def _data_assets(item: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(key, asset, eo:bands) of every asset that carries bands."""
    out = []
    item_bands = item.get("properties", {}).get("eo:bands") or []
    for key, asset in item.get("assets", {}).items():
        roles = asset.get("roles") or []
        if "thumbnail" in roles or "metadata" in roles or "overview" in roles:
            continue
        bands = asset.get("eo:bands")
        if bands is None and len(asset.get("raster:bands") or []) == len(item_bands) > 0:
            bands = item_bands
        if bands:
            out.append((key, asset, bands))
    return out


def resolve_band(item: dict[str, Any], want: str) -> BandRef:
    """The band of ``item`` with common name (or name) ``want``; raises MissingBand."""
    candidates = ALIASES.get(want, (want,))
    assets = _data_assets(item)
    for cand in candidates:
        for key, asset, bands in assets:
            for i, b in enumerate(bands):
                if b.get("common_name") == cand or b.get("name") == cand:
                    rbands = asset.get("raster:bands") or []
                    rb = rbands[i] if i < len(rbands) else {}
                    _check_reflectance(item, b.get("name", key), rb)
                    scale, offset = scale_offset(item, b.get("name", key), rb)
                    return BandRef(
                        common_name=want,
                        name=b.get("name", key),
                        asset_key=key,
                        href=asset["href"],
                        index=i + 1,
                        scale=scale,
                        offset=offset,
                        nodata=rb.get("nodata"),
                    )
    have = sorted({str(b.get("common_name") or b.get("name")) for _, _, bs in assets for b in bs})
    raise MissingBand(
        f"item {item.get('id')!r} has no {want!r} band (has: {', '.join(map(str, have)) or 'none'})",
        field="index",
    )


def _check_reflectance(item: dict[str, Any], name: str, raster_band: dict[str, Any]) -> None:
    """Refuse a band whose recorded unit says it is not reflectance (radiance, temperature)."""
    unit = str(raster_band.get("unit") or "").strip().lower()
    if not unit:
        return
    if any(t in unit for t in ("w/", "w m", "watt", "sr")) or unit in (
        "k", "kelvin", "celsius", "degc", "°c",
    ):  # fmt: skip
        kind = "radiance" if ("w" in unit or "sr" in unit) else "temperature"
        raise MissingBand(
            f"band {name!r} of item {item.get('id')!r} holds {kind} ({raster_band['unit']}), "
            "not reflectance; re-ingest the scene (sathub ingest --replace) to record its "
            "top-of-atmosphere reflectance",
            field="index",
        )


def mask_asset(item: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, asset key) of a cloud mask asset: ``scl`` (Sentinel-2 SCL) or ``qa_pixel``
    (Landsat Collection 2), or None."""
    for key in item.get("assets", {}):
        k = key.lower()
        if k == "scl":
            return "scl", key
        if k in ("qa_pixel", "qa"):
            return "qa_pixel", key
    return None


def local_path(href: str, assets_root: Path) -> str:
    """A path or URL GDAL can open for an asset href (relative hrefs are under assets/)."""
    p = asset_path(assets_root, href)
    if p is not None:
        return str(p)
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    return href


def file_grid(path: str) -> Grid:
    with rasterio.open(path) as src:
        return Grid(src.crs, src.transform, src.width, src.height)


def _aligned(src: Any, grid: Grid) -> Window | None:
    """The window of ``src`` equal to ``grid`` when both share CRS, resolution and pixel
    phase; None when a warp is needed."""
    if src.crs != grid.crs:
        return None
    a, b = src.transform, grid.transform
    if not (np.isclose(a.a, b.a) and np.isclose(a.e, b.e) and a.b == 0 and a.d == 0):
        return None
    col = (b.c - a.c) / a.a
    row = (b.f - a.f) / a.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return Window(round(col), round(row), grid.width, grid.height)


def read_raw(
    path: str,
    index: int | list[int],
    grid: Grid,
    *,
    resampling: Resampling = Resampling.nearest,
    nodata: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid mask) of band ``index`` (or bands, stacked) of ``path`` on ``grid``.
    Pixels outside the file are invalid. Several bands of one file are read in one pass
    (one decompression of each block)."""
    with rasterio.open(path) as src:
        nd = nodata if nodata is not None else src.nodata
        win = _aligned(src, grid)
        if win is not None:
            inside = (
                win.col_off >= 0
                and win.row_off >= 0
                and win.col_off + win.width <= src.width
                and win.row_off + win.height <= src.height
            )
            if inside:
                data = src.read(index, window=win)
                valid = np.ones(data.shape, bool)
            else:
                data = src.read(index, window=win, boundless=True, fill_value=0)
                valid = src.read_masks(index, window=win, boundless=True) > 0
        else:
            with WarpedVRT(
                src,
                crs=grid.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=resampling,
                src_nodata=nd,
                nodata=nd,
                add_alpha=nd is None,
            ) as vrt:
                data = vrt.read(index)
                valid = vrt.read_masks(index) > 0
        if nd is not None:
            valid &= data != nd
            if np.isnan(nd):
                valid &= ~np.isnan(data)
    return data, valid


def _reflectance(dn: np.ndarray, valid: np.ndarray, ref: BandRef) -> np.ndarray:
    out = dn.astype(np.float32) * np.float32(ref.scale) + np.float32(ref.offset)
    out[~valid] = np.nan
    return out


def read_band(
    ref: BandRef,
    assets_root: Path,
    grid: Grid,
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Reflectance (float32, NaN where nodata or outside the file) of ``ref`` on ``grid``."""
    dn, valid = read_raw(
        local_path(ref.href, assets_root), ref.index, grid, resampling=resampling, nodata=ref.nodata
    )
    return _reflectance(dn, valid, ref)


def read_bands(
    refs: dict[str, BandRef],
    assets_root: Path,
    grid: Grid,
    resampling: Resampling = Resampling.bilinear,
) -> dict[str, np.ndarray]:
    """:func:`read_band` for several bands, one read per file."""
    by_file: dict[tuple[str, float | None], list[str]] = {}
    for name, ref in refs.items():
        by_file.setdefault((ref.href, ref.nodata), []).append(name)
    out: dict[str, np.ndarray] = {}
    for (href, nodata), names in by_file.items():
        idx = [refs[n].index for n in names]
        dn, valid = read_raw(
            local_path(href, assets_root), idx, grid, resampling=resampling, nodata=nodata
        )
        for k, n in enumerate(names):
            out[n] = _reflectance(dn[k], valid[k], refs[n])
    return out


def band_grid(item: dict[str, Any], ref: BandRef, assets_root: Path) -> Grid:
    """The native grid of a band, from ``proj:*`` (asset, then item) or the file."""
    asset = item["assets"][ref.asset_key]
    props = item.get("properties", {})
    shape = asset.get("proj:shape") or props.get("proj:shape")
    tr = asset.get("proj:transform") or props.get("proj:transform")
    code = asset.get("proj:code") or props.get("proj:code")
    if code is None and (asset.get("proj:epsg") or props.get("proj:epsg")):
        code = f"EPSG:{asset.get('proj:epsg') or props.get('proj:epsg')}"
    wkt = asset.get("proj:wkt2") or props.get("proj:wkt2")
    if shape and tr and (code or wkt):
        crs = CRS.from_user_input(code or wkt)
        return Grid(crs, Affine(*tr[:6]), int(shape[1]), int(shape[0]))
    return file_grid(local_path(ref.href, assets_root))
