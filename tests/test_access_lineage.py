"""Derived products inherit the restrictions of their inputs, and their metadata does not name
inputs the caller may not see (issue: an analytics composite of a restricted collection landed
in the open ``derived-composite`` collection, and anonymous users downloaded band 1 of the
restricted source)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_analytics_api import _rice_aoi, _wait
from test_analytics_support import demo_settings

from sathub.api.app import create_app
from sathub.app import Installation
from sathub.config import Settings

SOURCE = "demo-mandalay-rice"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from conftest import issue_key

    data = tmp_path_factory.mktemp("lineage") / "data"
    shutil.copytree(demo_settings().layout.root, data)
    inst = Installation.open(Settings(data=data))
    s = inst.access.store
    s.set_collection_level(SOURCE, "restricted")
    keys = {role: issue_key(inst, role) for role in ("analyst", "admin")}
    keys["partner_src"] = issue_key(inst, "partner", "Source partner")
    keys["partner_derived"] = issue_key(inst, "partner", "Derived partner")
    s.add_agreement(s.org("Source partner").id, title="source", collections=(SOURCE,))
    with TestClient(create_app(inst)) as c:
        c.headers["Authorization"] = f"Bearer {keys['analyst']}"
        body = {"kind": "composite", "collection": SOURCE, "aoi": _rice_aoi(inst.settings, 1),
                "period": "2024-01-01/2024-12-31", "bands": ["red", "nir"]}  # fmt: skip
        r = c.post("/analytics/jobs", json=body)
        assert r.status_code == 202, r.text
        job = _wait(c, f"/analytics/jobs/{r.json()['id']}", timeout_s=300)
        assert job["status"] == "succeeded", job.get("error")
        item = job["summary"]["item"]
        # an admin then grants the derived collection (only) to another partner
        s.add_agreement(s.org("Derived partner").id, title="derived", collections=(item["collection"],))
        yield {"client": c, "inst": inst, "keys": keys, "item": item}


def _h(world: dict[str, Any], who: str) -> dict[str, str]:
    return {} if who == "anonymous" else {"Authorization": f"Bearer {world['keys'][who]}"}


def test_products_of_a_restricted_collection_are_restricted(world: dict[str, Any]) -> None:
    c, item = world["client"], world["item"]
    derived = item["collection"]
    assert derived.startswith("derived-composite--r") and SOURCE not in derived
    assert derived in world["inst"].access.store.restricted_collections()
    anon = TestClient(c.app)
    url = f"/collections/{derived}/items/{item['id']}"
    got = c.get(url).json()  # the analyst
    assets = [k for k, a in got["assets"].items() if "data" in (a.get("roles") or [])]
    for who in ("anonymous", "partner_src"):
        h = _h(world, who)
        assert anon.get(url, headers=h).status_code == 404, who
        assert anon.get(f"{url}/assets/{assets[0]}", headers=h).status_code == 404, who
        assert anon.get(f"{url}/preview.png?asset={assets[0]}", headers=h).status_code == 404, who
        assert anon.get(f"/collections/{derived}", headers=h).status_code == 404, who
        ids = {f["id"] for f in anon.get("/search", params={"limit": 1000}, headers=h).json()["features"]}
        assert item["id"] not in ids, who
    # nothing of it reached the open derived collection
    r = anon.get("/collections/derived-composite/items")
    assert r.status_code == 404 or item["id"] not in {f["id"] for f in r.json()["features"]}


def test_derived_metadata_hides_inputs_the_caller_cannot_see(world: dict[str, Any]) -> None:
    c, item = world["client"], world["item"]
    url = f"/collections/{item['collection']}/items/{item['id']}"
    full = c.get(url).json()  # the analyst sees every input
    inputs = full["properties"]["sathub:inputs"]
    assert inputs and all(i["collection"] == SOURCE for i in inputs)
    assert [ln for ln in full["links"] if ln["rel"] == "derived_from"]
    h = _h(world, "partner_derived")  # granted the product, not its source
    seen = TestClient(c.app).get(url, headers=h)
    assert seen.status_code == 200, seen.text
    props = seen.json()["properties"]
    assert props["sathub:inputs"] == [] and props["sathub:inputs_hidden"] == len(inputs)
    assert SOURCE not in seen.text
    assert not [ln for ln in seen.json()["links"] if ln["rel"] == "derived_from"]
    found = TestClient(c.app).get("/search", params={"collections": item["collection"]}, headers=h).json()
    assert [f["id"] for f in found["features"]] == [item["id"]] and SOURCE not in str(found["features"])


def test_the_lineage_rule_is_the_same_from_the_cli(world: dict[str, Any], tmp_path: Path) -> None:
    from sathub.analytics.jobs import lineage_output

    access = world["inst"].access
    mine = lineage_output("flood", {"collection": SOURCE, "output_collection": "mine"}, access)
    assert mine is not None and mine.startswith("mine--r") and mine in access.store.restricted_collections()
    assert lineage_output("composite", {"collection": SOURCE}, access) == world["item"]["collection"]
    why = [r["detail"].get("reason", "") for r in access.audit.records()
           if r["resource"] == f"collection:{mine}"]  # fmt: skip
    assert any(SOURCE in reason for reason in why), why
    assert lineage_output("flood", {"collection": "demo-ayeyarwady-flood"}, access) == "derived-flood"
    assert lineage_output("zonal", {"collection": SOURCE}, access) is None


def test_restricting_a_source_later_restricts_its_products(world: dict[str, Any], tmp_path: Path) -> None:
    """A product made while its source was open sits in the open derived collection; when the
    source is restricted later, that collection is restricted too (fail closed), and the admin
    is told."""
    from sathub.analytics.jobs import lineage_output

    access = world["inst"].access
    assert lineage_output("flood", {"collection": "demo-ayeyarwady-flood"}, access) == "derived-flood"
    assert "derived-flood" not in access.store.restricted_collections()
    c = world["client"]
    admin = {"Authorization": f"Bearer {world['keys']['admin']}"}
    r = c.put("/admin/collections/demo-ayeyarwady-flood/access", json={"level": "restricted"}, headers=admin)
    assert r.status_code == 200 and r.json()["derived_also_restricted"] == ["derived-flood"]
    assert {"demo-ayeyarwady-flood", "derived-flood"} <= access.store.restricted_collections()
    assert TestClient(c.app).get("/collections/derived-flood").status_code == 404
