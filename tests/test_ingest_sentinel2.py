"""Sentinel-2 SAFE reader: a small L2A (baseline 04.00) and L1C (02.09) product built around
real Sentinel-2 bands (rsgislib's Aberystwyth subset) written as lossless JPEG2000."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from test_ingest_support import IMAGERY, need_imagery, validate_stac

from sathub.config import Settings

ABER = IMAGERY / "sentinel2_sref_aberystwyth_rsgislib" / "sen2_20210527_aber_subset.tif"
# ARCSI's 10-band stack order (see shared/data/README.md)
STACK = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
RES = {"B02": 10, "B03": 10, "B04": 10, "B08": 10}  # others 20 m

MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-{lvl}_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{lvl}.xsd">
<n1:General_Info><Product_Info>
<PRODUCT_START_TIME>2021-05-27T11:21:21.024Z</PRODUCT_START_TIME>
<PRODUCT_STOP_TIME>2021-05-27T11:21:21.024Z</PRODUCT_STOP_TIME>
<PRODUCT_URI>{uri}</PRODUCT_URI>
<PROCESSING_LEVEL>Level-{lvl}</PROCESSING_LEVEL>
<PRODUCT_TYPE>S2MSI{lvl}</PRODUCT_TYPE>
<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
<Datatake datatakeIdentifier="GS2A_20210527T112121_031000_N04.00">
<SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>
<DATATAKE_SENSING_START>2021-05-27T11:21:21.024Z</DATATAKE_SENSING_START>
<SENSING_ORBIT_NUMBER>37</SENSING_ORBIT_NUMBER>
<SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
</Datatake>
<Product_Organisation><Granule_List><Granule granuleIdentifier="x" imageFormat="JPEG2000">
{files}
</Granule></Granule_List></Product_Organisation>
</Product_Info>
<Product_Image_Characteristics>
<Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
<QUANTIFICATION_VALUES_LIST><{q}>10000</{q}></QUANTIFICATION_VALUES_LIST>
{offsets}
</Product_Image_Characteristics>
</n1:General_Info>
<n1:Quality_Indicators_Info><Cloud_Coverage_Assessment>12.5</Cloud_Coverage_Assessment></n1:Quality_Indicators_Info>
</n1:Level-{lvl}_User_Product>
"""
ORDER = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def make_safe(dst: Path, level: str, baseline: str) -> tuple[Path, dict[str, Path]]:
    """A SAFE folder whose JP2 bands are the real bands (20 m ones decimated x2)."""
    uri = (
        f"S2A_MSI{level}_20210527T112121_N{baseline.replace('.', '')}_R037_T30UVD_"
        f"20210527T140000.SAFE"
    )
    safe = dst / uri
    granule = f"GRANULE/{level}_T30UVD_A031000_20210527T112120/IMG_DATA"
    files, written = [], {}
    with rasterio.open(ABER) as src:
        for i, band in enumerate(STACK, start=1):
            res = RES.get(band, 20)
            if level == "L2A":
                rel = f"{granule}/R{res}m/T30UVD_20210527T112121_{band}_{res}m"
            else:
                rel = f"{granule}/T30UVD_20210527T112121_{band}"
            f = 10 // res if res == 10 else 2
            h, w = (src.height, src.width) if res == 10 else (src.height // f, src.width // f)
            data = src.read(i, out_shape=(h, w), resampling=Resampling.nearest)
            transform = src.transform * src.transform.scale(src.width / w, src.height / h)
            path = safe / f"{rel}.jp2"
            path.parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(
                path,
                "w",
                driver="JP2OpenJPEG",
                width=w,
                height=h,
                count=1,
                dtype="uint16",
                crs=src.crs,
                transform=transform,
                QUALITY=100,
                REVERSIBLE="YES",
                GMLJP2="YES",
                GeoJP2="YES",
            ) as d:
                d.write(data, 1)
            files.append(f"<IMAGE_FILE>{rel}</IMAGE_FILE>")
            written[band] = path
    if level == "L2A":
        q = "BOA_QUANTIFICATION_VALUE"
        offs = "".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
        offsets = f"<BOA_ADD_OFFSET_VALUES_LIST>{offs}</BOA_ADD_OFFSET_VALUES_LIST>"
    else:
        q = "QUANTIFICATION_VALUE"
        offsets = ""
    (safe / f"MTD_MSI{level}.xml").write_text(
        MTD.format(
            lvl=level[1:], uri=uri, baseline=baseline, files="\n".join(files), q=q, offsets=offsets
        )
    )
    return safe, written


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sathub.app import Installation
    from sathub.ingest.pipeline import ingest_paths

    need_imagery()
    base = tmp_path_factory.mktemp("s2")
    _, l2a_files = make_safe(base / "in", "L2A", "04.00")
    make_safe(base / "in", "L1C", "02.09")
    settings = Settings(data=base / "data")
    inst = Installation.create(settings)
    store = inst.catalog
    # a band file inside the SAFE is folded into its product, not ingested alone
    rep = ingest_paths([base / "in", l2a_files["B04"]], "s2", settings, store, inst.objects)
    items = {it["properties"]["processing:level"]: it for it in store.iter_items("s2")}
    return {"rep": rep, "items": items, "files": l2a_files, "settings": settings}


def test_safe_products_ingested(ingested: dict[str, Any]) -> None:
    assert ingested["rep"].ok, [o.message for o in ingested["rep"].failed]
    assert ingested["rep"].counts() == {"ingested": 2}
    assert set(ingested["items"]) == {"L2A", "L1C"}


def test_l2a_baseline_4_offset_recorded(ingested: dict[str, Any]) -> None:
    item = ingested["items"]["L2A"]
    p = item["properties"]
    assert p["s2:processing_baseline"] == "04.00"
    assert p["s2:dn_offsets"]["B04"] == -1000
    assert p["platform"] == "sentinel-2a" and p["sat:orbit_state"] == "descending"
    assert p["eo:cloud_cover"] == 12.5 and p["s2:mgrs_tile"] == "30UVD"
    assert p["datetime"] == "2021-05-27T11:21:21.024000Z"
    b04 = item["assets"]["B04"]["raster:bands"][0]
    assert b04["scale"] == pytest.approx(1e-4) and b04["offset"] == pytest.approx(-0.1)
    assert p["proj:shape"] == [339, 324]  # item level: the first (10 m) band
    assert item["assets"]["B11"]["proj:shape"] == [339 // 2, 324 // 2]
    assert {b["common_name"] for b in p["eo:bands"]} >= {"blue", "green", "red", "nir"}
    validate_stac(item)


def test_l1c_old_baseline_has_no_offset(ingested: dict[str, Any]) -> None:
    item = ingested["items"]["L1C"]
    assert item["properties"]["s2:processing_baseline"] == "02.09"
    assert "s2:dn_offsets" not in item["properties"]
    assert item["assets"]["B04"]["raster:bands"][0]["offset"] == 0.0
    validate_stac(item)


def test_jp2_bands_lossless(ingested: dict[str, Any]) -> None:
    item = ingested["items"]["L2A"]
    root = ingested["settings"].layout.assets
    for band, path in ingested["files"].items():
        with rasterio.open(path) as a, rasterio.open(root / item["assets"][band]["href"]) as b:
            np.testing.assert_array_equal(a.read(), b.read())
            assert a.transform == b.transform
