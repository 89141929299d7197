"""Analytics over HTTP: jobs with status, result links, cancel, restart; the CLI."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from test_analytics_support import demo_settings

from sathub.jobs import FileJobStore, JobRunner


def _rice_aoi(settings, n: int = 3) -> dict:  # type: ignore[no-untyped-def]
    fc = json.loads((settings.layout.root / "demo" / "fields.geojson").read_text())
    rice = [f for f in fc["features"] if f["properties"]["crop"] == "rice"]
    picked = rice[len(rice) // 2 : len(rice) // 2 + n]
    for f in picked:
        f["properties"]["id"] = f"field-{f['properties']['field_id']}"
    return {"type": "FeatureCollection", "features": picked}


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from sathub.api.app import create_app

    settings = demo_settings()
    (settings.layout.secrets / "operator.key").write_text("k3y\n")
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = "Bearer k3y"
        c.settings = settings  # type: ignore[attr-defined]
        yield c


def _wait(client, url: str, timeout_s: float = 120) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        job = client.get(url).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_zonal_job_status_result_and_csv(client) -> None:  # type: ignore[no-untyped-def]
    body = {"kind": "zonal", "collection": "demo-mandalay-rice", "aoi": _rice_aoi(client.settings),
            "index": "ndvi", "from": "2024-06-01", "to": "2024-12-31", "interval": "month",
            "mask": "spectral"}  # fmt: skip
    r = client.post("/analytics/jobs", json=body)
    assert r.status_code == 202, r.text
    job = _wait(
        client, next(link["href"] for link in r.json()["links"] if link["rel"] == "monitor")
    )
    assert job["status"] == "succeeded", job
    result_links = [link for link in job["links"] if link["rel"] == "result"]
    res = client.get(result_links[0]["href"]).json()
    assert res["index"] == "ndvi" and res["interval"] == "month"
    months = {row["datetime"][:7] for row in res["intervals"]}
    assert months <= {f"2024-{m:02d}" for m in range(6, 13)}
    peak = [row["mean"] for row in res["intervals"] if row["datetime"].startswith("2024-09")
            and row["mean"] is not None]  # fmt: skip
    assert peak and min(peak) > 0.6  # rice at its peak in September
    text = client.get(next(lk["href"] for lk in result_links if lk["type"] == "text/csv")).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and set(rows[0]) >= {"id", "item_id", "datetime", "mean", "median", "std", "min",
                                     "max", "count", "valid_fraction"}  # fmt: skip


def test_flood_job_links_the_derived_item(client) -> None:  # type: ignore[no-untyped-def]
    import rasterio
    from shapely.geometry import box, mapping

    from sathub.analytics.scene import to_crs

    with rasterio.open(client.settings.layout.root / "demo" / "flood_truth.tif") as src:
        aoi = mapping(to_crs(box(*src.bounds), src.crs, "EPSG:4326"))
    body = {"kind": "flood", "collection": "demo-ayeyarwady-flood", "aoi": aoi,
            "before": "2024-01-01/2024-07-31", "after": "2024-08-01/2024-08-20"}  # fmt: skip
    r = client.post("/analytics/jobs", json=body)
    job = _wait(client, f"/analytics/jobs/{r.json()['id']}")
    assert job["status"] == "succeeded", job
    derived = next(link["href"] for link in job["links"] if link["rel"] == "derived_item")
    item = client.get(derived).json()
    assert item["properties"]["sathub:algorithm"] == "flood"
    assert client.get(f"/collections/{item['collection']}/items", params={"limit": 5}).json()[
        "features"
    ]


def test_bad_requests_auth_cancel_and_restart(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/analytics/jobs", json={"kind": "zonal", "collection": "x", "aoi": {}})
    assert r.status_code == 400 and "index" in r.text
    r = client.post("/analytics/jobs", json={"kind": "zonal"}, headers={"Authorization": ""})
    assert r.status_code in (400, 401)
    assert client.get("/analytics/jobs/0123abcd").status_code == 404
    bad = {"kind": "zonal", "collection": "demo-mandalay-rice", "index": "ndvi",
           "aoi": {"type": "Polygon", "coordinates": [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10]]]}}  # fmt: skip
    job = _wait(client, f"/analytics/jobs/{client.post('/analytics/jobs', json=bad).json()['id']}")
    assert job["status"] == "failed" and "no scene" in job["error"]
    # cancel: a job is cancelled (queued behind another or while running)
    slow = {"kind": "composite", "collection": "demo-mandalay-rice", "aoi": _rice_aoi(client.settings, 1),
            "period": "2024-01-01/2024-12-31", "bands": ["red", "nir"]}  # fmt: skip
    first = client.post("/analytics/jobs", json=slow).json()
    second = client.post("/analytics/jobs", json=slow).json()
    cancelled = client.delete(f"/analytics/jobs/{second['id']}").json()
    assert cancelled["status"] in ("cancelled", "running")
    assert _wait(client, f"/analytics/jobs/{second['id']}")["status"] == "cancelled"
    _wait(client, f"/analytics/jobs/{first['id']}")
    # restart: a new job table over the same data directory reads the records back
    fresh = JobRunner(FileJobStore(client.settings.layout.jobs), client.app.state.installation)
    assert fresh.get(first["id"])["status"] == "succeeded"
    assert fresh.get(second["id"])["status"] == "cancelled"
    assert fresh.result(first["id"])["item"]["collection"] == "derived-composite"
    # a job that was running when its process died reads back as failed, with that reason
    rec = fresh.get(first["id"]) | {"id": "0" * 32, "status": "running"}
    dead = FileJobStore(client.settings.layout.jobs)
    dead.put(rec)
    dead.close()
    assert fresh.get("0" * 32) | {} == rec | {"status": "failed", "error": "the server stopped while the job ran"}


def test_cli_zonal_and_flood(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sathub.cli import app

    settings = demo_settings()
    aoi = tmp_path / "fields.geojson"
    aoi.write_text(json.dumps(_rice_aoi(settings, 2)))
    runner = CliRunner()
    res = runner.invoke(app, ["analytics", "zonal", "--data", str(settings.data), "--collection",
                              "demo-mandalay-rice", "--aoi", str(aoi), "--index", "ndvi",
                              "--from", "2024-08-01", "--to", "2024-10-31", "--format", "json",
                              "--chart", str(tmp_path / "c.png")])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["id"] for r in rows} == {
        f["properties"]["id"] for f in json.loads(aoi.read_text())["features"]
    }
    assert all(r["datetime"] >= "2024-08-01" for r in rows)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    res = runner.invoke(app, ["analytics", "zonal", "--data", str(settings.data), "--collection",
                              "demo-mandalay-rice", "--aoi", str(aoi), "--index", "nope"])  # fmt: skip
    assert res.exit_code == 2 and "unknown index" in res.output  # bad input
    import rasterio
    from shapely.geometry import box, mapping

    from sathub.analytics.scene import to_crs

    with rasterio.open(settings.layout.root / "demo" / "flood_truth.tif") as src:
        delta = {"type": "Feature", "properties": {"id": "bogale"},
                 "geometry": mapping(to_crs(box(*src.bounds), src.crs, "EPSG:4326"))}  # fmt: skip
    (tmp_path / "delta.geojson").write_text(json.dumps(delta))
    res = runner.invoke(app, ["analytics", "flood", "--data", str(settings.data), "--collection",
                              "demo-ayeyarwady-flood", "--aoi", str(tmp_path / "delta.geojson"),
                              "--before", "2024-01-01/2024-07-31", "--after",
                              "2024-08-01/2024-08-20", "--format", "json", "--mask", "spectral"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["mask"] == "spectral"
    assert {s["mask_source"] for s in out["before"] + out["after"]} == {"spectral"}
    assert out["zones"][0]["id"] == "bogale" and out["zones"][0]["flooded_km2"] > 1
    assert out["item"]["collection"] == "derived-flood"


def test_cli_runs_on_an_existing_dask_cluster(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster
    from typer.testing import CliRunner

    from sathub.cli import app

    settings = demo_settings()
    aoi = tmp_path / "fields.geojson"
    aoi.write_text(json.dumps(_rice_aoi(settings, 1)))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        res = CliRunner().invoke(app, ["analytics", "zonal", "--data", str(settings.data),
                                       "--collection", "demo-mandalay-rice", "--aoi", str(aoi),
                                       "--index", "evi", "--format", "csv",
                                       "--scheduler", cluster.scheduler_address])  # fmt: skip
        assert res.exit_code == 0, res.output
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
        assert "scene_rows_batch" in prefixes
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows and all(r["id"] for r in rows)
    res = CliRunner().invoke(app, ["analytics", "zonal", "--data", str(settings.data),
                                   "--collection", "demo-mandalay-rice", "--aoi", str(aoi),
                                   "--index", "ndvi", "--scheduler", "tcp://127.0.0.1:9"])  # fmt: skip
    assert res.exit_code == 1 and "Dask scheduler" in res.output


def test_bad_aoi_and_mask_are_400_before_a_job_starts(client) -> None:  # type: ignore[no-untyped-def]
    """A bow-tie AOI was repaired with buffer(0) and run; an unknown mask was ignored."""
    bow = {"type": "Feature", "properties": {"id": "township-3"}, "geometry": {
        "type": "Polygon", "coordinates": [[[96, 21], [96.1, 21.1], [96.1, 21], [96, 21.1],
                                            [96, 21]]]}}  # fmt: skip
    r = client.post("/analytics/jobs", json={"kind": "zonal", "collection": "demo-mandalay-rice",
                                             "aoi": bow, "index": "ndvi"})  # fmt: skip
    assert r.status_code == 400, r.text
    assert "township-3" in r.text and "Self-intersection" in r.text
    r = client.post("/analytics/jobs", json={"kind": "zonal", "collection": "demo-mandalay-rice",
                                             "aoi": _rice_aoi(client.settings, 1),
                                             "index": "ndvi", "mask": "clouds"})  # fmt: skip
    assert r.status_code in (400, 422) and "mask" in r.text
    r = client.post("/analytics/jobs", json={"kind": "zonal", "collection": "demo-mandalay-rice",
                                             "aoi": _rice_aoi(client.settings, 1),
                                             "index": "nope"})  # fmt: skip
    assert r.status_code == 400 and "unknown index" in r.text
    # a flood map's water comes from mndwi or ndwi; ndvi ran and mapped the vegetation as water
    flood = {"kind": "flood", "collection": "demo-ayeyarwady-flood", "aoi": _rice_aoi(client.settings, 1),
             "before": "2024-01-01/2024-07-31", "after": "2024-08-01/2024-08-20"}  # fmt: skip
    for index in ("ndvi", "nope"):
        r = client.post("/analytics/jobs", json={**flood, "index": index})
        assert r.status_code == 400 and r.json()["field"] == "index", r.text
    from sathub.analytics.jobs import parse_inputs

    for index in (None, "mndwi", "ndwi"):
        assert parse_inputs("flood", {**flood, "index": index})["before"]


def test_a_job_is_its_submitters(client) -> None:  # type: ignore[no-untyped-def]
    """An analyst sees and cancels only their own jobs (another's answers like a missing one);
    operators and admins see all. Products go only to `derived-…` collections."""
    from conftest import issue_key

    inst = client.app.state.installation
    a, b = ({"Authorization": f"Bearer {issue_key(inst, 'analyst')}"} for _ in range(2))
    body = {"kind": "zonal", "collection": "demo-mandalay-rice", "aoi": _rice_aoi(client.settings, 1),
            "index": "ndvi"}  # fmt: skip
    job = client.post("/analytics/jobs", json=body, headers=a).json()
    url = f"/analytics/jobs/{job['id']}"
    assert client.get(url, headers=a).status_code == 200
    other = client.get(url, headers=b)
    missing = client.get("/analytics/jobs/" + "f" * 32, headers=b)
    assert other.status_code == missing.status_code == 404
    assert other.json()["description"].replace(job["id"], "X") == missing.json()["description"].replace("f" * 32, "X")
    assert client.delete(url, headers=b).status_code == 404
    assert client.get(f"{url}/result", headers=b).status_code == 404
    assert client.get(url).status_code == 200  # the operator key of the fixture
    _wait(client, url)
    for out in ("demo-mandalay-rice", "../../x", "derived-"):
        bad = {**body, "kind": "composite", "period": "2024-01-01/2024-12-31", "output_collection": out}
        r = client.post("/analytics/jobs", json=bad, headers=a)
        assert r.status_code == 400 and r.json()["field"] == "output_collection", (out, r.text)


def test_a_job_cancelled_while_it_runs_publishes_nothing() -> None:
    """Cancel reaches the publishing step: no derived collection, no product (red-team: a
    cancelled flood job used to publish its item and then report "cancelled")."""
    import threading

    import rasterio
    from shapely.geometry import box

    from sathub.analytics.executor import Cancelled
    from sathub.analytics.flood_job import run_flood
    from sathub.analytics.scene import to_crs
    from sathub.analytics.select import Zone
    from sathub.app import Installation

    settings = demo_settings()
    with rasterio.open(settings.layout.root / "demo" / "flood_truth.tif") as src:
        aoi = to_crs(box(*src.bounds), src.crs, "EPSG:4326")
    inst = Installation.open(settings)
    cancel = threading.Event()
    cancel.set()  # the work itself runs without an executor: only publish can notice
    kwargs = dict(collection="demo-ayeyarwady-flood", zones=[Zone("aoi", aoi, {})],
                  before=(_day("2024-01-01"), _day("2024-07-31")),
                  after=(_day("2024-08-01"), _day("2024-08-20")), objects=inst.objects,
                  output_collection="derived-cancel-check")  # fmt: skip
    try:
        with pytest.raises(Cancelled):
            run_flood(settings, inst.catalog, cancel=cancel, **kwargs)  # type: ignore[arg-type]
        assert "derived-cancel-check" not in {c["id"] for c in inst.catalog.list_collections()}
        done = run_flood(settings, inst.catalog, **kwargs)  # type: ignore[arg-type]  # control
        assert done["item"]["collection"] == "derived-cancel-check"
    finally:
        inst.close()


def _day(s: str):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromisoformat(s).replace(tzinfo=UTC)
