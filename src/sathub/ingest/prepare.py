"""Turn one described scene into staged files + its STAC item (runs in a worker process).

Nothing here touches the catalog or ``assets/``: everything is written inside the scene's own
staging directory, so a failure or a kill leaves at worst a staging directory to clean.
"""

from __future__ import annotations

import errno
import hashlib
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from sathub.errors import IngestError
from sathub.ingest.cog import Compression, file_checksum, write_cog
from sathub.ingest.footprint import footprint
from sathub.ingest.metadata import COG_TYPE, BuiltAsset, build_item
from sathub.ingest.rasterinfo import analyse, grid_of, union_mask
from sathub.ingest.readers.base import Scene
from sathub.ingest.thumbnail import write_thumbnail

_META_TYPES = {".json": "application/json", ".xml": "application/xml", ".txt": "text/plain"}


@dataclass
class Prepared:
    """A scene ready to commit: staged files and where each goes under ``assets/``."""

    scene_id: str
    collection_id: str
    item: dict[str, Any]
    staging_dir: Path
    moves: list[tuple[Path, str]]  # (staged file, path relative to assets root)


def _check_space(scene: Scene, staging_dir: Path) -> None:
    """Refuse up front when the staging disk cannot hold rio-cogeo's intermediate file
    (about the uncompressed size of the largest file) plus the COGs (≤ sources)."""
    sources = sum(p.stat().st_size for p in scene.source_paths if p.is_file())
    raw = 0
    for sf in scene.files:
        with rasterio.open(sf.path) as src:
            raw = max(raw, src.width * src.height * src.count * np.dtype(src.dtypes[0]).itemsize)
    need = int(1.1 * (sources + raw))
    free = shutil.disk_usage(staging_dir).free
    if free < need:
        raise IngestError(
            f"{scene.files[0].path}: not enough disk space in {staging_dir} "
            f"({free / 1e6:.0f} MB free, about {need / 1e6:.0f} MB needed)"
        )


def file_nodata(path: Path, declared: list[float | None]) -> float | None:
    """The nodata value to write into the COG of one file: the value the bands declare
    (sidecar, product metadata), which replaces the file's own; None keeps the file's.
    A GeoTIFF has one nodata value per file, so bands that declare different ones are an
    error rather than a silent choice."""
    values = [v for v in declared if v is not None]
    if not values:
        return None
    first = values[0]
    same = all((math.isnan(v) and math.isnan(first)) or v == first for v in values)
    if not same:
        shown = ", ".join(sorted({repr(v) for v in values}))
        raise IngestError(
            f"{path}: its bands declare different nodata values ({shown}); a GeoTIFF has one "
            "nodata value per file: declare one value for every band"
        )
    return first


def prepare_scene(
    scene: Scene,
    collection_id: str,
    staging_dir: Path,
    compression: Compression = "deflate",
    threads: int = 1,
) -> Prepared:
    """Write COGs, thumbnail and metadata copies into ``staging_dir``; build the item.
    ``threads``: GDAL threads for each COG's compression (see :func:`write_cog`)."""
    _check_space(scene, staging_dir)
    built: list[BuiltAsset] = []
    staged: list[tuple[Path, BuiltAsset]] = []
    masks: list[tuple[Any, Any]] = []
    try:
        for sf in scene.files:
            dst = staging_dir / f"{sf.asset_key}.tif"
            override = file_nodata(sf.path, [b.nodata for b in sf.bands])
            res = write_cog(sf.path, dst, nodata=override, compression=compression, threads=threads)
            stats, mask, mtransform = analyse(dst)
            masks.append((mask, mtransform))
            a = BuiltAsset(
                key=sf.asset_key,
                href="",
                size=res.size,
                checksum=res.checksum,
                media_type=COG_TYPE,
                roles=list(sf.roles),
                title=sf.title,
                bands=sf.bands,
                raster_bands=stats,
                grid=grid_of(dst),
            )
            if len(a.raster_bands) != len(sf.bands):
                raise IngestError(
                    f"{sf.path}: has {len(a.raster_bands)} bands, "
                    f"metadata describes {len(sf.bands)}"
                )
            built.append(a)
            staged.append((dst, a))
        cogs = [p for p, _ in staged]
        try:
            mask, transform = union_mask(masks)
            geometry, bbox = footprint(mask, transform, built[0].grid.crs_wkt)  # type: ignore[union-attr]
        except IngestError as exc:
            raise IngestError(f"{scene.files[0].path}: {exc.message}") from exc
        thumb = write_thumbnail(list(zip(cogs, scene.files)), staging_dir / "thumbnail.png")
        t = BuiltAsset(
            key="thumbnail",
            href="",
            size=thumb.stat().st_size,
            checksum=file_checksum(thumb),
            media_type="image/png",
            roles=["thumbnail"],
            title="Thumbnail",
        )
        built.append(t)
        staged.append((thumb, t))
        for key, src in scene.metadata_files.items():
            dst = staging_dir / src.name
            shutil.copyfile(src, dst)
            m = BuiltAsset(
                key=key,
                href="",
                size=dst.stat().st_size,
                checksum=file_checksum(dst),
                media_type=_META_TYPES.get(src.suffix.lower(), "text/plain"),
                roles=["metadata"],
                title=src.name,
            )
            built.append(m)
            staged.append((dst, m))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise IngestError(
                f"{scene.files[0].path}: disk full while writing to {staging_dir} ({exc.strerror})"
            ) from exc
        raise IngestError(f"{scene.files[0].path}: {exc}") from exc
    # content-addressed version directory: a replacement never overwrites live files
    version = hashlib.sha256("".join(a.checksum for a in built).encode()).hexdigest()[:12]
    moves: list[tuple[Path, str]] = []
    for path, a in staged:
        a.href = f"{collection_id}/{scene.id}/{version}/{path.name}"
        moves.append((path, a.href))
    item = build_item(scene, collection_id, built, geometry, bbox)
    return Prepared(
        scene_id=scene.id,
        collection_id=collection_id,
        item=item,
        staging_dir=staging_dir,
        moves=moves,
    )
