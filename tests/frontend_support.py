"""Fixtures for the rendering-default, landing-page and browser tests: the real rasters of
../shared/data/imagery ingested into a data directory, and pixel helpers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from test_ingest_support import copy_real_imagery

from sathub.config import Settings

CID = "real"
EIGHT_BIT = "RGB.byte"  # 3-band uint8 (Landsat 7 RGB), true colour from its sidecar
SIXTEEN_BIT = "sen2_20210527_aber_subset"  # uint16 Sentinel-2 surface reflectance, no band names
PER_BAND = "LT52240631988227CUB02"  # Landsat 5 TM, one uint8 file per band
FLOAT_PER_BAND = "LC80130312015295LGN00_toa"  # Landsat 8 TOA, one float32 file per band
FLOAT = "sen2_20210527_aber_subset_ndvi_ref"  # float32 NDVI


def ingest_real(base: Path) -> dict[str, Any]:
    """Every real raster ingested into collection ``CID`` of ``base/data``."""
    from sathub.app import Installation
    from sathub.ingest.pipeline import ingest_paths

    src = copy_real_imagery(base / "in")
    settings = Settings(data=base / "data")
    inst = Installation.create(settings)  # the backends are built by the Installation only
    store = inst.catalog
    report = ingest_paths([src], CID, settings, store, inst.objects)
    assert report.ok, [o.message for o in report.failed]
    items = {it["id"]: it for it in store.iter_items(CID)}
    inst.close()
    return {"settings": settings, "items": items, "data": base / "data"}


def decode_png(content: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(RGB as a browser shows it: 8 bits per channel, valid mask) of a PNG tile. 16-bit
    PNGs are scaled to 8 bits the way browsers do (value / 257)."""
    import rasterio
    from rasterio.io import MemoryFile

    with MemoryFile(io.BytesIO(content)) as mem, mem.open() as ds, np.errstate(all="ignore"):
        arr = ds.read()
        count = ds.count
        assert isinstance(ds, rasterio.io.DatasetReader)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 257.0).round().astype(np.uint8)
    if count in (2, 4):  # grey + alpha or RGB + alpha
        colour, alpha = arr[:-1], arr[-1] > 0
    else:
        colour, alpha = arr, np.ones(arr.shape[1:], bool)
    if colour.shape[0] == 1:
        colour = np.repeat(colour, 3, axis=0)
    return np.moveaxis(colour, 0, -1), alpha


def brightness(rgb: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """(mean of the channel mean over valid pixels, fraction of valid pixels that are black:
    every channel below 8)."""
    px = rgb[valid].astype(np.float64)
    if not len(px):
        return 0.0, 1.0
    return float(px.mean()), float((px < 8).all(axis=1).mean())
