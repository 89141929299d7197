"""Registered mosaic searches are bounded (body size, count) and shared by the API's workers."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from sathub.api.app import create_app
from sathub.app import Installation
from sathub.config import Settings
from sathub.tiles.searches import SearchRegistry


def test_a_big_search_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    inst = Installation.create(Settings(data=tmp_path / "d", mosaic_search_max_bytes=1024))
    with TestClient(create_app(inst)) as c:
        r = c.post("/mosaic/register", json={"ids": [f"id-{n:06d}" for n in range(200)]})
        assert r.status_code == 413 and r.json()["field"] == "search"
        assert "SATHUB_MOSAIC_SEARCH_MAX_BYTES" in r.json()["description"]
        assert not (tmp_path / "d" / "searches").exists() or not list((tmp_path / "d" / "searches").iterdir())
        ok = c.post("/mosaic/register", json={"collections": ["x"]})
        assert ok.status_code == 200


def test_a_search_registered_on_one_worker_is_known_to_another(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "d")
    Installation.create(settings)
    with TestClient(create_app(Installation.open(settings))) as a, \
            TestClient(create_app(Installation.open(settings))) as b:  # two workers, one directory
        sid = a.post("/mosaic/register", json={"collections": ["x"]}).json()["id"]
        assert b.get(f"/mosaic/{sid}/tiles/WebMercatorQuad/tilejson.json").status_code == 200
        assert b.get("/mosaic/" + "0" * 24 + "/tiles/WebMercatorQuad/tilejson.json").status_code == 404


def test_the_registry_keeps_at_most_its_capacity(tmp_path: Path) -> None:
    reg = SearchRegistry(tmp_path, max_entries=10)
    for n in range(25):
        reg.put(f"s{n:04d}", {"ids": [str(n)]})
    files = sorted(p.stem for p in tmp_path.glob("*.json"))
    assert len(files) == 10 and files[-1] == "s0024"
    assert SearchRegistry(tmp_path).get("s0024") == {"ids": ["24"]}  # read back by another worker
    assert reg.get("../../etc/passwd") is None and reg.get("x" * 100) is None
