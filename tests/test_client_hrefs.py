"""What the API adds to items for clients: ``proj:epsg`` beside ``proj:code`` (checked against
pyproj and the offline projection schemas, over generated items of every projection version),
download URLs ending with the file's name under the access policy, and no alternate href that
no client can resolve."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from distribution_support import CID, build_archive
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS
from test_ingest_support import validate_stac

from sathub.access import keys
from sathub.access.service import AccessService
from sathub.api.app import create_app
from sathub.api.links import with_proj_epsg
from sathub.catalog.sqlite import SQLiteStore

PROJ = "https://stac-extensions.github.io/projection/v{}/schema.json"
CODES = ["EPSG:4326", "EPSG:32647", "EPSG:27700", "epsg:3857", "IAU_2015:30100", "OGC:CRS84", None]


def _reference_epsg(code: str | None) -> int | None:
    """The EPSG code of a ``proj:code``, by pyproj (independent of the code under test)."""
    if code is None:
        return None
    auth = CRS.from_user_input(code).to_authority(min_confidence=100)
    if auth is None or auth[0] != "EPSG" or not code.upper().startswith("EPSG:"):
        return None
    return int(auth[1])


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    """Items as other tools write them: projection v1.0/v1.1 with ``proj:epsg``, v1.2 with
    either or both, v2.0 with ``proj:code``; on the item, on assets, or both."""
    version = draw(st.sampled_from(["1.0.0", "1.1.0", "1.2.0", "2.0.0"]))

    def fields() -> dict[str, Any]:
        out: dict[str, Any] = {}
        code = draw(st.sampled_from(CODES))
        has_code = version in ("1.2.0", "2.0.0") and draw(st.booleans())
        has_epsg = version != "2.0.0" and (not has_code or draw(st.booleans()))
        if has_code:
            out["proj:code"] = code
        if has_epsg:
            out["proj:epsg"] = _reference_epsg(code) if has_code else draw(st.sampled_from([4326, 32647, None]))
        if draw(st.booleans()):
            out["proj:shape"] = [10, 20]
        return out

    assets = {
        f"a{i}": {"href": f"https://x.example/{i}.tif", "roles": ["data"], **fields()}
        for i in range(draw(st.integers(0, 3)))
    }
    other = draw(st.sampled_from([[], ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"]]))
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": "x", "collection": "c",
        "stac_extensions": [*other, PROJ.format(version)][:: draw(st.sampled_from([1, -1]))],
        "geometry": {"type": "Point", "coordinates": [1.0, 2.0]}, "bbox": [1.0, 2.0, 1.0, 2.0],
        "properties": {"datetime": "2024-01-01T00:00:00Z", **fields()},
        "links": [], "assets": assets,
    }  # fmt: skip


def test_output_rule_and_ingest_use_one_projection_version() -> None:
    from sathub.api import links
    from sathub.ingest.metadata import EXT

    assert links.PROJ_V1_2 == EXT["proj"] == PROJ.format("1.2.0")


@settings(deadline=None)  # the first schema load reads files
@given(items())
def test_proj_epsg_added_beside_proj_code(item: dict[str, Any]) -> None:
    before = copy.deepcopy(item)
    out = with_proj_epsg(item)
    assert item == before  # the stored item is not touched
    version = next(e for e in before["stac_extensions"] if "/projection/" in e)
    if "v1.0.0" in version or "v1.1.0" in version:
        assert out == before  # proj:code is not theirs to add
    else:
        assert PROJ.format("1.2.0") in out["stac_extensions"]
        assert PROJ.format("2.0.0") not in out["stac_extensions"]
        assert [e for e in out["stac_extensions"] if "/projection/" not in e] == [
            e for e in before["stac_extensions"] if "/projection/" not in e
        ]
        for new, old in [(out["properties"], before["properties"]),
                         *((out["assets"][k], a) for k, a in before["assets"].items())]:  # fmt: skip
            assert {k: v for k, v in new.items() if k != "proj:epsg"} == {
                k: v for k, v in old.items() if k != "proj:epsg"
            }
            if "proj:epsg" in old:
                assert new["proj:epsg"] == old["proj:epsg"]
            elif "proj:code" in old:
                assert new["proj:epsg"] == _reference_epsg(old["proj:code"])
            else:
                assert "proj:epsg" not in new
    validate_stac(out, "item")


# ------------------------------------------------------------------ through the API
@pytest.fixture()
def setup(tmp_path: Path) -> Any:
    archive = build_archive(tmp_path / "data", n_items=2, size=64)
    settings = archive["settings"]
    store = SQLiteStore(settings.layout.catalog_db)
    legacy = copy.deepcopy(archive["items"][1])
    legacy["stac_extensions"] = [PROJ.format("2.0.0")]
    legacy["properties"]["proj:code"] = "EPSG:32647"
    legacy["assets"]["data"]["alternate"] = {"s3": {"href": "s3://bucket/data.tif"}}
    store.update_item(CID, legacy["id"], legacy)
    store.close()
    service = AccessService.for_layout(settings.layout)
    s = service.store
    s.set_collection_level(CID, "restricted")
    org = s.add_org("Partner", "company").id
    size = (settings.layout.assets / archive["items"][0]["assets"]["data"]["href"]).stat().st_size
    agr = s.add_agreement(org, title="p", collections=(CID,), quota_bytes=size + 10)
    token = keys.issue(s, "partner", org)[0]
    with TestClient(create_app(settings)) as c:
        yield c, {"Authorization": f"Bearer {token}"}, service, agr, size, legacy["id"]


def test_items_already_stored_are_served_with_proj_epsg(setup: Any) -> None:
    client, auth, _, _, _, legacy = setup
    item = client.get(f"/collections/{CID}/items/{legacy}", headers=auth).json()
    assert item["properties"]["proj:epsg"] == 32647 and item["properties"]["proj:code"] == "EPSG:32647"
    # projection declared as v1.2.0 only (the render and web-map-links extensions come beside it)
    assert [e for e in item["stac_extensions"] if "/projection/" in e] == [PROJ.format("1.2.0")]
    validate_stac(item, "item")
    found = client.get("/search", params={"ids": legacy}, headers=auth).json()["features"]
    assert found[0]["properties"]["proj:epsg"] == 32647
    # alternates a catalog was given are kept; the archive path is never published
    assert item["assets"]["data"]["alternate"] == {"s3": {"href": "s3://bucket/data.tif"}}
    assert "alternate" not in item["assets"]["metadata"]


def test_file_name_url_under_the_access_policy(setup: Any) -> None:
    """Same answers as ``…/assets/{key}``: a hidden item is a 404 whatever the file name (no
    oracle for names), bytes are charged to the agreement and the quota holds."""
    client, auth, service, agr, size, _ = setup
    base = f"/collections/{CID}/items/s0/assets/data"
    hidden = [client.get(u) for u in (base, base + "/data.tif", base + "/other.tif")]
    assert {r.status_code for r in hidden} == {404}
    assert hidden[0].json() == hidden[1].json() == hidden[2].json()
    href = client.get(f"/collections/{CID}/items/s0", headers=auth).json()["assets"]["data"]["href"]
    assert href == "http://testserver" + base + "/data.tif"
    assert client.get(base + "/other.tif", headers=auth).status_code == 404
    r = client.get(href, headers=auth)
    assert r.status_code == 200 and len(r.content) == size
    assert client.get(href, headers={**auth, "Range": "bytes=0-9"}).status_code == 206
    r = client.get(href, headers={**auth, "Range": "bytes=0-0"})
    assert r.status_code == 429
    recs = [x for x in service.audit.records() if x["action"] == "download"]
    assert [(x["bytes"], x["outcome"]) for x in recs] == [(size, "ok"), (10, "ok"), (0, "quota exceeded")]
    assert all(x["agreement_id"] == agr.id for x in recs)
