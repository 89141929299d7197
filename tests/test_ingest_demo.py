"""The demo archive: deterministic, physically plausible, ingested through the real path.
Run at reduced size (200 px) to stay fast; the generator is the same."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from test_ingest_support import validate_stac

from sathub.app import Installation
from sathub.app.demo import build
from sathub.config import Settings
from sathub.ingest import demo


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "SIZE", 200)


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_deterministic_from_seed(tmp_path: Path) -> None:
    demo.generate(tmp_path / "a", 7)
    demo.generate(tmp_path / "b", 7)
    demo.generate(tmp_path / "c", 8)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys() and a != c
    assert len([k for k in a if k.endswith(".tif")]) == 18 + 4 + 1  # scenes + flood truth


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    mp = pytest.MonkeyPatch()
    mp.setattr(demo, "SIZE", 200)
    settings = Settings(data=tmp_path_factory.mktemp("demo") / "data")
    with Installation.create(settings) as inst:
        first = build(inst, seed=42, workers=1)
        second = build(inst, seed=42, workers=1)
    mp.undo()
    store = Installation.open(settings).catalog
    return {"settings": settings, "first": first, "second": second, "store": store}


def test_build_is_idempotent(built: dict[str, Any]) -> None:
    assert built["first"].ok, built["first"].summary()
    assert [r.counts() for r in built["first"].reports] == [{"ingested": 18}, {"ingested": 4}]
    assert built["second"].skipped_generation
    assert [r.counts() for r in built["second"].reports] == [{"unchanged": 18}, {"unchanged": 4}]


def test_items_and_collections_valid(built: dict[str, Any]) -> None:
    store = built["store"]
    for cid in (demo.RICE, demo.FLOOD):
        col = store.get_collection(cid)
        validate_stac(col, "collection")
        assert col["extent"]["temporal"]["interval"][0][0].startswith("2024-")
        for item in store.iter_items(cid):
            validate_stac(item)
            p = item["properties"]
            assert p["proj:code"] == ("EPSG:32647" if cid == demo.RICE else "EPSG:32646")
            assert 90 < item["bbox"][0] < 101 and 15 < item["bbox"][1] < 23  # Myanmar


def _ndvi_paddy(built: dict[str, Any], item: dict[str, Any]) -> float:
    """Median NDVI over the cloud-free pixels of the rice fields of fields.geojson."""
    from rasterio.features import rasterize
    from rasterio.warp import transform_geom

    fields = json.loads((built["settings"].layout.root / "demo" / "fields.geojson").read_text())
    path = built["settings"].layout.assets / item["assets"]["data"]["href"]
    with rasterio.open(path) as src:
        d = src.read(masked=True).astype(float) * 1e-4
        rice = (
            rasterize(
                [
                    transform_geom("EPSG:4326", src.crs, f["geometry"])
                    for f in fields["features"]
                    if f["properties"]["crop"] == "rice"
                ],
                out_shape=(src.height, src.width),
                transform=src.transform,
            )
            > 0
        )
    red, nir, blue = d[2], d[3], d[0]
    clear = (blue < 0.2).filled(False) & rice
    ndvi = ((nir - red) / (nir + red))[clear]
    return float(np.ma.median(ndvi))


def test_rice_ndvi_follows_the_season(built: dict[str, Any]) -> None:
    items = sorted(built["store"].iter_items(demo.RICE), key=lambda i: i["properties"]["datetime"])
    by_month: dict[int, list[float]] = {}
    for it in items:
        by_month.setdefault(int(it["properties"]["datetime"][5:7]), []).append(
            _ndvi_paddy(built, it)
        )
    dry = np.mean(by_month[2] + by_month[3])
    peak = max(np.mean(by_month[9]), np.mean(by_month[8]))
    after = np.mean(by_month[12])
    assert dry < 0.3 and after < 0.35
    assert peak > 0.6
    monsoon_cloud = [
        i["properties"]["eo:cloud_cover"]
        for i in items
        if i["properties"]["datetime"][5:7] in ("07", "08")
    ]
    dry_cloud = [
        i["properties"]["eo:cloud_cover"]
        for i in items
        if i["properties"]["datetime"][5:7] in ("01", "02", "03")
    ]
    assert min(monsoon_cloud) > max(dry_cloud)


def test_flood_truth_matches_flood_scene(built: dict[str, Any]) -> None:
    root = built["settings"].layout.root / "demo"
    with rasterio.open(root / "flood_truth.tif") as t:
        truth = t.read(1)
    flood = next(
        i
        for i in built["store"].iter_items(demo.FLOOD)
        if i["properties"]["sathub:demo_stage"] == "flood"
    )
    with rasterio.open(built["settings"].layout.assets / flood["assets"]["data"]["href"]) as s:
        d = s.read().astype(float)
    ndwi = (d[1] - d[3]) / (d[1] + d[3])
    assert (ndwi[truth == 1] > 0).mean() > 0.95
    assert (ndwi[truth == 0] > 0).mean() < 0.05
    assert 0.1 < (truth == 1).mean() < 0.8
    fields = json.loads((root / "fields.geojson").read_text())
    assert fields["features"] and "transplant_doy" in fields["features"][0]["properties"]
