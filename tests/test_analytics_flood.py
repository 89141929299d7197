"""Otsu against scikit-image and a brute-force scan; flood extent on the demo delta against
the generator's ground truth (IoU ≥ 0.9); SAR change ratio; cloud masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from shapely.geometry import box, mapping
from test_analytics_support import demo_settings

from sathub.analytics import masks, otsu
from sathub.analytics.errors import NoData
from sathub.analytics.flood import FLOOD, PERMANENT, UNKNOWN, flood_map, sar_change_flood
from sathub.analytics.flood_job import run_flood
from sathub.analytics.scene import to_crs
from sathub.analytics.select import find_items, load_zones, parse_range


def _bimodal(seed: int = 0, n: int = 200_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    land = rng.normal(-0.4, 0.08, int(n * 0.7))
    water = rng.normal(0.45, 0.1, n - land.size)
    return np.concatenate([land, water])


def test_otsu_matches_scikit_image() -> None:
    skf = pytest.importorskip("skimage.filters")
    for seed in range(3):
        v = _bimodal(seed)
        assert otsu.otsu_threshold(v) == pytest.approx(skf.threshold_otsu(v), abs=1e-12)


def test_otsu_matches_brute_force_between_class_variance_scan() -> None:
    v = _bimodal(5, 20_000)
    lo, hi = v.min(), v.max()
    bin_w = (hi - lo) / 256
    s = np.sort(v)
    best, best_t = -1.0, None
    for k in range(1, s.size):  # split between consecutive sorted values
        w0, w1 = k / s.size, 1 - k / s.size
        if k % 10:  # every 10th split is plenty to locate the maximum
            continue
        var_b = w0 * w1 * (s[:k].mean() - s[k:].mean()) ** 2
        if var_b > best:
            best, best_t = var_b, s[k - 1]
    assert abs(otsu.otsu_threshold(v) - best_t) <= 2 * bin_w


def test_bimodality_check_and_fallback() -> None:
    t = otsu.water_threshold(_bimodal())
    assert t.method == "otsu" and t.separability > 0.9 and -0.3 < t.value < 0.3
    unimodal = np.random.default_rng(1).normal(-0.3, 0.1, 50_000)
    f = otsu.water_threshold(unimodal)
    assert f.method == "fallback" and f.value == otsu.FALLBACK_WATER_THRESHOLD and f.reason
    tiny_water = np.concatenate([unimodal, np.full(100, 0.6)])  # 0.2 % water
    g = otsu.water_threshold(tiny_water)
    assert g.method == "fallback" and g.reason


@pytest.fixture(scope="module")
def delta():  # type: ignore[no-untyped-def]
    from sathub.catalog.sqlite import SQLiteStore

    settings = demo_settings()
    store = SQLiteStore(settings.layout.catalog_db)
    yield settings, store
    store.close()


def _truth(settings):  # type: ignore[no-untyped-def]
    with rasterio.open(settings.layout.root / "demo" / "flood_truth.tif") as src:
        return src.read(1), src.bounds, src.crs


def test_flood_extent_matches_ground_truth(delta) -> None:  # type: ignore[no-untyped-def]
    settings, store = delta
    truth, tb, crs = _truth(settings)
    aoi = to_crs(box(*tb), crs, "EPSG:4326")
    before = find_items(
        store, "demo-ayeyarwady-flood", aoi, *parse_range("2024-01-01/2024-07-31", "b")
    )
    after = find_items(
        store, "demo-ayeyarwady-flood", aoi, *parse_range("2024-08-01/2024-08-20", "a")
    )
    assert len(before) == 2 and len(after) == 1
    res = flood_map(before, after, settings.layout.assets, aoi, mask="spectral")  # no SCL
    g = res.grid
    col, row = round((g.transform.c - tb.left) / 20), round((tb.top - g.transform.f) / 20)
    t = truth[row : row + g.height, col : col + g.width]
    p = res.classes
    observed = t != 255
    pred, true = (p == FLOOD) & observed, (t == 1) & observed
    iou = (pred & true).sum() / (pred | true).sum()
    assert iou >= 0.9, iou
    both = observed & (p != UNKNOWN)
    iou_both = ((p == FLOOD) & (t == 1) & both).sum() / (((p == FLOOD) | (t == 1)) & both).sum()
    assert iou_both >= 0.95, iou_both
    # permanent water (the distributaries) is not reported as flood
    perm = (t == 2) & both
    assert (p[perm] == PERMANENT).mean() > 0.9


def test_flood_job_areas_and_derived_item(delta) -> None:  # type: ignore[no-untyped-def]
    settings, store = delta
    truth, tb, crs = _truth(settings)
    x0, y0, x1, y1 = tb
    xm = round((x0 + x1) / 2 / 20) * 20
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "west"},
         "geometry": mapping(to_crs(box(x0, y0, xm, y1), crs, "EPSG:4326"))},
        {"type": "Feature", "properties": {"id": "east"},
         "geometry": mapping(to_crs(box(xm, y0, x1, y1), crs, "EPSG:4326"))},
    ]}  # fmt: skip
    out = run_flood(
        settings, store, collection="demo-ayeyarwady-flood", zones=load_zones(fc),
        before=parse_range("2024-01-01/2024-07-31", "b"),
        after=parse_range("2024-08-01/2024-08-20", "a"), mask="spectral",
    )  # fmt: skip
    zones = {z["id"]: z for z in out["zones"]}
    assert set(zones) == {"west", "east"}
    total = sum(z["flooded_km2"] for z in zones.values())
    # the truth's flooded area, in km² (20 m cells), where both observed it
    true_km2 = (truth == 1).sum() * 400 / 1e6
    assert total == pytest.approx(out["flooded_km2_total"], rel=0.02)
    assert 0.8 * true_km2 < total < 1.1 * true_km2
    item = store.get_item(out["item"]["collection"], out["item"]["id"])
    props = item["properties"]
    assert props["sathub:algorithm"] == "flood"
    assert {i["id"] for i in props["sathub:inputs"]} == {i["id"] for i in find_items(
        store, "demo-ayeyarwady-flood", box(-180, -90, 180, 90))} - {
        i["id"] for i in find_items(store, "demo-ayeyarwady-flood", box(-180, -90, 180, 90),
                                    *parse_range("2024-08-21/2024-12-31", "x"))}  # fmt: skip
    assert item["assets"]["flood"]["type"].startswith("image/tiff")
    with rasterio.open(settings.layout.assets / item["assets"]["flood"]["href"]) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
    gj = json.loads((settings.layout.assets / item["assets"]["flood_extent"]["href"]).read_text())
    assert gj["features"] and item["assets"]["flood_extent"]["type"] == "application/geo+json"
    again = run_flood(
        settings, store, collection="demo-ayeyarwady-flood", zones=load_zones(fc),
        before=parse_range("2024-01-01/2024-07-31", "b"),
        after=parse_range("2024-08-01/2024-08-20", "a"), mask="spectral",
    )  # fmt: skip
    assert again["item"]["id"] == out["item"]["id"] and again["item"]["status"] == "unchanged"


def test_aoi_touching_no_data_is_a_clear_error(delta) -> None:  # type: ignore[no-untyped-def]
    settings, store = delta
    far = {"type": "Polygon", "coordinates": [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10]]]}
    with pytest.raises(NoData, match="no scene"):
        run_flood(settings, store, collection="demo-ayeyarwady-flood", zones=load_zones(far),
                  before=parse_range("2024-01-01/2024-07-31", "b"),
                  after=parse_range("2024-08-01/2024-08-20", "a"))  # fmt: skip


def test_sar_change_ratio() -> None:
    rng = np.random.default_rng(3)
    before = rng.normal(-15.0, 0.5, (60, 60))
    after = before + rng.normal(0, 0.3, before.shape)
    after[20:40, 10:50] = rng.normal(-24.0, 0.5, (20, 40))  # open water: darker VH
    flooded = sar_change_flood(before, after, pixel_size_m=10.0)
    assert flooded[22:38, 15:45].all()  # ratio ≈ 1.6 > 1.25
    assert not flooded[:12].any() and not flooded[48:].any()
    after[0, 0] = np.nan
    assert not sar_change_flood(before, after, pixel_size_m=10.0)[0, 0]


def test_mask_decoders() -> None:
    scl = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert masks.scl_invalid(scl).tolist() == [True, True, False, True, False, False, False,
                                                False, True, True, True, False]  # fmt: skip
    qa = np.array([21824, 1 << 3 | 21824, 1 << 4, 1, 1 << 1])  # clear, cloud, shadow, fill, dilated
    assert masks.qa_pixel_invalid(qa).tolist() == [False, True, True, True, True]
    refl = {
        "blue": np.array([0.03, 0.5, 0.02, 0.07]),
        "nir": np.array([0.4, 0.55, 0.1, 0.05]),
        "swir16": np.array([0.2, 0.4, 0.07, 0.02]),
    }  # veg, cloud, shadow, water
    assert masks.spectral_invalid({k: v[None] for k, v in refl.items()}, dilate_px=0)[0].tolist() == [
        False, True, True, False]  # fmt: skip
