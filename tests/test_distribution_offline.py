"""The viewer and the API docs reference nothing outside the server; the audit hook sees
every asset access; hrefs that are already URLs are left alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from distribution_support import CID, build_archive
from fastapi.testclient import TestClient

from sathub.api.app import create_app
from sathub.catalog.sqlite import SQLiteStore

STATIC = Path(__file__).resolve().parents[1] / "src" / "sathub" / "api" / "static"
URL = re.compile(r"""(?:src|href)\s*=\s*["'](https?:)?//""", re.IGNORECASE)


def test_viewer_files_are_local() -> None:
    for name in ("viewer/index.html", "viewer/viewer.js", "viewer/viewer.css"):
        text = (STATIC / name).read_text()
        assert not URL.search(text), name
        assert "https://" not in text and "http://" not in text, name
    assert (STATIC / "vendor/maplibre-gl/maplibre-gl.js").stat().st_size > 500_000
    assert (STATIC / "vendor/swagger-ui/swagger-ui-bundle.js").stat().st_size > 500_000


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    built = build_archive(tmp_path_factory.mktemp("offline") / "data")
    settings = built["settings"]
    store = SQLiteStore(settings.layout.catalog_db)
    remote = dict(built["items"][0], id="remote")
    remote["assets"] = {"data": {"href": "https://example.com/x.tif", "type": "image/tiff; application=geotiff"}}
    store.create_item(remote)
    store.close()
    with TestClient(create_app(settings)) as c:
        yield c


def test_pages_reference_only_this_server(client) -> None:
    for path in ("/viewer", "/api.html"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        for ref in re.findall(r"""(?:src|href)=["']([^"']+)""", r.text):
            assert not ref.startswith(("http:", "https:", "//")), (path, ref)
            if not ref.startswith(("data:", "#")) and ref.endswith((".js", ".css")):
                target = ref if ref.startswith("/") else "/" + ref
                assert client.get(target).status_code == 200, ref
    assert client.get("/static/../../errors.py").status_code == 404
    assert client.get("/static/%2e%2e/%2e%2e/errors.py").status_code == 404
    links = {link["rel"]: link["href"] for link in client.get("/").json()["links"]}
    assert links["service-doc"].endswith("/api.html")


def test_remote_hrefs_are_left_alone_and_get_no_tile_links(client) -> None:
    item = client.get(f"/collections/{CID}/items/remote").json()
    assert item["assets"]["data"]["href"] == "https://example.com/x.tif"
    assert "xyz" not in {link["rel"] for link in item["links"]}
    assert client.get(f"/collections/{CID}/items/remote/assets/data").status_code == 404


def test_downloads_and_rendering_are_audited_with_their_bytes(client) -> None:
    audit = client.app.state.installation.access.audit
    before = len(audit.records())
    client.get(f"/collections/{CID}/items/s0/assets/data", headers={"Range": "bytes=0-9"})
    r = client.get(f"/collections/{CID}/items/s0/preview.png?max_size=32&bidx=1")
    assert r.status_code == 200
    client.head(f"/collections/{CID}/items/s0/assets/data")
    recs = audit.records()[before:]
    assert [(x["action"], x["resource"], x["bytes"], x["outcome"]) for x in recs] == [
        ("download", f"{CID}/s0/data", 10, "ok"),
        ("preview", f"{CID}/s0/data", len(r.content), "ok"),
        ("head", f"{CID}/s0/data", 0, "head"),
    ]


def test_catalog_server_does_not_load_the_tile_libraries_until_a_tile_is_asked() -> None:
    """rio-tiler pulls in xarray and pandas (~110 MB): a server answering catalog requests
    only never imports them (fresh interpreter, so other tests' imports do not count)."""
    import subprocess
    import sys

    code = (
        "import sys, tempfile\n"
        "from fastapi.testclient import TestClient\n"
        "from sathub.api.app import create_app\n"
        "from sathub.config import Settings\n"
        "c = TestClient(create_app(Settings(data=tempfile.mkdtemp())))\n"
        "assert c.get('/search').status_code == 200\n"
        "assert c.get('/collections').status_code == 200\n"
        "print(sorted(m for m in ('rio_tiler', 'xarray', 'pandas', 'rasterio') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
