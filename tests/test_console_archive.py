"""The archive page's verify runs: ``POST /ingest/verify`` is ``sathub verify`` (no repair) as
a job. Against an archive with one asset deleted, one corrupted and one orphan file, the job
finds exactly those (and the CLI's function finds the same), nothing is repaired, and the
archive page lists the run and its problems."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from distribution_support import CID, build_archive
from fastapi.testclient import TestClient

from sathub.access import keys
from sathub.api.app import create_app
from sathub.app import Installation


@pytest.fixture()
def damaged(tmp_path: Path):  # type: ignore[no-untyped-def]
    built = build_archive(tmp_path / "data", n_items=3, size=64)
    inst = Installation.open(built["settings"])
    assets = inst.settings.layout.assets / CID
    missing = assets / "s0" / "v1" / "data.tif"
    missing.unlink()
    corrupt = assets / "s1" / "v1" / "data.tif"
    item = inst.catalog.get_item(CID, "s1")
    item["assets"]["data"]["file:size"] = corrupt.stat().st_size  # as ingest records it
    inst.catalog.bulk_upsert([item])
    corrupt.write_bytes(corrupt.read_bytes()[:-10])  # truncated
    orphan = assets / "stray.bin"
    orphan.write_bytes(b"nobody refers to me")
    return inst, {"missing": str(missing), "corrupt": str(corrupt), "orphan": str(orphan)}


def _wait(c: TestClient, url: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    deadline = time.time() + 60
    while time.time() < deadline:
        job = c.get(url, headers=headers).json()
        if job["status"] not in ("queued", "running"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError("verify job did not finish")


def test_verify_job_finds_what_the_cli_finds_and_repairs_nothing(damaged) -> None:  # type: ignore[no-untyped-def]
    from sathub.ingest.verify import verify_archive

    inst, paths = damaged
    h = {"Authorization": f"Bearer {keys.issue(inst.access.store, 'operator', None)[0]}"}
    with TestClient(create_app(inst)) as c:
        r = c.post("/ingest/verify", json={"checksums": True}, headers=h)
        assert r.status_code == 202, r.text
        job = _wait(c, r.json()["links"][0]["href"], h)
        assert job["kind"] == "verify" and job["status"] == "failed"
        assert job["error"] == "3 problem(s) found"
        found = {p["kind"]: p["path"] for p in job["summary"]["problems"]}
        assert found == paths and job["summary"]["by_kind"] == {"missing": 1, "corrupt": 1, "orphan": 1}
        reference = verify_archive(inst.settings, inst.catalog, inst.objects, checksums=True)
        assert {p.kind: p.path for p in reference.problems} == found
        assert Path(paths["orphan"]).exists()  # no repair from the API
        r = c.post("/ingest/verify", json={"checksums": False}, headers=h)  # sizes only
        quick = _wait(c, r.json()["links"][0]["href"], h)
        assert {p["kind"]: p["path"] for p in quick["summary"]["problems"]} == paths
        page = c.get("/console/archive", headers=h).text
        for path in paths.values():
            assert path in page
        assert "3 problem(s) found" in c.get("/console", headers=h).text  # dashboard: failed jobs


def test_verify_is_for_operators(damaged) -> None:  # type: ignore[no-untyped-def]
    inst, _ = damaged
    with TestClient(create_app(inst)) as c:
        for role, status in (("analyst", 403), ("partner", 403), ("operator", 202), ("admin", 202)):
            org = inst.access.store.add_org(f"org {role}", "company").id if role == "partner" else None
            key = keys.issue(inst.access.store, role, org)[0]
            r = c.post("/ingest/verify", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == status, (role, r.text)
        assert c.post("/ingest/verify").status_code == 401
