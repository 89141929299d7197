"""Spectral indices: the rsgislib reference NDVI, formulas against hand values, band
resolution and the Sentinel-2 baseline ≥ 04.00 offset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from sathub.analytics import indices
from sathub.analytics.bands import file_grid, read_band, resolve_band, scale_offset
from sathub.analytics.errors import MissingBand

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ABER = SHARED / "imagery" / "sentinel2_sref_aberystwyth_rsgislib"
IMG = ABER / "sen2_20210527_aber_subset.tif"
REF = ABER / "sen2_20210527_aber_subset_ndvi_ref.tif"


def _need_aber() -> None:
    if not (IMG.is_file() and REF.is_file()):
        pytest.skip("../shared/data (rsgislib Aberystwyth subset) is not beside the repository")


def _aber_item() -> dict:
    """A STAC item for the rsgislib file: 10 bands, red = band 3, NIR = band 8 (README)."""
    names = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
    common = {2: "red", 7: "nir"}  # 0-based positions of bands 3 and 8
    return {
        "id": "aber",
        "properties": {},
        "assets": {
            "data": {
                "href": str(IMG),
                "roles": ["data"],
                "eo:bands": [
                    {"name": f"b{i + 1}", **({"common_name": common[i]} if i in common else {})}
                    for i in range(len(names))
                ],
                "raster:bands": [{"scale": 0.001, "offset": 0.0} for _ in names],
            }
        },
    }


def test_ndvi_equals_rsgislib_reference() -> None:
    _need_aber()
    with rasterio.open(IMG) as src:
        red = src.read(3).astype(np.float64)
        nir = src.read(8).astype(np.float64)
    with rasterio.open(REF) as ref_src:
        ref = ref_src.read(1)
        ref_nodata = ref_src.nodata
    ours = indices.ndvi(red, nir)
    ok = ref != ref_nodata
    assert ok.sum() > 100_000
    assert np.nanmax(np.abs(ours[ok] - ref[ok])) <= 1e-6
    assert np.isnan(ours[~ok]).all() or not (~ok).any()


def test_ndvi_through_item_band_resolution_and_scale() -> None:
    _need_aber()
    item = _aber_item()
    red_ref, nir_ref = resolve_band(item, "red"), resolve_band(item, "nir")
    assert (red_ref.index, nir_ref.index) == (3, 8)
    grid = file_grid(str(IMG))
    red = read_band(red_ref, Path("/nonexistent"), grid)
    nir = read_band(nir_ref, Path("/nonexistent"), grid)
    with rasterio.open(REF) as ref_src:
        ref = ref_src.read(1)
        ok = ref != ref_src.nodata
    ours = indices.ndvi(red, nir)
    assert ours.dtype == np.float32
    assert np.nanmax(np.abs(ours[ok] - ref[ok])) <= 1e-6


def test_formulas_against_hand_values() -> None:
    b = {"blue": 0.05, "green": 0.08, "red": 0.04, "nir": 0.40, "swir16": 0.20, "swir22": 0.10}
    assert indices.compute("ndvi", b) == pytest.approx((0.40 - 0.04) / 0.44)
    assert indices.compute("evi", b) == pytest.approx(2.5 * 0.36 / (0.40 + 0.24 - 0.375 + 1))
    assert indices.compute("savi", b) == pytest.approx(1.5 * 0.36 / (0.44 + 0.5))
    assert indices.compute("ndwi", b) == pytest.approx((0.08 - 0.40) / 0.48)
    assert indices.compute("mndwi", b) == pytest.approx((0.08 - 0.20) / 0.28)
    assert indices.compute("ndbi", b) == pytest.approx((0.20 - 0.40) / 0.60)
    assert indices.compute("nbr", b) == pytest.approx((0.40 - 0.10) / 0.50)


def test_zero_denominator_and_nan_give_nan_and_xarray_broadcasts() -> None:
    red = np.array([0.0, np.nan, 0.1], np.float32)
    nir = np.array([0.0, 0.3, 0.3], np.float32)
    out = indices.ndvi(red, nir)
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == pytest.approx(0.5)
    da_red = xr.DataArray(np.full((2, 3), 0.1), dims=("y", "x"))
    da_nir = xr.DataArray(np.array([0.3, 0.5, 0.1]), dims=("x",))
    res = indices.ndvi(da_red, da_nir)
    assert set(res.dims) == {"y", "x"} and float(res.sel(y=1, x=2)) == 0.0


def test_missing_band_is_a_clear_error() -> None:
    item = {"id": "rgb", "properties": {}, "assets": {"data": {"href": "x.tif", "roles": ["data"],
            "eo:bands": [{"name": "b1", "common_name": "red"}]}}}  # fmt: skip
    with pytest.raises(MissingBand, match="no 'nir' band"):
        resolve_band(item, "nir")
    with pytest.raises(Exception, match="unknown index"):
        indices.index_spec("ndxx")


def test_nir_falls_back_to_nir08() -> None:
    item = {"id": "x", "properties": {}, "assets": {"data": {"href": "x.tif", "roles": ["data"],
            "eo:bands": [{"name": "B04", "common_name": "red"},
                         {"name": "B8A", "common_name": "nir08"}]}}}  # fmt: skip
    assert resolve_band(item, "nir").name == "B8A"


def test_sentinel2_baseline_offset() -> None:
    s2 = {"properties": {"constellation": "sentinel-2", "s2:processing_baseline": "05.11"}}
    # Planetary Computer style: no raster:bands → 1/10000 and the -1000 DN offset
    assert scale_offset(s2, "B04", {}) == pytest.approx((1e-4, -0.1))
    # an explicit offset wins and is never applied twice (Earth Search, sathub ingest)
    assert scale_offset(s2, "B04", {"scale": 1e-4, "offset": -0.1}) == pytest.approx((1e-4, -0.1))
    assert scale_offset(s2, "B04", {"scale": 1e-4, "offset": 0.0}) == pytest.approx((1e-4, 0.0))
    # per-band DN offsets from the product metadata (ingest's s2:dn_offsets)
    s2b = {"properties": {"s2:processing_baseline": "04.00", "s2:dn_offsets": {"B04": -900}}}
    assert scale_offset(s2b, "B04", {}) == pytest.approx((1e-4, -0.09))
    old = {"properties": {"constellation": "sentinel-2", "s2:processing_baseline": "02.09"}}
    assert scale_offset(old, "B04", {}) == pytest.approx((1e-4, 0.0))
    dn = np.array([1000, 1500], np.uint16)
    scale, offset = scale_offset(s2, "B04", {})
    assert dn * scale + offset == pytest.approx([0.0, 0.05])


def test_real_stac_items_resolve_with_offsets() -> None:
    import json

    path = SHARED / "stac" / "rustac" / "earth-search_sentinel-2-c1-l2a_10_item-collection.json"
    if not path.is_file():
        pytest.skip("shared STAC data absent")
    item = json.loads(path.read_text())["features"][0]
    ref = resolve_band(item, "red")
    assert (ref.asset_key, ref.scale, ref.offset) == ("red", 1e-4, -0.1)
    pc = SHARED / "stac" / "rustac" / "pc_sentinel-2-l2a_1000_items.ndjson"
    if pc.is_file():
        with pc.open() as f:
            it = json.loads(f.readline())
        ref = resolve_band(it, "nir")
        assert ref.name == "B08" and ref.offset == pytest.approx(-0.1)
