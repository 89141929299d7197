"""Cloud masks are explicit: a scene's mask asset is used when present, the spectral test only
when asked, and every result says which mask it used and what share it removed.

The scene is the real, cloud-free Sentinel-2 subset of Aberystwyth (town, fields and sea);
references are computed here with NumPy on the source pixels (pixel-aligned polygons) and
scikit-image's dilation, not with the code under test."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from shapely.geometry import box, mapping
from test_ingest_support import IMAGERY, need_imagery

from sathub.config import Settings

SRC = IMAGERY / "sentinel2_sref_aberystwyth_rsgislib" / "sen2_20210527_aber_subset.tif"
# ARCSI's 10-band stack: B2 B3 B4 B5 B6 B7 B8 B8A B11 B12 (reflectance × 1000)
BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 7, "swir16": 9}
# rows r0:r1, cols c0:c1: the town on the coast, and the sea of Cardigan Bay west of it
WINDOWS = {"town": (100, 220, 40, 120), "sea": (0, 300, 0, 30)}


def _write(path: Path, data: np.ndarray, profile: dict[str, Any]) -> None:
    with rasterio.open(path, "w", **{**profile, "count": 1, "dtype": data.dtype.name}) as dst:
        dst.write(data, 1)


@pytest.fixture(scope="module")
def aber(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sathub.app import Installation
    from sathub.ingest.pipeline import ingest_paths

    need_imagery()
    base = tmp_path_factory.mktemp("masks")
    src = base / "in"
    src.mkdir()
    with rasterio.open(SRC) as f:
        stack = f.read()
        profile = {k: f.profile[k] for k in ("driver", "width", "height", "crs", "transform")}
    scl = np.full(stack.shape[1:], 4, np.uint8)  # 4: vegetation
    scl[100:140, 10:90] = 9  # a "cloud" block of the SCL only (the scene itself is clear)
    scl[140:150, 10:90] = 3  # and its "shadow"
    scl[:, :12] = 6  # water (kept)
    for name, b in BANDS.items():
        _write(src / f"aber_{name}.tif", stack[b - 1], profile)
    _write(src / "aber_scl.tif", scl, profile)
    bands = [{"name": n, "common_name": n, "file": f"aber_{n}.tif", "scale": 0.001}
             for n in BANDS]  # fmt: skip
    doc = {"datetime": "2021-05-27T11:26:51Z", "platform": "sentinel-2a", "bands": bands}
    (src / "plain.sathub.json").write_text(json.dumps({**doc, "id": "aber-plain"}))
    with_scl = [*bands, {"name": "SCL", "file": "aber_scl.tif"}]
    (src / "scl.sathub.json").write_text(json.dumps({**doc, "id": "aber-scl", "bands": with_scl}))
    settings = Settings(data=base / "data")
    inst = Installation.create(settings)
    store, objects = inst.catalog, inst.objects
    rep = ingest_paths([src / "plain.sathub.json"], "aber", settings, store, objects)
    assert rep.ok, [o.message for o in rep.failed]
    rep = ingest_paths([src / "scl.sathub.json"], "aber-scl", settings, store, objects)
    assert rep.ok, [o.message for o in rep.failed]
    items = {it["id"]: it for c in ("aber", "aber-scl") for it in store.iter_items(c)}
    with rasterio.open(SRC) as f:
        tr = Transformer.from_crs(f.crs, "EPSG:4326", always_xy=True)
        t = f.transform
    zones = {}
    for zid, (r0, r1, c0, c1) in WINDOWS.items():
        x0, y1 = t * (c0, r0)
        x1, y0 = t * (c1, r1)
        ring = [tr.transform(x, y) for x, y in box(x0, y0, x1, y1).exterior.coords]
        zones[zid] = {"type": "Polygon", "coordinates": [ring]}
    return {"settings": settings, "store": store, "objects": objects, "items": items,
            "stack": stack, "scl": scl, "zones": zones}  # fmt: skip


def _zones(aber: dict[str, Any]) -> tuple[Any, ...]:
    from sathub.analytics.select import load_zones

    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": k}, "geometry": g}
        for k, g in aber["zones"].items()]}  # fmt: skip
    return tuple(load_zones(fc))


def _rows(aber: dict[str, Any], item_id: str, mask: str) -> dict[str, dict[str, Any]]:
    from sathub.analytics.timeseries import SceneTask, scene_rows

    task = SceneTask(aber["items"][item_id], "ndvi", _zones(aber), aber["objects"],
                     mask=mask)  # fmt: skip
    out = scene_rows(task)
    assert out["skipped"] is None, out
    return {r["id"]: r for r in out["rows"]}


def _reference(aber: dict[str, Any], removed: np.ndarray | None) -> dict[str, dict[str, float]]:
    """Mean NDVI and masked share per pixel-aligned window, plain NumPy."""
    s = aber["stack"].astype(np.float64) / 1000
    red, nir = s[BANDS["red"] - 1], s[BANDS["nir"] - 1]
    ndvi = (nir - red) / (nir + red)
    out = {}
    for zid, (r0, r1, c0, c1) in WINDOWS.items():
        v = ndvi[r0:r1, c0:c1]
        m = np.zeros(v.shape, bool) if removed is None else removed[r0:r1, c0:c1]
        out[zid] = {"mean": float(v[~m].mean()) if (~m).any() else math.nan,
                    "masked_fraction": float(m.mean()), "count": float((~m).sum())}  # fmt: skip
    return out


def _spectral_reference(aber: dict[str, Any]) -> np.ndarray:
    """The documented spectral test, written out: cloud = blue > 0.16 and SWIR1 > 0.10,
    shadow = blue < 0.05 and NIR < 0.16, grown by 2 pixels (5 × 5 square)."""
    from skimage.morphology import dilation

    # reflectance as analytics reads it (float32: DN 160 × 0.001 is just above 0.16)
    s = aber["stack"].astype(np.float32) * np.float32(0.001)
    blue, nir, swir = s[BANDS["blue"] - 1], s[BANDS["nir"] - 1], s[BANDS["swir16"] - 1]
    raw = ((blue > 0.16) & (swir > 0.10)) | ((blue < 0.05) & (nir < 0.16))
    return dilation(raw, np.ones((5, 5), bool)).astype(bool)


def _check(rows: dict[str, dict[str, Any]], ref: dict[str, dict[str, float]], mask: str) -> None:
    for zid, r in ref.items():
        got = rows[zid]
        assert got["mask"] == mask
        assert got["masked_fraction"] == pytest.approx(r["masked_fraction"], abs=1e-6), zid
        assert got["count"] == pytest.approx(r["count"], rel=1e-6), zid
        if math.isnan(r["mean"]):
            assert math.isnan(got["mean"])
        else:
            assert got["mean"] == pytest.approx(r["mean"], abs=1e-5), zid


def test_no_mask_asset_means_no_mask_by_default(aber: dict[str, Any]) -> None:
    """Before: the spectral test ran by default and silently removed part of the town and the
    dark sea from a cloud-free scene."""
    rows = _rows(aber, "aber-plain", "auto")
    _check(rows, _reference(aber, None), "none")
    assert rows["town"]["valid_fraction"] == pytest.approx(1.0, abs=1e-6)


def test_spectral_only_when_asked_and_its_share_is_reported(aber: dict[str, Any]) -> None:
    removed = _spectral_reference(aber)
    ref = _reference(aber, removed)
    # a cloud-free scene: what the test removes is roofs, dark water and their edges
    assert ref["town"]["masked_fraction"] > 0.2
    assert ref["sea"]["masked_fraction"] > 0.05
    _check(_rows(aber, "aber-plain", "spectral"), ref, "spectral")


def test_mask_asset_used_when_present(aber: dict[str, Any]) -> None:
    scl = aber["scl"]
    removed = np.isin(scl, [0, 1, 3, 8, 9, 10])
    ref = _reference(aber, removed)
    assert 0 < ref["sea"]["masked_fraction"] < 1 and 0 < ref["town"]["masked_fraction"] < 1
    for mode in ("auto", "asset"):
        _check(_rows(aber, "aber-scl", mode), ref, "scl")
    _check(_rows(aber, "aber-scl", "none"), _reference(aber, None), "none")


def test_asset_mask_required_but_missing_skips_the_scene(aber: dict[str, Any]) -> None:
    from sathub.analytics.timeseries import SceneTask, scene_rows

    out = scene_rows(SceneTask(aber["items"]["aber-plain"], "ndvi", _zones(aber),
                               aber["objects"], mask="asset"))  # fmt: skip
    assert out["rows"] == [] and "no mask asset" in out["skipped"]


def test_interval_pools_masked_share(aber: dict[str, Any]) -> None:
    from sathub.analytics.timeseries import aggregate

    a = _rows(aber, "aber-plain", "spectral")
    b = _rows(aber, "aber-scl", "auto")
    (town,) = [r for r in aggregate([a["town"], b["town"]], "month") if r["id"] == "town"]
    masked = a["town"]["masked_count"] + b["town"]["masked_count"]
    data = masked + a["town"]["count"] + b["town"]["count"]
    assert town["masked_fraction"] == pytest.approx(masked / data)
    assert town["mask"] == "scl;spectral"


def test_cli_mask_option_and_json_result(aber: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sathub.cli import app

    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "properties": {"id": "town"},
                               "geometry": aber["zones"]["town"]}))  # fmt: skip
    base = ["analytics", "zonal", "--data", str(aber["settings"].data), "--collection", "aber",
            "--aoi", str(aoi), "--index", "ndvi", "--format", "json", "--workers", "1"]
    res = CliRunner().invoke(app, base)
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["mask"] == "none" and row["masked_fraction"] == 0.0
    res = CliRunner().invoke(app, [*base, "--mask", "spectral"])
    (row,) = json.loads(res.stdout)
    assert row["mask"] == "spectral" and row["masked_fraction"] > 0.01
    res = CliRunner().invoke(app, [*base, "--mask", "clouds"])  # a usage error: the choices are listed
    assert res.exit_code == 2 and "--mask" in res.output and "'clouds'" in res.output


def test_bow_tie_aoi_is_refused_naming_the_polygon(tmp_path: Path) -> None:
    """A self-intersecting polygon used to be 'repaired' with buffer(0) (keeping one lobe)."""
    from typer.testing import CliRunner

    from sathub.analytics.jobs import parse_inputs
    from sathub.cli import app
    from sathub.errors import InvalidGeometry

    bow = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "ok"}, "geometry": mapping(box(0, 0, 1, 1))},
        {"type": "Feature", "properties": {"id": "field-7"}, "geometry": {
            "type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}]}  # fmt: skip
    with pytest.raises(InvalidGeometry, match="field-7.*Self-intersection"):
        parse_inputs("zonal", {"aoi": bow, "index": "ndvi"})
    path = tmp_path / "bow.geojson"
    path.write_text(json.dumps(bow))
    data = tmp_path / "d"
    assert CliRunner().invoke(app, ["init", str(data)]).exit_code == 0
    res = CliRunner().invoke(app, ["analytics", "zonal", "--data", str(data), "--collection",
                                   "x", "--aoi", str(path), "--index", "ndvi"])  # fmt: skip
    assert res.exit_code == 2 and "field-7" in res.output and "Traceback" not in res.output
