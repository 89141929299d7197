"""Ingest of what the docs promise: Landsat pre-collection scene ids give the date, NetCDF files
(one asset per variable) work or fail with a clear reason, a sidecar nodata is the COG's."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from test_ingest_support import IMAGERY, need_imagery

from sathub.config import Settings


def _ingest(data: Path, paths: list[Path], collection: str = "c") -> tuple[Any, list[dict[str, Any]]]:
    from sathub.catalog.sqlite import SQLiteStore
    from sathub.ingest.pipeline import ingest_paths

    settings = Settings(data=data)
    settings.layout.create()
    store = SQLiteStore(settings.layout.catalog_db)
    report = ingest_paths(paths, collection, settings, store)
    items = list(store.iter_items(collection)) if report.counts().get("ingested") else []
    store.close()
    return report, items


@pytest.mark.parametrize("name,day", [
    ("LC80130312015295LGN00_B2_toa.tif", "2015-10-22"),
    ("LT52240631988227CUB02_B3.TIF", "1988-08-14"),
    ("LE70160352000091EDC00_B1.TIF", "2000-03-31"),
    ("LM10470271972214AAA04.tif", "1972-08-01"),
    ("LC08_L1TP_013031_20151022_20170403_01_T1_B4.TIF", "2015-10-22"),
])  # fmt: skip
def test_landsat_scene_ids_give_the_date(name: str, day: str) -> None:
    from sathub.ingest.readers.gdal import date_from_name

    assert date_from_name(name) == datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_landsat_band_files_without_mtl_are_dated_by_their_scene_id(tmp_path: Path) -> None:
    """docs/ingest.md: a Landsat scene id in the file name gives the acquisition date. The
    pre-collection ids (one satellite digit) were not read."""
    need_imagery()
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(IMAGERY / "landsat8_toa_rio-cloudmask" / "LC80130312015295LGN00_B4_toa.tif", src)
    shutil.copy(IMAGERY / "landsat5_tm_RStoolbox" / "LT52240631988227CUB02_B3.TIF", src)
    report, items = _ingest(tmp_path / "data", [src])
    assert report.ok, [o.message for o in report.failed]
    days = {it["id"]: it["properties"]["datetime"][:10] for it in items}
    assert days == {"LC80130312015295LGN00_B4_toa": "2015-10-22",
                    "LT52240631988227CUB02_B3": "1988-08-14"}  # fmt: skip


# ------------------------------------------------------------------------------ NetCDF
def _netcdf(path: Path, variables: dict[str, np.ndarray], *, res: float = 30.0,
            origin: tuple[float, float] = (500000.0, 4100000.0)) -> None:
    """A CF-1.8 NetCDF4 file (xarray + h5netcdf): projected x/y coordinates of cell centres, a
    grid mapping with the CRS, one variable per array; arrays of another shape get their own
    coordinates at ``res`` scaled to cover the same extent."""
    import xarray as xr
    from pyproj import CRS

    wkt = CRS.from_epsg(32647).to_wkt()
    xa = {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}
    ya = {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}
    data_vars: dict[str, Any] = {"spatial_ref": ((), 0, {"crs_wkt": wkt, "spatial_ref": wkt})}
    coords: dict[str, Any] = {}
    first = next(iter(variables.values())).shape
    for name, arr in variables.items():
        h, w = arr.shape
        r = res * first[1] / w
        xd, yd = ("x", "y") if arr.shape == first else (f"x_{name}", f"y_{name}")
        coords[xd] = (xd, origin[0] + r / 2 + np.arange(w) * r, xa)
        coords[yd] = (yd, origin[1] - r / 2 - np.arange(h) * r, ya)
        data_vars[name] = ((yd, xd), arr, {"grid_mapping": "spatial_ref", "units": "DN"})
    xr.Dataset(data_vars, coords=coords).to_netcdf(path, engine="h5netcdf")


def _arrays(shape: tuple[int, int] = (40, 50)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"red": rng.integers(200, 900, shape, dtype=np.uint16),
            "nir": rng.integers(1500, 4000, shape, dtype=np.uint16)}  # fmt: skip


def test_netcdf_variables_become_assets(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    nc = src / "scene_20240904.nc"
    arrays = _arrays()
    _netcdf(nc, arrays)
    with rasterio.open(nc) as f:  # the file really is a container of subdatasets
        assert f.driver == "netCDF" and len(f.subdatasets) == 2
    report, items = _ingest(tmp_path / "data", [nc])
    assert report.ok, [o.message for o in report.failed]
    (item,) = items
    assert item["properties"]["datetime"].startswith("2024-09-04")
    assert item["properties"]["proj:code"] == "EPSG:32647"
    settings = Settings(data=tmp_path / "data")
    for name, arr in arrays.items():
        asset = item["assets"][name]
        assert [b["common_name"] for b in asset["eo:bands"]] == [name]
        with rasterio.open(settings.layout.assets / asset["href"]) as cog:
            assert cog.driver == "GTiff" and cog.crs.to_epsg() == 32647
            assert np.array_equal(cog.read(1), arr)  # every pixel, same orientation
            assert cog.transform == from_origin(500000.0, 4100000.0, 30.0, 30.0)


def test_netcdf_pick_subdatasets_in_the_sidecar(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    nc = src / "pair.nc"
    _netcdf(nc, _arrays())
    (src / "pair.nc.sathub.json").write_text(json.dumps(
        {"datetime": "2024-01-02T03:04:05Z", "subdatasets": ["nir"]}))  # fmt: skip
    report, items = _ingest(tmp_path / "data", [nc])
    assert report.ok, [o.message for o in report.failed]
    assert [k for k in items[0]["assets"] if k != "thumbnail" and k != "sidecar"] == ["nir"]
    (src / "pair.nc.sathub.json").write_text(json.dumps(
        {"datetime": "2024-01-02T03:04:05Z", "subdatasets": ["swir"]}))  # fmt: skip
    report, _ = _ingest(tmp_path / "data2", [nc])
    (fail,) = report.failed
    assert "no variable 'swir'" in fail.message and "red, nir" in fail.message


def test_netcdf_on_different_grids_asks_for_a_pick(tmp_path: Path) -> None:
    from sathub.errors import IngestError
    from sathub.ingest.readers.netcdf import NetcdfReader

    nc = tmp_path / "mixed_20240101.nc"
    _netcdf(nc, {"red": _arrays()["red"], "coarse": np.ones((20, 25), np.uint16)})
    with pytest.raises(IngestError, match="different grids.*subdatasets"):
        NetcdfReader().read(nc)
    (tmp_path / "mixed_20240101.nc.sathub.json").write_text(json.dumps(
        {"subdatasets": ["coarse"]}))  # fmt: skip
    scene = NetcdfReader().read(nc)
    assert [f.asset_key for f in scene.files] == ["coarse"]


def test_real_netcdf_and_cli_errors(tmp_path: Path) -> None:
    """The real Sentinel-2 chip in NetCDF4 (rioxarray's test file) failed with "tuple index out
    of range"; its date comes from the CF time coordinate. A NetCDF without georeferencing is
    refused with its reason, never a traceback."""
    from typer.testing import CliRunner

    from sathub.cli import app

    need_imagery()
    real = IMAGERY / "sentinel2_l1c_tiny_rioxarray" / "sentinel_2_L1C_geographic.nc"
    report, items = _ingest(tmp_path / "data", [real])
    assert report.ok, [o.message for o in report.failed]
    (item,) = items
    assert item["properties"]["datetime"] == "2016-03-23T14:05:08.463000Z"
    assert {"red", "nir"} <= set(item["assets"])
    with rasterio.open(Settings(data=tmp_path / "data").layout.assets
                       / item["assets"]["nir"]["href"]) as cog:  # fmt: skip
        nir = cog.read(1)
    assert nir.shape == (11, 12) and 1677 <= nir.min() and nir.max() <= 2711
    import xarray as xr

    bad = tmp_path / "bare_20240101.nc"  # a grid with no coordinates: no georeferencing
    xr.Dataset({"v": (("a", "b"), np.ones((3, 4), np.uint8)),
                "w": (("a", "b"), np.ones((3, 4), np.uint8))}).to_netcdf(bad, engine="h5netcdf")
    res = CliRunner().invoke(app, ["ingest", str(bad), "--collection", "c", "--data",
                                   str(tmp_path / "data")])  # fmt: skip
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "georeferenc" in res.output


# ------------------------------------------------------------------------------ nodata
def _tif(path: Path, data: np.ndarray, nodata: float | None = None) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[-1], height=data.shape[-2],
                       count=data.shape[0], dtype=data.dtype.name, crs="EPSG:32647",
                       transform=from_origin(500000.0, 2400000.0, 20.0, 20.0),
                       nodata=nodata) as dst:  # fmt: skip
        dst.write(data)


def test_sidecar_nodata_is_the_cogs_nodata(tmp_path: Path) -> None:
    """docs/ingest.md (sidecar): nodata is written into the COG, so every GDAL reader, the
    statistics and the footprint treat those pixels as fill; pixel values never change."""
    src = tmp_path / "in"
    src.mkdir()
    data = np.full((2, 30, 40), 500, np.uint16)
    data[:, :, :10] = 0  # a fill wedge on the left
    _tif(src / "a_20240101.tif", data)  # no nodata in the file
    _tif(src / "b_20240101.tif", data, nodata=65535)  # a different one in the file
    for n in ("a", "b"):
        (src / f"{n}_20240101.tif.sathub.json").write_text(json.dumps({"nodata": 0}))
    report, items = _ingest(tmp_path / "data", [src])
    assert report.ok, [o.message for o in report.failed]
    settings = Settings(data=tmp_path / "data")
    for item in items:
        asset = item["assets"]["data"]
        with rasterio.open(settings.layout.assets / asset["href"]) as cog:
            assert cog.nodata == 0
            assert np.array_equal(cog.read(), data)
        rb = asset["raster:bands"][0]
        assert rb["nodata"] == 0 and rb["statistics"]["valid_percent"] == 75.0
        assert rb["statistics"]["minimum"] == 500
        # the footprint leaves the fill wedge out: 30 of 40 columns wide
        lon = [p[0] for p in item["geometry"]["coordinates"][0]]
        width_m = (max(lon) - min(lon)) * 111320 * np.cos(np.radians(21.7))
        assert 500 < width_m < 700  # 600 m, not 800 m


def test_bands_with_different_nodata_are_refused(tmp_path: Path) -> None:
    """A GeoTIFF has one nodata value; two bands declaring different ones used to be dropped
    silently (no nodata written at all)."""
    src = tmp_path / "in"
    src.mkdir()
    _tif(src / "c_20240101.tif", np.ones((2, 8, 8), np.uint16))
    (src / "c_20240101.tif.sathub.json").write_text(json.dumps({"bands": [
        {"name": "b1", "nodata": 0}, {"name": "b2", "nodata": 1}]}))  # fmt: skip
    report, _ = _ingest(tmp_path / "data", [src])
    (fail,) = report.failed
    assert "different nodata values" in fail.message
