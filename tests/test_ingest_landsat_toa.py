"""Landsat Level-1 radiometry: TOA reflectance and brightness temperature of the real Landsat 5
TM scene, against an independent computation from the USGS formulas, the MTL's own values
(read here with a regex, not the reader's parser) and the Earth–Sun distance of ERFA's
epv00 model (not the JPL ephemeris the code uses)."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from test_ingest_support import IMAGERY, need_imagery

from sathub.config import Settings

SCENE = "LT52240631988227CUB02"
# USGS exoatmospheric solar irradiance of Landsat 5 TM, W/(m² µm) (Thuillier 2003 spectrum)
ESUN_TM5 = {1: 1958.0, 2: 1827.0, 3: 1551.0, 4: 1036.0, 5: 214.9, 7: 80.65}
K1_TM5, K2_TM5 = 607.76, 1260.56  # Chander, Markham & Helder (2009), table 5


def _mtl_values(path: Path) -> dict[str, str]:
    text = path.read_bytes().replace(b"\x00", b"").decode()
    return dict(re.findall(r"^\s*(\w+)\s*=\s*\"?([^\"\n]*)\"?\s*$", text, re.M))


def _earth_sun_au_erfa(date: str, time: str) -> float:
    import erfa

    y, mo, d = (int(x) for x in date.split("-"))
    hh, mm, ss = time.rstrip("Z").split(":")
    u1, u2 = erfa.dtf2d("UTC", y, mo, d, int(hh), int(mm), float(ss))
    t1, t2 = erfa.taitt(*erfa.utctai(u1, u2))
    pvh, _ = erfa.epv00(t1, t2)
    return float(np.linalg.norm(pvh["p"]))


def _ingest(tmp: Path, src: Path) -> tuple[Settings, dict[str, Any]]:
    from sathub.catalog.sqlite import SQLiteStore
    from sathub.ingest.pipeline import ingest_paths

    settings = Settings(data=tmp / "data")
    settings.layout.create()
    store = SQLiteStore(settings.layout.catalog_db)
    report = ingest_paths([src], "landsat", settings, store)
    assert report.ok, [o.message for o in report.failed]
    (item,) = list(store.iter_items("landsat"))
    store.close()
    return settings, item


@pytest.fixture(scope="module")
def tm5(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any], Path]:
    need_imagery()
    base = tmp_path_factory.mktemp("toa")
    src = base / "in"
    shutil.copytree(IMAGERY / "landsat5_tm_RStoolbox", src)
    settings, item = _ingest(base, src)
    return settings, item, src


def test_toa_reflectance_equals_usgs_formula(tm5: tuple[Settings, dict[str, Any], Path]) -> None:
    from sathub.analytics.bands import file_grid, local_path, read_band, resolve_band

    settings, item, src = tm5
    mtl = _mtl_values(src / f"{SCENE}_MTL.txt")
    d = _earth_sun_au_erfa(mtl["DATE_ACQUIRED"], mtl["SCENE_CENTER_TIME"])
    assert 1.0125 < d < 1.0135  # mid-August, near aphelion
    sin_e = math.sin(math.radians(float(mtl["SUN_ELEVATION"])))
    for n, esun in ESUN_TM5.items():
        with rasterio.open(src / f"{SCENE}_B{n}.TIF") as f:
            q = f.read(1).astype(np.float64)
            valid = q != f.nodata
        radiance = float(mtl[f"RADIANCE_MULT_BAND_{n}"]) * q + float(mtl[f"RADIANCE_ADD_BAND_{n}"])
        truth = math.pi * radiance * d * d / (esun * sin_e)
        rb = item["assets"][f"B{n}"]["raster:bands"][0]
        assert rb["unit"] == "1" and "reflectance" in item["assets"][f"B{n}"]["roles"]
        recorded = q * rb["scale"] + rb["offset"]
        assert np.abs(recorded - truth)[valid].max() < 1e-6, n
        # the path analytics takes: band resolution, raster:bands scaling, float32 reading
        name = next(b["common_name"] for b in item["properties"]["eo:bands"]
                    if b["name"] == f"B{n}")  # fmt: skip
        ref = resolve_band(item, name)
        grid = file_grid(local_path(ref.href, settings.layout.assets))
        got = read_band(ref, settings.layout.assets, grid)
        assert np.array_equal(np.isnan(got), ~valid)
        assert np.abs(got.astype(np.float64) - truth)[valid].max() < 1e-6, n
        assert 0.0 < np.nanmedian(got) < 0.5


def test_thermal_band_radiance_and_brightness_temperature(
    tm5: tuple[Settings, dict[str, Any], Path],
) -> None:
    _, item, src = tm5
    mtl = _mtl_values(src / f"{SCENE}_MTL.txt")
    rb = item["assets"]["B6"]["raster:bands"][0]
    assert rb["unit"] == "W/(m^2 sr um)"
    assert rb["scale"] == float(mtl["RADIANCE_MULT_BAND_6"])
    assert rb["offset"] == float(mtl["RADIANCE_ADD_BAND_6"])
    bt = rb["sathub:brightness_temperature"]
    assert (bt["k1"], bt["k2"], bt["unit"]) == (K1_TM5, K2_TM5, "K")
    with rasterio.open(src / f"{SCENE}_B6.TIF") as f:
        q = f.read(1).astype(np.float64)
    radiance = q * rb["scale"] + rb["offset"]
    t = bt["k2"] / np.log(bt["k1"] / radiance + 1)
    truth = K2_TM5 / np.log(K1_TM5 / (0.055 * q + 1.18243) + 1)
    assert np.abs(t - truth).max() < 1e-9
    assert 290 < float(np.median(t)) < 305  # Amazon forest canopy, mid-morning in August


def test_cloud_free_tm_scene_gives_indices_not_clouds(
    tm5: tuple[Settings, dict[str, Any], Path],
) -> None:
    """With radiance recorded as reflectance the spectral test masked 100 % of this cloud-free
    (CLOUD_COVER = 0) scene as cloud and every index was empty."""
    from sathub.analytics.bands import file_grid, local_path
    from sathub.analytics.scene import index_refs, load_scene, masked_index

    settings, item, _ = tm5
    refs = index_refs(item, "ndvi")
    grid = file_grid(local_path(refs["red"].href, settings.layout.assets))
    scene = load_scene(item, settings.layout.assets, ("red", "nir"), grid, mask="spectral")
    assert scene.mask_source == "spectral" and scene.masked_fraction < 0.05
    ndvi = masked_index(scene, "ndvi")
    assert np.isfinite(ndvi).mean() > 0.95
    assert 0.5 < float(np.nanmedian(ndvi)) < 0.9  # dense forest, TOA


def _write_mtl(src: Path, dst: Path, extra: dict[str, str]) -> None:
    text = src.read_bytes().replace(b"\x00", b"").decode()
    lines = "".join(f"    {k} = {v}\n" for k, v in extra.items())
    text = text.replace("  END_GROUP = RADIOMETRIC_RESCALING\n",
                        "  END_GROUP = RADIOMETRIC_RESCALING\n  GROUP = EXTRA\n" + lines
                        + "  END_GROUP = EXTRA\n")  # fmt: skip
    dst.write_text(text)


def test_mtl_reflectance_rescaling_and_thermal_constants_win(tmp_path: Path) -> None:
    """A Collection 1/2 MTL gives REFLECTANCE_MULT/ADD and K1/K2: those are used, with the
    sun-elevation correction ρ = (M·Q + A) / sin θ_SE."""
    need_imagery()
    src = tmp_path / "in"
    shutil.copytree(IMAGERY / "landsat5_tm_RStoolbox", src)
    mtl_path = src / f"{SCENE}_MTL.txt"
    extra = {"REFLECTANCE_MULT_BAND_3": "2.2174E-03", "REFLECTANCE_ADD_BAND_3": "-0.005117",
             "K1_CONSTANT_BAND_6": "607.76", "K2_CONSTANT_BAND_6": "1260.56"}  # fmt: skip
    _write_mtl(mtl_path, mtl_path, extra)
    _, item = _ingest(tmp_path, src)
    sin_e = math.sin(math.radians(49.75588889))
    rb = item["assets"]["B3"]["raster:bands"][0]
    with rasterio.open(src / f"{SCENE}_B3.TIF") as f:
        q = f.read(1).astype(np.float64)
    truth = (2.2174e-03 * q - 0.005117) / sin_e
    assert np.abs(q * rb["scale"] + rb["offset"] - truth).max() < 1e-12
    assert item["assets"]["B6"]["raster:bands"][0]["sathub:brightness_temperature"]["source"] == "MTL"


def test_level2_surface_reflectance_is_not_sun_corrected() -> None:
    """Collection 2 Level-2 MTLs repeat REFLECTANCE_MULT_BAND_n in a Level-1 group: the
    Level-2 group's factors apply, as they are."""
    from sathub.ingest.readers.landsat import _level2_scaling, parse_mtl_text

    text = """GROUP = LANDSAT_METADATA_FILE
  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
    REFLECTANCE_MULT_BAND_3 = 2.75E-05
    REFLECTANCE_ADD_BAND_3 = -0.2
  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
  GROUP = LEVEL1_RADIOMETRIC_RESCALING
    REFLECTANCE_MULT_BAND_3 = 2.0E-05
    REFLECTANCE_ADD_BAND_3 = -0.1
  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING
END_GROUP = LANDSAT_METADATA_FILE
END
"""
    mtl = parse_mtl_text(text)
    assert _level2_scaling(mtl, "3") == {"scale": 2.75e-05, "offset": -0.2, "unit": "1"}


def test_radiance_bands_are_not_taken_for_reflectance() -> None:
    """An item that records radiance (as sathub did before TOA reflectance) must not feed
    indices: the band is refused with the reason."""
    from sathub.analytics.bands import resolve_band
    from sathub.analytics.errors import MissingBand

    item = {"id": "old", "properties": {}, "assets": {"B3": {
        "href": "x.tif", "roles": ["data"],
        "eo:bands": [{"name": "B3", "common_name": "red"}],
        "raster:bands": [{"scale": 1.044, "offset": -2.2, "unit": "W/(m^2 sr um)"}]}}}  # fmt: skip
    with pytest.raises(MissingBand, match="radiance"):
        resolve_band(item, "red")
