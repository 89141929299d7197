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
