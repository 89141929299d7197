"""Findings of the second security review of the contracts merge (access filter as plain CQL2
with caching hints; reads through the ObjectStore). Each test states the route, the actor, and
what must hold; it failed on the code the review started from (main at cd70b73)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import issue_key, new_installation
from fastapi.testclient import TestClient
from test_access_fixtures import collection

from sathub.api.app import create_app


# ------------------------------------------------------------------- finding 1
@pytest.mark.parametrize("properties", [["x"], "x", 1, {"id": "secret"}])
def test_collection_list_survives_odd_properties_and_hides_restricted(
    tmp_path: Path, properties: Any
) -> None:
    """GET / and GET /collections, anonymous and partner: the collection list under the
    access filter is evaluated on the collection documents (catalog/filters.py
    ``filter_collections``). A collection whose ``properties`` field is not an object (which
    the catalog accepts) made both routes a 500 for every caller but staff, as soon as one
    collection was restricted. A ``properties.id`` must not stand in for the document's id
    either: the restricted collection stays hidden, the other one listed."""
    inst = new_installation(tmp_path / "data")
    inst.catalog.create_collection(collection("secret"))
    odd = {**collection("odd"), "properties": properties}
    inst.catalog.create_collection(odd)
    inst.access.store.set_collection_level("secret", "restricted")
    partner = issue_key(inst, "partner", "org-a")
    with TestClient(create_app(inst), raise_server_exceptions=False) as client:
        for headers in ({}, {"Authorization": f"Bearer {partner}"}):
            r = client.get("/collections", headers=headers)
            assert r.status_code == 200, r.text
            assert [c["id"] for c in r.json()["collections"]] == ["odd"]
            r = client.get("/", headers=headers)
            assert r.status_code == 200, r.text
            children = [ln["href"].rsplit("/", 1)[-1] for ln in r.json()["links"] if ln["rel"] == "child"]
            assert children == ["odd"]


# ------------------------------------------------------------------- finding 2
def _world_with_secret_property(data: Path) -> Any:
    import time

    from test_access_fixtures import DAY, box, item

    inst = new_installation(data)
    now = time.time()
    for cid in ("open", "secret"):
        inst.catalog.create_collection(collection(cid))
    hidden = item("s1", "secret", box(0, 0, 1, 1), now - 10 * DAY)
    hidden["properties"]["mil:target"] = "harbour"
    inst.catalog.bulk_upsert([item("o1", "open", box(0, 0, 1, 1), now - 10 * DAY), hidden])
    inst.access.store.set_collection_level("secret", "restricted")
    return inst


REQUESTS = [
    ("GET", "/search", {"params": {"filter": "\"{name}\" = 'harbour'"}}),
    ("POST", "/search", {"json": {"filter": {"op": "=", "args": [{"property": "{name}"}, "harbour"]}}}),
    ("POST", "/search", {"json": {"query": {"{name}": {"eq": "harbour"}}}}),
    ("GET", "/search", {"params": {"sortby": "{name}"}}),
    ("GET", "/aggregate", {"params": {"aggregations": "total_count", "filter": "\"{name}\" = 'harbour'"}}),
]


def _fill(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value.replace("{name}", name)
    if isinstance(value, dict):
        return {_fill(k, name): _fill(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    return value


@pytest.mark.parametrize("method,path,kwargs", REQUESTS)
def test_a_restricted_collections_property_answers_like_a_missing_one(
    tmp_path: Path, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    """/search (filter, query, sortby) and /aggregate, anonymous: a property that only items
    of a restricted collection carry must answer exactly like a property that exists nowhere
    (the threat model: anonymous may not see that a restricted property exists; /queryables
    already hides it). The store resolved names against the queryables of every collection,
    so the hidden name was accepted (200) where an unknown one is a 400."""
    inst = _world_with_secret_property(tmp_path / "data")
    with TestClient(create_app(inst), raise_server_exceptions=False) as client:
        assert "mil:target" not in client.get("/queryables").text
        answers = []
        for name in ("mil:target", "nothing:here"):
            r = client.request(method, path, **_fill(kwargs, name))
            answers.append((r.status_code, r.json().get("code"),
                            r.text.replace(name, "NAME")))  # fmt: skip
        assert answers[0] == answers[1]
        assert answers[0][0] == 400


# ------------------------------------------------------------------- finding 3
@pytest.mark.parametrize("link", ["file", "directory"])
def test_verify_repair_never_deletes_what_an_item_reads_through_a_symlink(
    tmp_path: Path, link: str
) -> None:
    """``sathub verify --repair`` (ingest/verify.py): the local store serves keys through
    symlinks that stay inside its root (storage/local.py ``safe_path``; the contract allows
    them), so an item may read ``open/o1/link.tif`` whose file is ``open/o1/data.tif``.
    Verify compares the items' keys with ``ObjectStore.list()``, which names the target (and,
    for a directory link, only the target), so the target was reported as an orphan and
    repair deleted it: the item's asset, which downloaded before, was then a 404."""
    import os

    import access_world as aw

    from sathub.ingest.verify import verify_archive

    w = aw.build(tmp_path / "data")
    inst = w.inst
    assets = inst.settings.layout.assets
    target = assets / "open" / "o1" / "data.tif"
    item = inst.catalog.get_item("open", "o1")
    if link == "file":
        os.symlink("data.tif", assets / "open" / "o1" / "link.tif")
        item["assets"]["data"]["href"] = "open/o1/link.tif"
    else:
        os.symlink("o1", assets / "open" / "alias")
        item["assets"]["data"]["href"] = "open/alias/data.tif"
    item["assets"]["data"].pop("file:checksum", None)
    inst.catalog.update_item("open", "o1", item)
    with TestClient(create_app(inst)) as client:
        assert client.get("/collections/open/items/o1/assets/data").status_code == 200
        verify_archive(inst.settings, inst.catalog, inst.objects, repair=True)
        assert target.exists(), "repair deleted an object an item reads"
        assert client.get("/collections/open/items/o1/assets/data").status_code == 200
