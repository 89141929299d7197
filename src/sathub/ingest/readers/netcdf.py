"""NetCDF and HDF files: one asset per raster variable (GDAL *subdataset*), read through GDAL's
netCDF/HDF5/HDF4 drivers.

* Which variables: every subdataset by default; ``"subdatasets": ["red", "nir"]`` in the
  sidecar picks some (in that order). A file whose root is itself a raster (one variable)
  becomes one asset ``data``.
* The variables ingested must share one grid (CRS, transform, size): they form one scene. When
  they do not, the error lists the grids and asks for a pick.
* Each variable must be a georeferenced 2-D raster, or carry one extra dimension (e.g. time)
  of length 1. A variable with several time steps is refused: one item has one datetime.
* Band metadata: the variable name (as ``common_name`` when it is one, e.g. ``red``), its
  ``units``, and CF ``scale_factor``/``add_offset`` as ``raster:bands`` scale/offset.
* Datetime: the sidecar, else a date in the file name, else the CF ``time`` coordinate
  (``units`` = "days since …", ``calendar``), decoded with xarray.
"""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from sathub.errors import IngestError
from sathub.ingest.readers.base import BandInfo, Scene, SceneFile, safe_id
from sathub.ingest.readers.gdal import GdalReader, apply_sidecar_bands, check_raster
from sathub.ingest.readers.sidecar import SIDECAR_SUFFIX, Sidecar, load_sidecar, sidecar_for

NETCDF_SUFFIXES = {".nc", ".nc4", ".cdf", ".h5", ".hdf5", ".he5", ".hdf"}
_EO_COMMON = {"coastal", "blue", "green", "red", "rededge", "yellow", "pan", "nir", "nir08",
              "nir09", "cirrus", "swir16", "swir22", "lwir", "lwir11", "lwir12"}  # fmt: skip


def _open(path: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def cf_time(tags: dict[str, str]) -> list[datetime] | None:
    """Values of the CF ``time`` dimension GDAL reports (``NETCDF_DIM_time_VALUES`` with
    ``time#units``/``time#calendar``), as UTC datetimes; None when there is none."""
    raw, units = tags.get("NETCDF_DIM_time_VALUES"), tags.get("time#units")
    if raw is None or not units:
        return None
    from xarray.coding.times import decode_cf_datetime

    try:
        values = np.array([float(v) for v in raw.strip("{}").split(",") if v.strip()])
        decoded = decode_cf_datetime(values, units, tags.get("time#calendar", "standard"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise IngestError(f"cannot decode the time coordinate ({units!r}): {exc}") from exc
    out = []
    for v in np.asarray(decoded).ravel():
        if isinstance(v, np.datetime64):
            ts = (v - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "us")
            out.append(datetime.fromtimestamp(float(ts) / 1e6, tz=UTC))
        else:  # cftime dates (non-standard calendars)
            out.append(datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, tzinfo=UTC))
    return out


class NetcdfReader:
    """NetCDF / HDF containers: their raster variables as the assets of one scene."""

    name = "netcdf"

    def identify(self, path: Path) -> Path | None:
        if path.is_file() and path.suffix.lower() in NETCDF_SUFFIXES:
            return path
        return None

    def read(self, root: Path, sidecar: Path | None = None) -> Scene:
        sc_path = sidecar or sidecar_for(root)
        side = load_sidecar(sc_path) if sc_path else None
        try:
            with _open(str(root)) as src:
                subs = list(src.subdatasets)
                count = src.count
        except RasterioIOError as exc:
            raise IngestError(f"{root}: not a file GDAL can read ({exc})") from exc
        variables = self._variables(root, subs, count, side)
        grids: dict[str, tuple[Any, ...]] = {}
        files: list[SceneFile] = []
        times: list[datetime] | None = None
        for var, gdal_path in variables:
            nbands, _ = check_raster(Path(gdal_path), subdataset=var != "data")
            with _open(gdal_path) as v:
                grids[var] = (v.crs.to_wkt() if v.crs else None, tuple(v.transform)[:6],
                              v.width, v.height)  # fmt: skip
                tags, btags = v.tags(), v.tags(1)
                scale, offset = v.scales[0], v.offsets[0]
            steps = cf_time(tags)
            if nbands > 1 and "NETCDF_DIM_time" in btags:
                raise IngestError(
                    f"{root}: variable {var!r} holds {nbands} time steps; one item has one "
                    "datetime, so ingest one time step per file (e.g. gdal_translate -b N)"
                )
            if steps and times is None:
                idx = int(btags.get("NETCDF_DIM_time", 0) or 0) if len(steps) > 1 else 0
                times = [steps[min(idx, len(steps) - 1)]]
            bands = self._bands(var, nbands, btags, scale, offset)
            files.append(SceneFile(path=Path(gdal_path), asset_key=safe_id(var), bands=bands,
                                   title=f"{root.name}:{var}" if var != "data" else root.name))  # fmt: skip
        if len(set(grids.values())) > 1:
            desc = "; ".join(f"{k}: {g[2]}×{g[3]} px at {g[1][0]:g},{g[1][4]:g}"
                             for k, g in grids.items())  # fmt: skip
            raise IngestError(
                f"{root}: its variables are on different grids ({desc}); pick those that "
                f'share one with "subdatasets": [...] in {root.name}{SIDECAR_SUFFIX}'
            )
        if side is not None and side.bands is not None:
            if len(side.bands) != sum(len(f.bands) for f in files):
                raise IngestError(
                    f"{root}: sidecar {side.path.name} describes {len(side.bands)} band(s), "
                    f"the variables ingested have {sum(len(f.bands) for f in files)}"
                )
            it = iter(side.bands)
            for f in files:
                f.bands = [next(it) for _ in f.bands]
        if side is not None:  # global scale/offset/nodata of the sidecar
            for f in files:
                f.bands = apply_sidecar_bands(f.path, len(f.bands), _band_sidecar(side, f.bands))
        scene = GdalReader()._scene(root, side, files, fallback=times[0] if times else None)
        scene.reader = self.name
        return scene

    def _variables(
        self, root: Path, subs: list[str], count: int, side: Sidecar | None
    ) -> list[tuple[str, str]]:
        names = {s.rsplit(":", 1)[-1]: s for s in subs}
        picked = side.subdatasets if side is not None else None
        if not subs:
            if count == 0:
                raise IngestError(f"{root}: holds no raster variable")
            if picked:
                raise IngestError(f"{root}: has a single raster variable; drop 'subdatasets'")
            return [("data", str(root))]
        if picked:
            unknown = [p for p in picked if p not in names]
            if unknown:
                raise IngestError(
                    f"{root}: no variable {', '.join(map(repr, unknown))}; it has "
                    f"{', '.join(names)}"
                )
            return [(p, names[p]) for p in picked]
        return list(names.items())

    @staticmethod
    def _bands(var: str, n: int, tags: dict[str, str], scale: float, offset: float
               ) -> list[BandInfo]:  # fmt: skip
        unit = tags.get("units") or None
        common = var.lower() if var.lower() in _EO_COMMON else None
        out = []
        for i in range(n):
            b = BandInfo(name=var if n == 1 else f"{var}_{i + 1}", common_name=common,
                         description=tags.get("long_name") or None, unit=unit)  # fmt: skip
            if scale is not None and not math.isclose(scale, 1.0):
                b.scale = float(scale)
            if offset is not None and offset != 0.0:
                b.offset = float(offset)
            out.append(b)
        return out


def _band_sidecar(side: Sidecar, bands: list[BandInfo]) -> Sidecar:
    return Sidecar(path=side.path, bands=bands, scale=side.scale, offset=side.offset,
                   nodata=side.nodata)  # fmt: skip
