"""GDAL against a live sathub serving the real imagery of ../shared/data, in the environment
TiTiler deployments use (``CPL_VSIL_CURL_ALLOWED_EXTENSIONS=.tif``), with two GDALs: Debian's
gdal-bin (3.6, driven as subprocesses: ``gdalinfo``, ``gdal_translate``) and the GDAL inside
rasterio's wheel (3.10). Each reads the assets (``/vsicurl/`` on the item's hrefs and on a
signed link), a search (the STACIT driver, following ``next`` links) and an item's WMTS layer;
the reference is rasterio reading the source files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from client_support import CID, LEGACY, Served, read_source, served_archive
from rasterio.warp import Resampling, reproject

ENV = {"CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


@dataclass
class Raster:
    data: np.ndarray
    crs: Any
    transform: Any
    nodata: float | None


class DebianGdal:
    """GDAL 3.6 from Debian's gdal-bin, run as its command-line tools."""

    def __init__(self, tmp: Path) -> None:
        if shutil.which("gdalinfo") is None or shutil.which("gdal_translate") is None:
            pytest.skip("gdal-bin is not installed (.ci/run installs it)")
        self.tmp = tmp
        self.env = {**os.environ, **ENV, "GDAL_DEFAULT_WMS_CACHE_PATH": str(tmp / "wmscache")}
        out = self._run("gdalinfo", "--version").stdout
        m = re.match(r"GDAL (\d+)\.(\d+)", out)
        assert m and (int(m[1]), int(m[2])) >= (3, 6), out
        self.version = out.split(",")[0]
        self.count = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=300)

    def read(self, name: str) -> Raster:
        self.count += 1
        out = self.tmp / f"copy{self.count}.tif"
        r = self._run("gdal_translate", "-q", "-of", "GTiff", name, str(out))
        assert r.returncode == 0 and out.exists(), (name, r.stderr)
        with rasterio.open(out) as ds:
            return Raster(ds.read(), ds.crs, ds.transform, ds.nodata)

    def fails(self, name: str) -> bool:
        return self._run("gdalinfo", name).returncode != 0

    def subdatasets(self, name: str) -> list[str]:
        r = self._run("gdalinfo", "-json", name)
        assert r.returncode == 0, r.stderr
        sds = json.loads(r.stdout)["metadata"].get("SUBDATASETS", {})
        return [v for k, v in sds.items() if k.endswith("_NAME")]


class WheelGdal:
    """The GDAL inside rasterio's wheel, through rasterio."""

    def __init__(self, tmp: Path) -> None:
        self.env = {**ENV, "GDAL_DEFAULT_WMS_CACHE_PATH": str(tmp / "wmscache")}
        self.version = f"GDAL {rasterio.__gdal_version__}"

    def read(self, name: str) -> Raster:
        with rasterio.Env(**self.env), rasterio.open(name) as ds:
            return Raster(ds.read(), ds.crs, ds.transform, ds.nodata)

    def fails(self, name: str) -> bool:
        try:
            with rasterio.Env(**self.env), rasterio.open(name):
                return False
        except rasterio.errors.RasterioIOError:
            return True

    def subdatasets(self, name: str) -> list[str]:
        with rasterio.Env(**self.env), rasterio.open(name) as ds:
            return list(ds.subdatasets)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from conftest import issue_key

    from sathub.app import Installation

    with served_archive(tmp_path_factory.mktemp("gdal")) as s:
        s.token = issue_key(Installation.open(s.settings), "operator")  # type: ignore[attr-defined]
        yield s


@pytest.fixture(params=["debian", "wheel"])
def gdal(request: pytest.FixtureRequest, tmp_path: Path) -> DebianGdal | WheelGdal:
    return DebianGdal(tmp_path) if request.param == "debian" else WheelGdal(tmp_path)


def _assert_source(got: Raster, path: Path, what: str) -> None:
    data, crs, transform, nodata = read_source(path)
    assert got.crs == crs, what
    assert got.transform.almost_equals(transform, precision=1e-6), (what, got.transform, transform)
    assert got.data.dtype == data.dtype, what
    assert got.nodata == nodata or (np.isnan(got.nodata) and np.isnan(nodata)), what  # type: ignore[arg-type]
    np.testing.assert_array_equal(got.data, data, err_msg=what)


def _item(served: Served, item_id: str) -> dict[str, Any]:
    r = httpx.get(f"{served.url}/collections/{CID}/items/{item_id}")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_vsicurl_reads_asset_hrefs_with_allowed_extensions(served: Served, gdal: Any) -> None:
    """Every data asset's href, as the item gives it, opens under ``/vsicurl/`` with only
    ``.tif`` allowed (the hrefs had no extension, so GDAL refused them) and reads the source
    pixels."""
    for item_id, key in served.data_assets():
        href = _item(served, item_id)["assets"][key]["href"]
        assert href.endswith(".tif"), href
        got = gdal.read(f"/vsicurl/{href}")
        _assert_source(got, served.source(item_id, key), f"{gdal.version} {item_id}/{key}")
    # the same file under the download URL without its name is what this setting refuses
    assert gdal.fails(f"/vsicurl/{served.url}/collections/{CID}/items/RGB.byte/assets/data")


def test_vsicurl_reads_a_signed_link(served: Served, gdal: Any) -> None:
    r = httpx.post(f"{served.url}/collections/{CID}/items/RGB.byte/assets/data/sign",
                   json={"expires_in": 600}, headers={"Authorization": f"Bearer {served.token}"})  # type: ignore[attr-defined]  # fmt: skip
    assert r.status_code == 200, r.text
    href = r.json()["href"]
    assert href.split("?")[0].endswith("/assets/data/data.tif")
    got = gdal.read(f"/vsicurl/{href}")
    _assert_source(got, served.source("RGB.byte", "data"), f"{gdal.version} signed")


def test_stacit_reads_each_asset_of_a_search(served: Served, gdal: Any) -> None:
    """``STACIT:"…/search?ids=…":asset=K`` for every data asset: GDAL finds the CRS in
    ``proj:epsg`` (3.6 reads nothing else: "No compatible asset found" without it) and the
    grid in ``proj:transform``/``proj:shape``, and reads the source pixels."""
    for item_id, key in served.data_assets():
        name = f'STACIT:"{served.url}/search?collections={CID}&ids={item_id}":asset={key}'
        _assert_source(gdal.read(name), served.source(item_id, key), f"{gdal.version} {name}")


def test_stacit_whole_collection_pages_and_mosaics(served: Served, gdal: Any) -> None:
    """A search over the collection, two items a page: GDAL follows the ``next`` links and
    offers one subdataset per asset and CRS (worked out here from the source files); the
    Landsat 5 band stored twice (the legacy item) mosaics to the source pixels."""
    search = f"{served.url}/search?collections={CID}&limit=2"
    crss: dict[str, set[int]] = {}
    for item_id, key in served.data_assets():
        _, crs, _, _ = read_source(served.source(item_id, key))
        crss.setdefault(key, set()).add(crs.to_epsg())
    expected = {
        f"STACIT:{search}:asset={key}" + ("" if len(codes) == 1 else f",crs=EPSG_{code}")
        for key, codes in crss.items()
        for code in codes
    }
    names = gdal.subdatasets(f'STACIT:"{search}"')
    assert {n.replace('"', "") for n in names} == expected  # 3.10 leaves out the quotes
    got = gdal.read(f'STACIT:"{search}":asset=B4,crs=EPSG_32622')
    _assert_source(got, served.source(LEGACY, "B4"), f"{gdal.version} mosaic")


def test_wmts_layer_draws_the_source(served: Served, gdal: Any) -> None:
    """The item's WMTS layer (the ``wmts`` link of the item) opened by GDAL's WMTS driver at
    its finest level, against the source warped by rasterio onto the same Web Mercator grid
    (nearest neighbour). rio-tiler resamples each tile on its own, so a few pixels along
    edges differ: at least 90 % must be identical (a shift by one pixel leaves ~11 %, a band
    swap ~5 %) and the drawn footprint must match the source's valid pixels."""
    item = _item(served, "RGB.byte")
    link = next(link for link in item["links"] if link["rel"] == "wmts")
    got = gdal.read(f"WMTS:{link['href']}")
    assert got.crs.to_epsg() == 3857 and got.data.shape[0] == 4  # RGB + alpha
    ref = np.zeros((3, *got.data.shape[1:]), np.uint8)
    data, crs, transform, nodata = read_source(served.source("RGB.byte", "data"))
    reproject(data, ref, src_transform=transform, src_crs=crs, dst_transform=got.transform,
              dst_crs=got.crs, resampling=Resampling.nearest, src_nodata=nodata, dst_nodata=0)  # fmt: skip
    drawn, valid = got.data[3] > 0, (ref != 0).any(axis=0)
    assert (drawn != valid).mean() < 0.005
    both = drawn & valid
    assert both.sum() > 400_000
    assert (got.data[:3] == ref).all(axis=0)[both].mean() >= 0.9
