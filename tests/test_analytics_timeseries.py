"""Time series: chunked (bounded-memory) statistics equal unchunked ones, pooled interval
statistics equal a direct computation, mixed CRSs/resolutions, missing bands, cloudy
intervals."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject
from shapely.geometry import box
from test_analytics_support import demo_objects, demo_settings

from sathub.analytics.composite import median_composite
from sathub.analytics.executor import Executor
from sathub.analytics.select import Zone, find_items, load_zones
from sathub.analytics.timeseries import SceneTask, aggregate, combine, scene_rows


@pytest.fixture(scope="module")
def rice():  # type: ignore[no-untyped-def]
    from sathub.catalog.sqlite import SQLiteStore

    settings = demo_settings()
    store = SQLiteStore(settings.layout.catalog_db)
    items = find_items(store, "demo-mandalay-rice", box(-180, -90, 180, 90))
    yield settings, items
    store.close()


def _zones(settings, n: int) -> list[Zone]:  # type: ignore[no-untyped-def]
    fc = json.loads((settings.layout.root / "demo" / "fields.geojson").read_text())
    fc["features"] = fc["features"][:n]
    return load_zones(fc)


def test_combine_equals_direct_pooled_statistics() -> None:
    rng = np.random.default_rng(0)
    parts = [rng.normal(0.5, 0.1, n) for n in (100, 250, 40)]
    rows = [{"mean": p.mean(), "std": p.std(), "min": p.min(), "max": p.max(), "count": float(p.size),
             "median": float(np.median(p)), "valid_fraction": 1.0, "reason": None} for p in parts]  # fmt: skip
    allv = np.concatenate(parts)
    out = combine(rows)
    assert out["mean"] == pytest.approx(allv.mean(), rel=1e-12)
    assert out["std"] == pytest.approx(allv.std(), rel=1e-9)
    assert (out["min"], out["max"], out["count"]) == (allv.min(), allv.max(), allv.size)


def test_chunked_equals_unchunked(rice) -> None:  # type: ignore[no-untyped-def]
    settings, items = rice
    zones = _zones(settings, 6)
    big = Zone(
        "big", box(*zones[0].geometry.bounds).union(box(*zones[-1].geometry.bounds)).envelope, {}
    )
    zones = (*zones, big)
    item = items[0]
    whole = scene_rows(SceneTask(item, "ndvi", zones, demo_objects(settings), tile_px=4096))
    tiled = scene_rows(SceneTask(item, "ndvi", zones, demo_objects(settings), tile_px=7))
    assert [r["id"] for r in whole["rows"]] == [r["id"] for r in tiled["rows"]]
    for a, b in zip(whole["rows"], tiled["rows"]):
        for k in ("mean", "min", "max", "count", "valid_fraction"):
            assert b[k] == pytest.approx(a[k], rel=1e-9), (a["id"], k)
        assert b["std"] == pytest.approx(a["std"], rel=1e-6)  # pooled variance: cancellation
        assert b["median"] == pytest.approx(a["median"], abs=0.02)


def test_intervals_and_all_cloudy_periods() -> None:
    rows = [
        {"id": "a", "item_id": "s1", "datetime": "2024-07-02T04:00:00Z", "mean": 0.2, "median": 0.2,
         "std": 0.0, "min": 0.2, "max": 0.2, "count": 10.0, "valid_fraction": 1.0, "reason": None},
        {"id": "a", "item_id": "s2", "datetime": "2024-07-09T04:00:00Z", "mean": 0.4, "median": 0.4,
         "std": 0.0, "min": 0.4, "max": 0.4, "count": 30.0, "valid_fraction": 1.0, "reason": None},
        {"id": "a", "item_id": "s3", "datetime": "2024-07-15T04:00:00Z", "mean": float("nan"),
         "median": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan"),
         "count": 0.0, "valid_fraction": 0.0, "reason": "no valid pixel"},
    ]  # fmt: skip
    dek = aggregate(rows, "10d")
    assert [r["datetime"] for r in dek] == ["2024-07-01T00:00:00Z", "2024-07-11T00:00:00Z"]
    assert dek[0]["mean"] == pytest.approx(0.35) and dek[0]["count"] == 40
    assert dek[0]["std"] == pytest.approx(np.std([0.2] * 10 + [0.4] * 30))
    assert (
        np.isnan(dek[1]["mean"]) and dek[1]["count"] == 0 and "no valid pixel" in dek[1]["reason"]
    )
    month = aggregate(rows, "month")
    assert len(month) == 1 and month[0]["item_id"] == "s1;s2;s3"


def test_missing_band_scene_is_skipped_with_reason(rice) -> None:  # type: ignore[no-untyped-def]
    settings, items = rice
    item = copy.deepcopy(items[0])
    for b in item["assets"]["data"]["eo:bands"]:
        if b.get("common_name") == "swir16":
            del b["common_name"]
            b["name"] = "X"
    out = scene_rows(SceneTask(item, "mndwi", tuple(_zones(settings, 2)), demo_objects(settings)))
    assert out["rows"] == [] and "no 'swir16' band" in out["skipped"]


def _reprojected(item: dict, assets: Path, dst: Path, crs: str, res: float) -> dict:
    src_path = assets / item["assets"]["data"]["href"]
    with rasterio.open(src_path) as src:
        tr, w, h = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds,
                                               resolution=res)  # fmt: skip
        prof = src.profile | {"crs": crs, "transform": tr, "width": w, "height": h}
        with rasterio.open(dst, "w", **prof) as out:
            for b in range(1, src.count + 1):
                reproject(
                    rasterio.band(src, b), rasterio.band(out, b), resampling=Resampling.nearest
                )
    it = copy.deepcopy(item)
    it["id"] = item["id"] + "-reprojected"
    it["assets"]["data"]["href"] = str(dst)
    for k in list(it["properties"]):
        if k.startswith("proj:"):
            del it["properties"][k]
    for k in list(it["assets"]["data"]):
        if k.startswith("proj:"):
            del it["assets"]["data"][k]
    return it


def test_mixed_crs_and_resolution(rice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, items = rice
    item = items[0]  # dry season, few clouds
    other = _reprojected(item, settings.layout.assets, tmp_path / "r.tif", "EPSG:32646", 30.0)
    zones = tuple(_zones(settings, 4))
    a = scene_rows(SceneTask(item, "ndvi", zones, demo_objects(settings)))["rows"]
    b = scene_rows(SceneTask(other, "ndvi", zones, demo_objects(settings)))["rows"]
    for ra, rb in zip(a, b):
        assert rb["mean"] == pytest.approx(ra["mean"], abs=0.02)
    aoi = box(*zones[0].geometry.bounds).union(box(*zones[-1].geometry.bounds)).envelope
    with Executor(n_workers=1, processes=False) as ex:
        comp = median_composite([item, other], demo_objects(settings), aoi, ("ndvi",), ex)
    assert comp.grid.crs.to_epsg() == 32647 and comp.grid.res_m == (20.0, 20.0)
    assert comp.count.max() == 2 and np.nanmean(comp.layers["ndvi"]) == pytest.approx(
        a[0]["mean"], abs=0.05
    )


def test_change_between_dry_season_and_peak(rice) -> None:  # type: ignore[no-untyped-def]
    from sathub.analytics.change import DECREASE, INCREASE, run_change
    from sathub.analytics.select import parse_range
    from sathub.catalog.sqlite import SQLiteStore

    settings, _ = rice
    fc = json.loads((settings.layout.root / "demo" / "fields.geojson").read_text())
    rice_fields = [f for f in fc["features"] if f["properties"]["crop"] == "rice"][-6:]
    zones = load_zones({"type": "FeatureCollection", "features": rice_fields})
    store = SQLiteStore(settings.layout.catalog_db)
    try:
        with Executor(n_workers=1, processes=False) as ex:
            out = run_change(
                settings,
                store,
                ex,
                collection="demo-mandalay-rice",
                zones=zones,
                before=parse_range("2024-01-01/2024-04-30", "before"),
                after=parse_range("2024-09-01/2024-10-10", "after"),
                objects=demo_objects(settings),
            )
        item = store.get_item(out["item"]["collection"], out["item"]["id"])
    finally:
        store.close()
    inc = sum(z["increase_km2"] for z in out["zones"])
    dec = sum(z["decrease_km2"] for z in out["zones"])
    # six 400 m fields (0.96 km²) green up from fallow (NDVI 0.17) to ~0.8: an increase
    assert 0.3 < inc <= 0.97 and dec < 0.05 * inc
    with rasterio.open(settings.layout.assets / item["assets"]["change"]["href"]) as src:
        classes = src.read(1)
    assert (classes == INCREASE).sum() > 10 * max((classes == DECREASE).sum(), 1)
    assert item["properties"]["sathub:parameters"]["threshold"] == 0.2
