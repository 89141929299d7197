"""Any raster GDAL opens (GeoTIFF, JPEG2000, …): one multi-band file, or one file per band
listed in a sidecar. Metadata comes from the optional sidecar, then the file name."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.transform import Affine

from sathub.errors import IngestError
from sathub.ingest.readers.base import BandInfo, Scene, SceneFile, safe_id
from sathub.ingest.readers.sidecar import SIDECAR_SUFFIX, Sidecar, load_sidecar, sidecar_for

RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".j2k", ".img", ".vrt", ".nc", ".hdf", ".kea"}

_DATE8 = re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
# pre-collection scene id: L + sensor (C/O/T/E/M) + satellite (1 digit) + WRS path (3) + row (3)
# + year (4) + day of year (3) + ground station (3 letters) + archive version (2 digits)
_LANDSAT_PRE = re.compile(
    r"(?<![A-Za-z0-9])L[COTEM]\d(\d{3})(\d{3})(\d{4})(\d{3})[A-Z]{3}\d{2}(?![0-9])"
)


def date_from_name(name: str) -> datetime | None:
    """A date in a file name: a Landsat pre-collection id (year + day of year) or YYYYMMDD."""
    m = _LANDSAT_PRE.search(name)
    if m:
        year, doy = int(m.group(3)), int(m.group(4))
        if 1972 <= year <= 2100 and 1 <= doy <= (366 if year % 4 == 0 else 365):
            return datetime.strptime(f"{year} {doy}", "%Y %j").replace(tzinfo=UTC)
    m = _DATE8.search(name)
    if m:
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=UTC)
    return None


def check_raster(path: Path, *, subdataset: bool = False) -> tuple[int, str]:
    """Open ``path`` and check it is a georeferenced raster; returns (band count, dtype).
    ``subdataset``: ``path`` is a GDAL subdataset name (``netcdf:/file.nc:var``), not a file."""
    if not subdataset and not path.is_file():
        raise IngestError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            count = src.count
            if count == 0 and src.subdatasets:
                names = ", ".join(sd.rsplit(":", 1)[-1] for sd in src.subdatasets)
                raise IngestError(f"{path}: a container of subdatasets ({names}), not a raster")
            if src.width == 0 or src.height == 0 or count == 0:
                raise IngestError(f"{path}: raster has no pixels")
            dtype = src.dtypes[0]
            crs, transform, gcps = src.crs, src.transform, src.gcps[0]
    except RasterioIOError as exc:
        raise IngestError(f"{path}: not a raster GDAL can read ({exc})") from exc
    if crs is None:
        if gcps:
            raise IngestError(f"{path}: georeferenced by GCPs only; warp it first (gdalwarp)")
        raise IngestError(f"{path}: raster has no georeferencing (no CRS)")
    if transform == Affine.identity():
        raise IngestError(f"{path}: raster has no geotransform (no georeferencing)")
    try:
        from pyproj import CRS, Transformer

        Transformer.from_crs(CRS.from_user_input(crs.to_wkt()), CRS.from_epsg(4326), always_xy=True)
        if not (crs.is_geographic or crs.is_projected):
            raise ValueError("neither geographic nor projected")
    except Exception as exc:  # pyproj raises several types for unusable CRSs
        raise IngestError(f"{path}: unknown or unusable CRS ({exc})") from exc
    return count, dtype


def apply_sidecar_bands(path: Path, count: int, sc: Sidecar | None) -> list[BandInfo]:
    """Band descriptions for a file with ``count`` bands; the sidecar must agree on count."""
    if sc is None or sc.bands is None:
        bands = [BandInfo(name=f"b{i + 1}") for i in range(count)]
    else:
        if len(sc.bands) != count:
            raise IngestError(
                f"{path}: file has {count} band(s) but sidecar {sc.path.name} "
                f"describes {len(sc.bands)}"
            )
        bands = sc.bands
    if sc is not None:
        for b in bands:
            b.scale = b.scale if b.scale is not None else sc.scale
            b.offset = b.offset if b.offset is not None else sc.offset
            b.nodata = b.nodata if b.nodata is not None else sc.nodata
    return bands


class GdalReader:
    """Fallback reader: any single raster, or a sidecar listing one file per band."""

    name = "gdal"

    def identify(self, path: Path) -> Path | None:
        if path.name.endswith(SIDECAR_SUFFIX):
            return path  # a standalone sidecar naming its band files
        return path if path.is_file() else None

    def read(self, root: Path, sidecar: Path | None = None) -> Scene:
        if root.name.endswith(SIDECAR_SUFFIX):
            sc = load_sidecar(root)
            if not sc.band_files:
                raise IngestError(f"{root}: a standalone sidecar must give each band a 'file'")
            return self._multi_file(root, sc)
        sc_path = sidecar or sidecar_for(root)
        side = load_sidecar(sc_path) if sc_path else None
        if side is not None and side.band_files:
            return self._multi_file(side.path, side)
        count, _ = check_raster(root)
        bands = apply_sidecar_bands(root, count, side)
        files = [SceneFile(path=root, asset_key="data", bands=bands, title=root.name)]
        return self._scene(root, side, files)

    def _multi_file(self, root: Path, sc: Sidecar) -> Scene:
        assert sc.bands is not None and sc.band_files is not None
        files = []
        for band, path in zip(sc.bands, sc.band_files, strict=True):
            count, _ = check_raster(path)
            if count != 1:
                raise IngestError(
                    f"{path}: sidecar {sc.path.name} lists it as one band, but it has {count}"
                )
            (band,) = apply_sidecar_bands(
                path,
                1,
                Sidecar(
                    path=sc.path, bands=[band], scale=sc.scale, offset=sc.offset, nodata=sc.nodata
                ),
            )
            files.append(
                SceneFile(path=path, asset_key=safe_id(band.name), bands=[band], title=path.name)
            )
        return self._scene(root, sc, files)

    def _scene(
        self, root: Path, sc: Sidecar | None, files: list[SceneFile],
        fallback: datetime | None = None,
    ) -> Scene:
        """The scene of ``files``; datetime from the sidecar, the file name, ``fallback``."""
        stem = root.name.removesuffix(SIDECAR_SUFFIX)
        for suffix in RASTER_SUFFIXES:
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
        dt = sc.datetime if sc else None
        start = sc.start_datetime if sc else None
        end = sc.end_datetime if sc else None
        if dt is None and start is None:
            dt = date_from_name(root.name) or fallback
        if dt is None and start is None:
            raise IngestError(
                f"{root}: no acquisition datetime; give a sidecar "
                f'{root.name}{SIDECAR_SUFFIX} with "datetime"'
            )
        meta = {"sidecar": sc.path} if sc else {}
        return Scene(
            id=safe_id(sc.id if sc and sc.id else stem),
            files=files,
            datetime=dt,
            start_datetime=start,
            end_datetime=end,
            properties=dict(sc.properties) if sc else {},
            metadata_files=meta,
            reader=self.name,
        )
