"""Scene readers, one module per input format, tried in order (most specific first).

A third-party format registers the same way as the built-ins: append an object that
implements :class:`~sathub.ingest.readers.base.SceneReader` to :data:`READERS`.
"""

from __future__ import annotations

from pathlib import Path

from sathub.errors import SathubError
from sathub.ingest.readers.base import BandInfo, Scene, SceneFile, SceneReader
from sathub.ingest.readers.gdal import RASTER_SUFFIXES, GdalReader
from sathub.ingest.readers.landsat import LandsatReader
from sathub.ingest.readers.netcdf import NetcdfReader
from sathub.ingest.readers.sentinel2 import Sentinel2Reader
from sathub.ingest.readers.sidecar import SIDECAR_SUFFIX

READERS: list[SceneReader] = [Sentinel2Reader(), LandsatReader(), NetcdfReader(), GdalReader()]

__all__ = ["READERS", "BandInfo", "Scene", "SceneFile", "SceneReader", "discover", "reader_by_name"]


def reader_by_name(name: str) -> SceneReader:
    for r in READERS:
        if r.name == name:
            return r
    raise KeyError(name)


def _candidates(path: Path) -> list[Path]:
    """Files worth offering to the readers: explicit files as given, directories walked."""
    if not path.is_dir():
        return [path]
    if path.name.endswith(".SAFE"):
        return [path]
    out = []
    for p in sorted(path.rglob("*")):
        if any(part.endswith(".SAFE") for part in p.relative_to(path).parts[:-1]):
            continue
        if (
            p.is_dir()
            and p.name.endswith(".SAFE")
            or p.is_file()
            and (
                p.suffix.lower() in RASTER_SUFFIXES
                or p.name.endswith(("_MTL.txt", "_MTL.json", SIDECAR_SUFFIX))
            )
        ):
            out.append(p)
    return out


def discover(paths: list[Path]) -> list[tuple[SceneReader, Path]]:
    """Group input paths into scenes: (reader, scene root), each scene once, input order.

    Band files that belong to a Landsat MTL, a SAFE product or a multi-file sidecar are
    folded into their scene; a sidecar beside a raster belongs to that raster.
    """
    seen: set[Path] = set()
    claimed: set[Path] = set()
    out: list[tuple[SceneReader, Path]] = []
    cands = [c for p in paths for c in _candidates(Path(p))]
    # sidecars that list their band files claim those files first
    for c in cands:
        if c.name.endswith(SIDECAR_SUFFIX):
            raster = c.with_name(c.name.removesuffix(SIDECAR_SUFFIX))
            if raster.exists():
                continue  # sidecar of a raster, read with it
            from sathub.ingest.readers.sidecar import load_sidecar

            try:
                sc = load_sidecar(c)
            except SathubError:
                continue  # reported when the sidecar itself is read as a scene
            claimed.update(sc.band_files or [])
    for c in cands:
        if c.resolve() in claimed:
            continue
        if (
            c.name.endswith(SIDECAR_SUFFIX)
            and c.with_name(c.name.removesuffix(SIDECAR_SUFFIX)).exists()
        ):
            continue
        for reader in READERS:
            root = reader.identify(c)
            if root is None:
                continue
            key = root.resolve()
            if key not in seen:
                seen.add(key)
                out.append((reader, root))
            break
        else:
            out.append((READERS[-1], c))  # the fallback reports why it cannot be read
    return out
