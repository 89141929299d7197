"""Lossless Cloud-Optimized GeoTIFFs with rio-cogeo, validated, and file checksums.

Every pixel of the source is kept: same dtype, no resampling of the full-resolution image,
lossless DEFLATE or ZSTD with the predictor that suits the dtype (2 for integers, 3 for
floats), nodata and per-dataset masks carried over. Overviews (nearest) are extra data.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rio_cogeo.cogeo import cog_translate, cog_validate

from sathub.errors import IngestError

Compression = Literal["deflate", "zstd"]

GDAL_CONFIG = {
    "GDAL_TIFF_INTERNAL_MASK": True,
    "GDAL_TIFF_OVR_BLOCKSIZE": "512",
    # Bounds RAM on large scenes. In BYTES: rasterio.Env hands an integer GDAL_CACHEMAX to
    # GDALSetCacheMax64, which takes bytes (``256`` meant a 256-byte cache: every block read
    # decoded its tile again, building overviews and every later read of the COG in the same
    # process crawled). rasterio does not restore the cache size on leaving the Env while a
    # dataset is open, so this value stays the process's cache afterwards.
    "GDAL_CACHEMAX": 256 * 2**20,
}


@dataclass(frozen=True)
class CogResult:
    path: Path
    size: int
    checksum: str  # multihash sha2-256, hex


def cog_profile(
    dtype: str, compression: Compression = "deflate", blocksize: int = 512
) -> dict[str, object]:
    predictor = 3 if np.issubdtype(np.dtype(dtype), np.floating) else 2
    return {
        "driver": "GTiff",
        "interleave": "pixel",
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "compress": compression.upper(),
        "predictor": predictor,
        "BIGTIFF": "IF_SAFER",
    }


def write_cog(
    src_path: Path,
    dst_path: Path,
    *,
    nodata: float | None = None,
    compression: Compression = "deflate",
    threads: int = 1,
) -> CogResult:
    """Write ``src_path`` as a validated lossless COG at ``dst_path``; returns size/checksum.

    ``threads``: GDAL threads for compressing (and decompressing) blocks; the file written is
    byte for byte the same whatever the number.

    ``nodata`` is written as the COG's nodata value, replacing the source's (pixel values are
    not changed: pixels equal to it become nodata for every GDAL reader).
    Raises IngestError naming the source on any GDAL failure or an invalid result.
    """
    try:
        with rasterio.open(src_path) as src:
            dtype = src.dtypes[0]
            if len(set(src.dtypes)) != 1:
                raise IngestError(f"{src_path}: bands of different data types are not supported")
            flags = src.mask_flag_enums
            has_mask = (
                src.nodata is None
                and nodata is None
                and any(MaskFlags.per_dataset in f and MaskFlags.alpha not in f for f in flags)
            )
            source: Any = src
            if src.gcps[1] is not None and not src.gcps[0]:
                # JPEG2000 files report a GCP CRS with no GCPs, which rio-cogeo takes for a
                # GCP-georeferenced raster; an identity VRT on the same grid hides it.
                source = WarpedVRT(
                    src,
                    crs=src.crs,
                    transform=src.transform,
                    width=src.width,
                    height=src.height,
                    resampling=Resampling.nearest,
                )
            cog_translate(
                source,
                dst_path,
                cog_profile(dtype, compression),
                nodata=nodata,
                add_mask=has_mask,
                overview_resampling="nearest",
                config={**GDAL_CONFIG, "GDAL_NUM_THREADS": str(max(1, threads))},
                quiet=True,
                in_memory=False,
            )
    except IngestError:
        raise
    except Exception as exc:  # GDAL reports failures as several exception types
        raise IngestError(f"{src_path}: {_explain(exc)}") from exc
    valid, errors, _warnings = cog_validate(dst_path, strict=False, quiet=True)
    if not valid:
        raise IngestError(f"{src_path}: the COG written is invalid: {'; '.join(errors)}")
    return CogResult(path=dst_path, size=dst_path.stat().st_size, checksum=file_checksum(dst_path))


def _explain(exc: BaseException) -> str:
    """Say whether GDAL failed reading the source or writing the output (disk full)."""
    texts: list[str] = []
    e: BaseException | None = exc
    while e is not None:
        texts.append(str(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return f"disk full while writing the COG ({e.strerror})"
        e = e.__cause__ or e.__context__
    text = " | ".join(t for t in texts if t)
    low = text.lower()
    if "no space" in low or "file too large" in low or "free disk space" in low:
        return f"disk full while writing the COG ({text})"
    if "write" in low and "read" not in low:
        return f"cannot write the COG ({text})"
    return f"cannot read raster data, corrupt or truncated file? ({text})"


def file_checksum(path: Path, chunk: int = 4 << 20) -> str:
    """Multihash (sha2-256, code 0x12, length 0x20) of a file, as hex — the file extension's
    ``file:checksum`` format."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return "1220" + h.hexdigest()
