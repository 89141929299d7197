"""HTTP ingest: operator-only, runs as a job with a status."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from sathub.config import Settings


@pytest.fixture()
def client(tmp_path: Path):
    pytest.importorskip("sathub.api.app")
    from fastapi.testclient import TestClient

    from sathub.api.app import create_app

    settings = Settings(data=tmp_path / "data")
    settings.layout.create()
    (settings.layout.secrets / "operator.key").write_text("s3cret\n")
    with TestClient(create_app(settings)) as c:
        yield c


def _scene(path: Path) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=40,
        height=40,
        count=1,
        dtype="uint8",
        nodata=0,
        crs="EPSG:32647",
        transform=from_origin(600000, 2400000, 20, 20),
    ) as ds:
        ds.write(np.full((1, 40, 40), 7, np.uint8))
    path.with_name(path.name + ".sathub.json").write_text(
        json.dumps({"datetime": "2024-09-04T04:05:31Z"})
    )
    return path


def test_requires_operator(client, tmp_path: Path) -> None:
    body = {"paths": [str(tmp_path)], "collection": "c"}
    r = client.post("/ingest", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = client.post("/ingest", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401  # an unknown key is rejected by the access layer
    assert client.get("/ingest/jobs/x").status_code == 401


def test_job_runs_and_reports(client, tmp_path: Path) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    good = _scene(tmp_path / "good.tif")
    bad = tmp_path / "bad.tif"
    bad.write_text("nope")
    r = client.post(
        "/ingest", json={"paths": [str(good), str(bad)], "collection": "c"}, headers=auth
    )
    assert r.status_code == 202, r.text
    job = r.json()
    for _ in range(100):
        job = client.get(f"/ingest/jobs/{job['id']}", headers=auth).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "failed" and job["summary"]["counts"] == {"ingested": 1, "failed": 1}
    assert client.get("/collections/c/items/good").status_code == 200
    assert client.get("/ingest/jobs/nope", headers=auth).status_code == 404


@pytest.mark.parametrize("path", ["", ".", "data", "./x/.."])
def test_relative_paths_are_refused_before_a_job_starts(client, path: str) -> None:
    """A relative path ("" is the working directory) named whatever directory the server
    process was started in: schemathesis's admin ingested the repository (".venv" walked in
    a background thread) and starved the requests that followed."""
    auth = {"Authorization": "Bearer s3cret"}
    r = client.post("/ingest", json={"paths": [path], "collection": "c"}, headers=auth)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "paths.0" and "absolute" in r.json()["description"]
    assert list(client.app.state.installation.settings.layout.root.glob("jobs/ingest-*")) == []
