"""Quick-look PNGs: true colour when the scene has red, green and blue bands, else the first
band in grey; stretched between the 2nd and 98th percentiles of the valid pixels."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning

from sathub.ingest.readers.base import SceneFile

THUMB_SIZE = 256


def _pick(files: list[tuple[Path, SceneFile]]) -> list[tuple[Path, int]]:
    by_common: dict[str, tuple[Path, int]] = {}
    for path, sf in files:
        for i, b in enumerate(sf.bands, start=1):
            if b.common_name and b.common_name not in by_common:
                by_common[b.common_name] = (path, i)
    if all(c in by_common for c in ("red", "green", "blue")):
        return [by_common["red"], by_common["green"], by_common["blue"]]
    return [(files[0][0], 1)]


def write_thumbnail(files: list[tuple[Path, SceneFile]], dst: Path, size: int = THUMB_SIZE) -> Path:
    """Render a PNG of at most ``size`` px from written COGs (read via their overviews)."""
    picks = _pick(files)
    with rasterio.open(picks[0][0]) as ref:
        f = max(1.0, max(ref.width, ref.height) / size)
        h, w = max(1, round(ref.height / f)), max(1, round(ref.width / f))
    planes, valid = [], np.ones((h, w), dtype=bool)
    for path, idx in picks:
        with rasterio.open(path) as src:
            a = src.read(idx, out_shape=(h, w), masked=True, resampling=Resampling.nearest)
        a = np.ma.masked_invalid(a.astype(np.float64))
        valid &= ~np.ma.getmaskarray(a)
        planes.append(a)
    out = np.zeros((len(planes) + 1, h, w), dtype=np.uint8)
    for i, a in enumerate(planes):
        vals = a.compressed()
        if vals.size:
            lo, hi = np.percentile(vals, [2, 98])
            scaled = (a.filled(lo) - lo) / max(hi - lo, 1e-12)
            out[i] = np.clip(scaled * 255, 0, 255).astype(np.uint8)
    out[-1] = np.where(valid, 255, 0)
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            dst, "w", driver="PNG", width=w, height=h, count=out.shape[0], dtype="uint8"
        ) as d:
            d.write(out)
    return dst
