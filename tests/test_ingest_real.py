"""Ingest every real image in ../shared/data/imagery and check the archive against
independent references: rio-cogeo's validator, hashlib, the source pixels, a polygonised
valid-pixel mask and the official STAC JSON schemas (offline)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import shape
from test_ingest_support import copy_real_imagery, iou, valid_polygon_wgs84, validate_stac

from sathub.config import Settings


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sathub.catalog.sqlite import SQLiteStore
    from sathub.ingest.pipeline import ingest_paths

    base = tmp_path_factory.mktemp("real")
    src = copy_real_imagery(base / "in")
    settings = Settings(data=base / "data")
    settings.layout.create()
    store = SQLiteStore(settings.layout.catalog_db)
    report = ingest_paths([src], "real", settings, store)
    items = {it["id"]: it for it in store.iter_items("real")}
    return {"src": src, "settings": settings, "store": store, "report": report, "items": items}


def _asset_path(archive: dict[str, Any], asset: dict[str, Any]) -> Path:
    return archive["settings"].layout.assets / asset["href"]


def _sources(archive: dict[str, Any], item_id: str) -> dict[str, Path]:
    """Asset key → the source file it must reproduce, worked out independently."""
    src = archive["src"]
    if item_id == "LT52240631988227CUB02":
        return {f"B{n}": src / "landsat5" / f"LT52240631988227CUB02_B{n}.TIF" for n in range(1, 8)}
    if item_id == "LC80130312015295LGN00_toa":
        return {
            f"B{n}": src / "landsat8" / f"LC80130312015295LGN00_B{n}_toa.tif" for n in (2, 3, 4, 5)
        }
    if item_id == "RGB.byte":
        return {"data": src / "RGB.byte.tif"}
    return {"data": src / "aber" / f"{item_id}.tif"}


def test_every_scene_ingested(archive: dict[str, Any]) -> None:
    rep = archive["report"]
    assert rep.ok, [o.message for o in rep.failed]
    assert sorted(archive["items"]) == sorted(
        [
            "LT52240631988227CUB02",
            "LC80130312015295LGN00_toa",
            "RGB.byte",
            "sen2_20210527_aber_subset",
            "sen2_20210527_aber_subset_ndvi_ref",
        ]
    )


def test_assets_are_valid_cogs_with_matching_checksums(archive: dict[str, Any]) -> None:
    for item in archive["items"].values():
        for key, asset in item["assets"].items():
            path = _asset_path(archive, asset)
            data = path.read_bytes()
            assert asset["file:size"] == len(data)
            assert asset["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()
            if "data" in asset["roles"]:
                valid, errors, _ = cog_validate(path, quiet=True)
                assert valid, (item["id"], key, errors)
                with rasterio.open(path) as cog:
                    assert cog.profile["compress"] in ("deflate", "zstd")
                    assert cog.profile["tiled"]


def test_pixels_identical_to_source(archive: dict[str, Any]) -> None:
    for item_id, item in archive["items"].items():
        for key, source in _sources(archive, item_id).items():
            with (
                rasterio.open(source) as a,
                rasterio.open(_asset_path(archive, item["assets"][key])) as b,
            ):
                assert (a.crs, a.transform, a.count, a.dtypes) == (
                    b.crs,
                    b.transform,
                    b.count,
                    b.dtypes,
                )
                assert a.nodata == b.nodata or (np.isnan(a.nodata) and np.isnan(b.nodata))
                np.testing.assert_array_equal(a.read(), b.read())


def test_footprint_matches_valid_pixels(archive: dict[str, Any]) -> None:
    for item_id, item in archive["items"].items():
        ref = valid_polygon_wgs84(next(iter(_sources(archive, item_id).values())))
        fp = shape(item["geometry"])
        assert fp.is_valid
        assert iou(fp, ref) >= 0.95, item_id
        w, s, e, n = item["bbox"]
        assert fp.bounds == pytest.approx((w, s, e, n), abs=1e-6)


def test_landsat5_footprint_is_not_the_bbox(archive: dict[str, Any]) -> None:
    # the Landsat 5 subset has nodata (255) pixels: the outline must follow them
    item = archive["items"]["LT52240631988227CUB02"]
    with rasterio.open(_sources(archive, item["id"])["B1"]) as src:
        frac_valid = (src.dataset_mask() > 0).mean()
    fp = shape(item["geometry"])
    bbox_area = (item["bbox"][2] - item["bbox"][0]) * (item["bbox"][3] - item["bbox"][1])
    if frac_valid < 0.98:
        assert fp.area < bbox_area


def test_items_valid_against_stac_schemas(archive: dict[str, Any]) -> None:
    for item in archive["items"].values():
        validate_stac(item, "item")
    validate_stac(archive["store"].get_collection("real"), "collection")


def test_landsat_metadata_from_mtl(archive: dict[str, Any]) -> None:
    item = archive["items"]["LT52240631988227CUB02"]
    p = item["properties"]
    assert p["datetime"].startswith("1988-08-14T13:00:47")
    assert p["platform"] == "landsat-5" and p["instruments"] == ["tm"]
    assert p["eo:cloud_cover"] == 0.0
    assert p["view:sun_elevation"] == pytest.approx(49.75588889)
    assert p["proj:code"] == "EPSG:32622"
    assert p["proj:shape"] == [310, 287]
    names = {b["name"]: b.get("common_name") for b in p["eo:bands"]}
    assert names["B3"] == "red" and names["B4"] == "nir08"
    b1 = item["assets"]["B1"]["raster:bands"][0]
    assert b1["nodata"] == 255 and b1["data_type"] == "uint8"
    # TOA reflectance, not the MTL's radiance rescaling (test_ingest_landsat_toa.py checks it)
    assert b1["unit"] == "1" and 0.001 < b1["scale"] < 0.002 and -0.01 < b1["offset"] < 0
    with rasterio.open(_asset_path(archive, item["assets"]["B1"])) as src:
        arr = src.read(1, masked=True)
    assert b1["statistics"]["mean"] == pytest.approx(float(arr.mean()), rel=1e-6)
    assert item["assets"]["mtl"]["roles"] == ["metadata"]
    assert item["assets"]["thumbnail"]["type"] == "image/png"


def test_sidecar_bands_and_true_colour_thumbnail(archive: dict[str, Any]) -> None:
    item = archive["items"]["RGB.byte"]
    assert [b["common_name"] for b in item["properties"]["eo:bands"]] == ["red", "green", "blue"]
    with rasterio.open(_asset_path(archive, item["assets"]["thumbnail"])) as t:
        assert t.count == 4 and max(t.width, t.height) == 256
        rgb = t.read([1, 2, 3]).astype(int)
    assert np.abs(rgb[0] - rgb[1]).mean() > 1  # colour, not grey


def test_reingest_changes_nothing_and_replace_replaces(archive: dict[str, Any]) -> None:
    from sathub.ingest.pipeline import ingest_paths
    from sathub.ingest.verify import verify_archive

    settings, store = archive["settings"], archive["store"]
    before = {i: json.dumps(it, sort_keys=True) for i, it in archive["items"].items()}
    files_before = sorted(p for p in settings.layout.assets.rglob("*") if p.is_file())
    rep = ingest_paths([archive["src"]], "real", settings, store)
    assert rep.counts() == {"unchanged": 5}
    after = {it["id"]: json.dumps(it, sort_keys=True) for it in store.iter_items("real")}
    assert after == before
    assert sorted(p for p in settings.layout.assets.rglob("*") if p.is_file()) == files_before
    rep = ingest_paths([archive["src"] / "RGB.byte.tif"], "real", settings, store, replace=True)
    assert rep.counts() == {"replaced": 1}
    v = verify_archive(settings, store)
    assert v.ok, v.problems
    assert not list(settings.layout.staging.iterdir())
