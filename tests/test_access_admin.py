"""The admin API: only admin keys; every change takes effect at once and is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_access_fixtures import AOI_A, World, auth, build_world

from sathub.api.app import create_app


@pytest.fixture()
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "data")


@pytest.fixture()
def client(world: World) -> Any:
    with TestClient(create_app(world.settings)) as c:
        yield c


@pytest.mark.parametrize("actor, status", [
    ("anonymous", 401), ("partnerA", 403), ("operator", 403), ("analyst", 403), ("admin", 200),
    ("revoked", 401),
])  # fmt: skip
@pytest.mark.parametrize("path", ["/admin/orgs", "/admin/keys", "/admin/agreements",
                                  "/admin/activations", "/admin/audit/verify", "/admin/usage/1"])
def test_admin_only(client: Any, world: World, actor: str, status: int, path: str) -> None:
    assert client.get(path, headers=auth(world, actor)).status_code == status


def test_admin_lifecycle(client: Any, world: World) -> None:
    h = auth(world, "admin")
    r = client.post("/admin/orgs", json={"name": "E", "kind": "company"}, headers=h)
    assert r.status_code == 201
    r = client.post("/admin/agreements", json={"org": "E", "title": "E1", "collections": ["res"],
                                               "aoi": AOI_A, "embargo_days": 0}, headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    agr = r.json()["id"]
    r = client.post("/admin/keys", json={"role": "partner", "org": "E"}, headers=h)
    assert r.status_code == 201
    key = {"Authorization": f"Bearer {r.json()['key']}"}
    assert client.get("/collections/res/items/fresh", headers=key).status_code == 200
    assert client.post(f"/admin/agreements/{agr}/suspend", headers=h).json()["status"] == "suspended"
    assert client.get("/collections/res/items/fresh", headers=key).status_code == 404
    r = client.post(f"/admin/agreements/{agr}/renew", json={"valid_to": "2099-01-01"}, headers=h)
    assert r.json()["status"] == "active" and r.json()["valid_to"].startswith("2099-01-01T23:59:59")
    assert client.get("/collections/res/items/fresh", headers=key).status_code == 200
    assert client.put("/collections/res/access", json={"level": "open"}, headers=h).status_code in (404, 405)
    assert client.put("/admin/collections/res/access", json={"level": "open"}, headers=h).status_code == 200
    assert client.get("/collections/res/items/out").status_code == 200  # now open to everyone
    client.put("/admin/collections/res/access", json={"level": "restricted"}, headers=h)
    r = client.post("/admin/activations", json={"name": "quake", "aoi": AOI_A, "days": 1}, headers=h)
    assert r.status_code == 201 and r.json()["org_ids"] is None
    assert client.get("/collections/res/items/fresh").status_code == 200  # public activation
    client.post(f"/admin/activations/{r.json()['id']}/close", headers=h)
    assert client.get("/collections/res/items/fresh").status_code == 404
    kid = [k for k in client.get("/admin/keys", headers=h).json() if k["org_id"] and k["revoked"] is None][-1]["id"]
    assert client.post(f"/admin/keys/{kid}/revoke", headers=h).status_code == 200
    assert client.get("/", headers=key).status_code == 401
    for fmt, ctype in (("json", "application/json"), ("csv", "text/csv"), ("png", "image/png")):
        r = client.get(f"/admin/usage/{agr}?format={fmt}", headers=h)
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
    v = client.get("/admin/audit/verify", headers=h).json()
    assert v["ok"] and v["records"] >= 8
    actions = [r["action"] for r in world.service.audit.records()]
    assert "admin.agreement.suspended" in actions and "admin.activation.open" in actions


@pytest.mark.parametrize("body", [
    {"org": "A", "title": "x", "collections": []},
    {"org": "nobody", "title": "x", "collections": ["res"]},
    {"org": "A", "title": "x", "collections": ["res"], "aoi": {"type": "Point", "coordinates": [0, 0]}},
    {"org": "A", "title": "x", "collections": ["res"], "valid_from": "2024-13-01"},
    {"org": "A", "title": "x", "collections": ["res"], "embargo_days": -1},
    {"org": "A'; DROP TABLE agreements; --", "title": "x", "collections": ["res"]},
])  # fmt: skip
def test_bad_agreements_are_4xx(client: Any, world: World, body: dict[str, Any]) -> None:
    r = client.post("/admin/agreements", json=body, headers=auth(world, "admin"))
    assert 400 <= r.status_code < 500, r.text


def test_an_aoi_given_as_a_feature_is_stored_as_its_geometry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Feature and one-feature FeatureCollection AOIs are accepted; what is stored (and what
    every later request of the partner builds its filter from) is the bare polygon."""
    import time as _time

    from sathub.access.models import Actor
    from sathub.access.policy import grants_filter
    from sathub.access.service import AccessService
    from sathub.config import Settings

    settings = Settings(data=tmp_path / "data")
    settings.layout.create()
    service = AccessService.for_layout(settings.layout)
    org = service.store.add_org("Uni", "university").id
    poly = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    for aoi in ({"type": "Feature", "properties": {}, "geometry": poly},
                {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": poly}]}):  # fmt: skip
        a = service.store.add_agreement(org, title="t", collections=("c",), aoi=aoi)
        assert service.store.agreement(a.id).aoi == poly
        actor = Actor(role="partner", org_id=org, agreements=(service.store.agreement(a.id),),
                      activations=(), restricted=frozenset({"c"}))  # fmt: skip
        assert grants_filter(actor, _time.time()) is not None
    service.close()


def test_cli_restrict_or_open_an_unknown_collection_is_an_error(tmp_path: Path) -> None:
    """`collections restrict does-not-exist` printed "restricted" and exited 0."""
    from typer.testing import CliRunner

    from sathub.access.service import AccessService
    from sathub.catalog.sqlite import SQLiteStore
    from sathub.cli import app
    from sathub.ingest.collections import new_collection

    runner = CliRunner()
    data = tmp_path / "d"
    assert runner.invoke(app, ["init", str(data)]).exit_code == 0
    store = SQLiteStore(data / "catalog.db")
    with store.transaction() as tx:
        tx.put_collection(new_collection("real"), mode="insert")
    store.close()
    for verb in ("restrict", "open"):
        r = runner.invoke(app, ["collections", verb, "does-not-exist", "--data", str(data)])
        assert r.exit_code == 2, r.output
        assert "does-not-exist" in r.stderr and "restricted" not in r.stderr
    r = runner.invoke(app, ["collections", "restrict", "real", "--data", str(data)])
    assert r.exit_code == 0 and "real: restricted" in r.stderr
    service = AccessService(data, data / "secrets")
    assert service.store.restricted_collections() == frozenset({"real"})
    actions = [(x["action"], x["resource"]) for x in service.audit.records()]
    assert ("admin.collection.restricted", "collection:real") in actions
    assert not any("does-not-exist" in res for _, res in actions)


@pytest.mark.parametrize("method, route", [
    ("post", "/admin/keys/{}/revoke"), ("post", "/admin/agreements/{}/suspend"),
    ("post", "/admin/agreements/{}/terminate"), ("get", "/admin/usage/{}"),
    ("post", "/admin/activations/{}/close"),
])  # fmt: skip
def test_ids_beyond_64_bits_are_a_400_naming_the_id(client: Any, world: World, method: str,
                                                    route: str) -> None:  # fmt: skip
    """An id no database integer can hold was an OverflowError from sqlite3, a 500 (found by
    schemathesis's stateful phase); the largest 64-bit id is an ordinary unknown one."""
    h = auth(world, "admin")
    r = client.request(method, route.format(2**109), headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["field"].endswith("_id")
    assert client.request(method, route.format(2**63 - 1), headers=h).status_code == 404
    assert client.request(method, route.format(2**109)).status_code == 401  # the gate first


def test_the_document_declares_the_transaction_bodies(client: Any, world: World) -> None:
    """The transaction routes read their raw body, so the OpenAPI document had none for them
    (schemathesis and client generators sent empty POST /collections); a collection and an
    item the server takes are valid against what it now declares, and an empty body is not."""
    import jsonschema
    from test_access_fixtures import box, collection, item

    paths = client.get("/api").json()["paths"]

    def body(path: str, method: str, media: str = "application/json") -> dict[str, Any]:
        return paths[path][method]["requestBody"]["content"][media]["schema"]

    coll, it = collection("new"), item("n1", "new", box(1, 1, 2, 2), 1.7e9)
    jsonschema.validate(coll, body("/collections", "post"))
    jsonschema.validate(coll, body("/collections/{collection_id}", "put"))
    jsonschema.validate(it, body("/collections/{collection_id}/items", "post"))
    jsonschema.validate(it, body("/collections/{collection_id}/items/{item_id}", "put"))
    jsonschema.validate({"items": {"n1": it}}, body("/collections/{collection_id}/bulk_items", "post"))
    for path in ("/collections", "/collections/{collection_id}/items"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({}, body(path, "post"))
    for path in ("/collections/{collection_id}", "/collections/{collection_id}/items/{item_id}"):
        assert set(paths[path]["patch"]["requestBody"]["content"]) == {
            "application/merge-patch+json", "application/json-patch+json"}
    h = auth(world, "admin")
    assert client.post("/collections", json=coll, headers=h).status_code == 201
    assert client.post("/collections/new/items", json=it, headers=h).status_code == 201
