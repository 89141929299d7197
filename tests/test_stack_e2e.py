"""THE end-to-end test of the scale-out configuration (issue 14, "Done when"), with every
piece a real process: PostgreSQL with pgstac (the catalog), the S3 server (the assets), a
Dask scheduler with two workers (analytics), two ``sathub serve`` API servers sharing one
installation, nginx in front. All requests go through nginx:

ingest real rasters to the bucket → a partner searches and pages (the agreement's AOI applied
inside the query) → a tile → a Range download → a zonal job on the Dask cluster → the audit
chain verifies. Then the faults: an API server killed (SIGKILL) mid-ingest and under load:
no GET is lost (nginx retries it on the other server), the interrupted ingest leaves no
partial item, its job reads as failed.

References are independent of sathub: boto3 lists and reads the bucket, shapely decides which
items the agreement's AOI covers, rio-tiler renders the tile from a downloaded copy of the
COG, the zonal NDVI is compared with rsgislib's published NDVI raster of the same scene.
The other state (access, audit, jobs) lives where the installation's settings put it, so the
test runs unchanged when it moves to PostgreSQL.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
from PIL import Image
from pg_support import new_database, s3_settings
from shapely.geometry import box, shape
from stack_support import Load, wait_job, wait_until
from test_ingest_support import IMAGERY, copy_real_imagery

from sathub.access import keys
from sathub.app import Installation
from sathub.stack.up import Stack

WM = morecantile.tms.get("WebMercatorQuad")
ABER = "sen2_20210527_aber_subset"
WALES = box(-5.5, 51.5, -3.0, 53.5)  # the partner's agreement AOI: the Aberystwyth scenes


def _boto(s3: dict[str, Any]) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=s3["s3_endpoint"], region_name="us-east-1",
                        aws_access_key_id=s3["s3_access_key_id"],
                        aws_secret_access_key=s3["s3_secret_access_key"])  # fmt: skip


def _bucket_keys(s3: dict[str, Any]) -> set[str]:
    pages = _boto(s3).get_paginator("list_objects_v2").paginate(Bucket=s3["s3_bucket"])
    return {o["Key"] for p in pages for o in p.get("Contents", [])}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("stack")
    with Stack(root, pg_dsn=new_database(), s3=s3_settings()) as st:
        inst = Installation.open(st.settings())
        operator = keys.issue(inst.access.store, "operator", None)[0]
        org = inst.access.store.add_org("partner-uni", "university").id
        partner = keys.issue(inst.access.store, "partner", org)[0]
        assert st.nginx is not None
        with httpx.Client(base_url=st.nginx.url, timeout=300,
                          headers={"Authorization": f"Bearer {operator}"}) as op, \
             httpx.Client(base_url=st.nginx.url, timeout=300,
                          headers={"Authorization": f"Bearer {partner}"}) as pa:  # fmt: skip
            yield {"stack": st, "inst": inst, "org": org, "op": op, "pa": pa, "root": root}
        inst.close()


def test_ingest_search_tile_download_zonal_audit(stack: dict[str, Any], tmp_path: Path) -> None:
    st, inst, op, pa = stack["stack"], stack["inst"], stack["op"], stack["pa"]
    s3 = st.s3
    # 1. ingest the real rasters through nginx; the COGs land in the bucket, not on disk
    src = copy_real_imagery(tmp_path / "in")
    # the Aberystwyth bands named as rsgislib's NDVI test reads them (red = 3, NIR = 8; the
    # file itself says only "Band 1..10": ../shared/data/README.md)
    (src / "aber" / f"{ABER}.tif.sathub.json").write_text(json.dumps({"bands": [
        {"name": f"b{i}", **({"common_name": {3: "red", 8: "nir"}[i]} if i in (3, 8) else {})}
        for i in range(1, 11)]}))  # fmt: skip
    r = op.post("/ingest", json={"paths": [str(src)], "collection": "real"})
    assert r.status_code == 202, r.text
    job = wait_job(lambda: op.get(f"/ingest/jobs/{r.json()['id']}"))
    assert job["status"] == "succeeded", job
    items = {f["id"]: f for f in op.get("/collections/real/items", params={"limit": 50}).json()["features"]}
    assert len(items) == job["summary"]["counts"]["ingested"] == 5
    stored = {i: inst.catalog.get_item("real", i) for i in items}  # the catalog's own hrefs (keys)
    keys_ = {f"{s3['s3_prefix']}/{a['href']}" for it in stored.values() for a in it["assets"].values()}
    assert len(keys_) >= len(items) and keys_ <= _bucket_keys(s3)
    assert not st.settings().layout.assets.exists() or not any(st.settings().layout.assets.rglob("*.tif"))

    # 2. the collection restricted; the partner's agreement covers the Welsh scenes only
    inst.access.store.set_collection_level("real", "restricted")
    inst.access.store.add_agreement(stack["org"], title="wales", collections=("real",),
                                    aoi={"type": "Polygon", "coordinates": [list(WALES.exterior.coords)]})  # fmt: skip
    want = sorted(i for i, it in items.items() if shape(it["geometry"]).intersects(WALES))
    assert want and len(want) < len(items)
    seen, url, pages = [], f"{st.nginx.url}/search?collections=real&limit=1", 0  # type: ignore[union-attr]
    while url:
        page = pa.get(url)
        assert page.status_code == 200, page.text
        pages += 1
        seen += [f["id"] for f in page.json()["features"]]
        url = next((lk["href"] for lk in page.json()["links"] if lk["rel"] == "next"), None)
        assert url is None or url.startswith(st.nginx.url + "/")  # paging links name nginx
    assert sorted(seen) == want and pages >= len(want)
    outside = next(i for i in items if i not in want)
    assert pa.get(f"/collections/real/items/{outside}").status_code == 404

    # 3. a tile of the partner's scene, rendered from the bucket through /vsis3/
    aber = items[ABER]
    key = f"{s3['s3_prefix']}/{stored[ABER]['assets']['data']['href']}"
    cog = tmp_path / "aber.tif"
    _boto(s3).download_file(s3["s3_bucket"], key, str(cog))
    w, s_, e, n = aber["bbox"]
    t = WM.tile((w + e) / 2, (s_ + n) / 2, 12)
    tile = pa.get(f"/collections/real/items/{ABER}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
                  "?bidx=3&bidx=2&bidx=1&rescale=0,3000")  # fmt: skip
    assert tile.status_code == 200, tile.text
    from rio_tiler.io import Reader

    with Reader(str(cog)) as ref:
        img = ref.tile(t.x, t.y, t.z, indexes=(3, 2, 1))
    img.rescale(in_range=[(0, 3000)])
    want_px = np.asarray(Image.open(io.BytesIO(img.render(img_format="PNG"))))
    got_px = np.asarray(Image.open(io.BytesIO(tile.content)))
    assert np.array_equal(got_px, want_px) and got_px[..., -1].any()

    # 4. a Range download of the partner's scene, byte for byte what the bucket holds
    body = cog.read_bytes()
    part = pa.get(f"/collections/real/items/{ABER}/assets/data", headers={"Range": "bytes=1000-5999"})
    assert part.status_code == 206 and part.content == body[1000:6000]
    assert pa.get(f"/collections/real/items/{outside}/assets/data").status_code == 404

    # 5. a zonal job on the Dask cluster; NDVI against rsgislib's published NDVI raster
    import rasterio
    from rasterio.mask import mask as rio_mask
    from shapely.ops import transform as sh_transform
    from pyproj import Transformer

    with rasterio.open(IMAGERY / "sentinel2_sref_aberystwyth_rsgislib" / f"{ABER}_ndvi_ref.tif") as ref_ds:
        to_wgs = Transformer.from_crs(ref_ds.crs, "EPSG:4326", always_xy=True).transform
        l, b, rr, tt = ref_ds.bounds
        cx, cy, dx, dy = (l + rr) / 2, (b + tt) / 2, (rr - l) / 6, (tt - b) / 6
        zone_native = box(cx - dx, cy - dy, cx + dx, cy + dy)
        arr, _ = rio_mask(ref_ds, [zone_native], crop=True, filled=False)
    ref_mean = float(arr.mean())
    zone = sh_transform(to_wgs, zone_native)
    body_job = {"kind": "zonal", "collection": "real", "index": "ndvi", "mask": "none",
                "aoi": {"type": "Feature", "properties": {"id": "centre"}, "geometry": zone.__geo_interface__},
                "from": "2021-05-01", "to": "2021-06-30"}  # fmt: skip
    r = op.post("/analytics/jobs", json=body_job)
    assert r.status_code == 202, r.text
    zj = wait_job(lambda: op.get(f"/analytics/jobs/{r.json()['id']}"))
    assert zj["status"] == "succeeded", (zj["error"], zj)
    res = op.get(next(lk["href"] for lk in zj["links"] if lk["rel"] == "result"
                      and lk.get("type", "application/json") == "application/json"))  # fmt: skip
    rows = [row for row in res.json()["rows"] if row["item_id"] == ABER]
    assert len(rows) == 1, res.json()
    assert abs(rows[0]["mean"] - ref_mean) < 0.005, (rows[0], ref_mean)  # pixel-edge weighting
    assert abs(rows[0]["count"] - arr.count()) < 0.02 * arr.count(), (rows[0], arr.count())
    from distributed import Client

    with Client(st.dask.address, timeout="120s") as client:  # type: ignore[union-attr]
        prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
        assert len(client.scheduler_info()["workers"]) == 2
    assert "scene_rows_batch" in prefixes  # the job's tasks ran on this cluster

    # 6. the audit chain verifies (the partner's tile and downloads are in it)
    out = subprocess.run([sys.executable, "-m", "sathub.cli", "audit", "verify", "--format", "json"],
                         env={**os.environ, **st.env()}, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_flood_job_on_the_cluster_writes_back_to_the_bucket_and_catalog(
    stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's delta scenes (generated small, with their ground truth) ingested through
    nginx, a flood job on the Dask cluster: its map is a COG in the bucket, its item in pgstac,
    its area within the bounds tests/test_analytics_flood.py sets against the truth."""
    import rasterio
    from shapely.geometry import mapping

    from sathub.analytics.scene import to_crs
    from sathub.ingest import demo

    st, inst, op = stack["stack"], stack["inst"], stack["op"]
    monkeypatch.setattr(demo, "SIZE", 300)
    demo.generate(tmp_path / "demo", 42)
    r = op.post("/ingest", json={"paths": [str(tmp_path / "demo" / "raw" / demo.FLOOD)],
                                 "collection": demo.FLOOD})  # fmt: skip
    assert wait_job(lambda: op.get(f"/ingest/jobs/{r.json()['id']}"))["status"] == "succeeded"
    with rasterio.open(tmp_path / "demo" / "flood_truth.tif") as src:
        truth, aoi = src.read(1), mapping(to_crs(box(*src.bounds), src.crs, "EPSG:4326"))
        cell_km2 = abs(src.transform.a * src.transform.e) / 1e6
    body = {"kind": "flood", "collection": demo.FLOOD, "aoi": aoi, "mask": "spectral",
            "before": "2024-01-01/2024-07-31", "after": "2024-08-01/2024-08-20"}  # fmt: skip
    r = op.post("/analytics/jobs", json=body)
    assert r.status_code == 202, r.text
    job = wait_job(lambda: op.get(f"/analytics/jobs/{r.json()['id']}"))
    assert job["status"] == "succeeded", (job["error"], job)
    res = op.get(f"/analytics/jobs/{job['id']}/result").json()
    true_km2 = (truth == 1).sum() * cell_km2
    assert 0.8 * true_km2 < res["flooded_km2_total"] < 1.1 * true_km2, (res["flooded_km2_total"], true_km2)
    derived = next(lk["href"] for lk in job["links"] if lk["rel"] == "derived_item")
    assert derived.startswith(st.nginx.url + "/") and op.get(derived).status_code == 200  # type: ignore[union-attr]
    item = inst.catalog.get_item(res["item"]["collection"], res["item"]["id"])  # in pgstac
    key = f"{st.s3['s3_prefix']}/{item['assets']['flood']['href']}"
    assert key in _bucket_keys(st.s3)
    _boto(st.s3).download_file(st.s3["s3_bucket"], key, str(tmp_path / "flood.tif"))
    with rasterio.open(tmp_path / "flood.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255 and (src.read(1) == 1).any()
    from distributed import Client

    with Client(st.dask.address, timeout="120s") as client:  # type: ignore[union-attr]
        prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "water_task" in prefixes  # the scenes were classified on this cluster


def test_a_server_killed_mid_ingest_and_under_load(stack: dict[str, Any], tmp_path: Path) -> None:
    st, op = stack["stack"], stack["op"]
    src = copy_real_imagery(tmp_path / "in")
    normal = {f["id"]: f for f in op.get("/collections/real/items", params={"limit": 50}).json()["features"]}
    paths = ["/collections", "/search?collections=real&limit=2", f"/collections/real/items/{ABER}",
             "/collections/real/queryables"]
    with Load(st.nginx.url, paths, threads=3, headers=dict(op.headers)) as load:  # type: ignore[union-attr]
        # the ingest sent to the first API server itself (not through nginx): that server runs it
        victim = st.apis[0]  # type: ignore[union-attr]
        r = httpx.post(victim.url + "/ingest", json={"paths": [str(src)], "collection": "crash"},
                       headers=dict(op.headers), timeout=60)  # fmt: skip
        assert r.status_code == 202, r.text
        job_url = f"/ingest/jobs/{r.json()['id']}"
        owners = victim.worker_pids()
        wait_until(lambda: op.get(job_url).json()["status"] == "running", 120, "ingest running")
        for pid in owners:  # the server's request workers: one of them runs the ingest
            os.kill(pid, signal.SIGKILL)
        n = load.count()
        wait_until(lambda: load.count() > n + 30, 180, "load went on")
        job = wait_job(lambda: op.get(job_url), 60)
    bad = [(p, s) for p, s in load.results if s != 200]
    assert not bad, bad[:10]  # nginx retried the GETs the killed server dropped
    assert job["status"] == "failed" and "stopped" in job["error"], job
    # no partial item: whatever the interrupted ingest committed is whole, its bytes readable
    crash = op.get("/collections/crash/items", params={"limit": 50})
    got = crash.json()["features"] if crash.status_code == 200 else []
    assert len(got) < len(normal)
    for it in got:
        assert set(it["assets"]) == set(normal[it["id"]]["assets"])
        for name, asset in it["assets"].items():
            head = op.get(f"/collections/crash/items/{it['id']}/assets/{name}", headers={"Range": "bytes=0-0"})
            assert head.status_code == 206, (it["id"], name)
