"""The access matrix: every endpoint × role × resource state, each outcome asserted.

Resource states (see ``build_world``): an open item; a restricted item in the AOI of an active
agreement; one out of the AOI; one before the embargo ends; an expired and a suspended
agreement; revoked and expired keys; an item opened by a disaster activation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_access_fixtures import World, auth, box, build_world, collection, item

from sathub.api.app import create_app

ACTORS = ["anonymous", "admin", "operator", "analyst", "partnerA", "partnerB", "partnerC", "partnerD"]
RES_ITEMS = ["in", "out", "fresh", "act"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("access") / "data")


@pytest.fixture(scope="module")
def client(world: World) -> Any:
    with TestClient(create_app(world.settings)) as c:
        yield c


def _ids(body: dict[str, Any]) -> set[str]:
    return {f["id"] for f in body["features"]}


def _res_visible(world: World, actor: str) -> bool:
    return bool(world.visible[actor] - {"o1"}) or actor in ("admin", "operator", "analyst")


@pytest.mark.parametrize("actor", ACTORS)
def test_search_get_post_items_and_aggregate(client: Any, world: World, actor: str) -> None:
    h = auth(world, actor)
    expect = world.visible[actor]
    # GET and POST /search, across pages of 1
    for method in ("GET", "POST"):
        seen: list[str] = []
        body: dict[str, Any] = {"limit": 1}
        url = "/search?limit=1"
        while True:
            r = client.get(url, headers=h) if method == "GET" else client.post("/search", json=body, headers=h)
            assert r.status_code == 200, r.text
            page = r.json()
            assert page["numberMatched"] == len(expect)
            seen += [f["id"] for f in page["features"]]
            nxt = [link for link in page["links"] if link["rel"] == "next"]
            if not nxt:
                break
            url, body = nxt[0]["href"].replace("http://testserver", ""), nxt[0].get("body", {})
        assert sorted(seen) == sorted(expect), method
    # one item at a time: visible → 200, anything else → 404 (never 403)
    for iid in RES_ITEMS:
        r = client.get(f"/collections/res/items/{iid}", headers=h)
        assert r.status_code == (200 if iid in expect else 404), (iid, r.text)
        if r.status_code == 404:
            assert iid not in r.text or "not found" in r.text
    assert client.get("/collections/open/items/o1", headers=h).status_code == 200
    # aggregation applies the same filter
    r = client.get("/aggregate?aggregations=total_count,collection_frequency", headers=h)
    assert r.status_code == 200
    aggs = {a["name"]: a for a in r.json()["aggregations"]}
    assert aggs["total_count"]["value"] == len(expect)
    r = client.post("/aggregate", json={"aggregations": ["total_count"], "collections": ["res"]}, headers=h)
    assert r.status_code == 200 and r.json()["aggregations"][0]["value"] == len(expect - {"o1"})


@pytest.mark.parametrize("actor", ACTORS)
def test_collections_visibility(client: Any, world: World, actor: str) -> None:
    h = auth(world, actor)
    visible = _res_visible(world, actor)
    ids = {c["id"] for c in client.get("/collections", headers=h).json()["collections"]}
    assert ids == ({"open", "res"} if visible else {"open"})
    links = {link.get("href", "").rsplit("/", 1)[-1] for link in client.get("/", headers=h).json()["links"]
             if link["rel"] == "child"}  # fmt: skip
    assert ("res" in links) == visible
    for path in ("/collections/res", "/collections/res/items", "/collections/res/queryables",
                 "/collections/res/aggregate?aggregations=total_count"):
        r = client.get(path, headers=h)
        assert r.status_code == (200 if visible else 404), (path, r.text)
    r = client.get("/collections/res/items", headers=h)
    if visible:
        assert _ids(r.json()) == world.visible[actor] - {"o1"}


@pytest.mark.parametrize("actor, status", [
    ("anonymous", 401), ("admin", 201), ("operator", 201), ("analyst", 403),
    ("partnerA", 403), ("partnerD", 403), ("revoked", 401), ("expired", 401),
])  # fmt: skip
def test_transactions(client: Any, world: World, actor: str, status: int) -> None:
    h = auth(world, actor)
    new = item(f"w-{actor}", "open", box(0, 0, 1, 1), 1.7e9)
    r = client.post("/collections/open/items", json=new, headers=h)
    assert r.status_code == status, r.text
    if status == 201:
        assert client.delete(f"/collections/open/items/w-{actor}", headers=h).status_code in (200, 204)
    r = client.post("/collections", json=collection(f"c-{actor}"), headers=h)
    assert r.status_code == status
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [
    "Bearer ", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer sh_" + "A" * 43, "Token x",
    "Bearer " + "x" * 600,
])  # fmt: skip
@pytest.mark.parametrize("path", ["/", "/search", "/collections", "/collections/open/items/o1"])
def test_bad_keys_are_401_everywhere(client: Any, header: str, path: str) -> None:
    r = client.get(path, headers={"Authorization": header})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "Unauthorized"


@pytest.mark.parametrize("key", ["revoked", "expired"])
def test_revoked_and_expired_keys(client: Any, world: World, key: str) -> None:
    for path in ("/", "/search", "/collections/res/items/in", "/collections/open/items/o1"):
        r = client.get(path, headers=auth(world, key))
        assert r.status_code == 401, path
        assert ("revoked" if key == "revoked" else "expired") in r.json()["description"]


FILTERS_THAT_TRY_TO_WIDEN = [
    {"filter": "collection = 'res' OR collection <> 'res'"},
    {"filter": "true OR collection = 'res'"},
    {"filter": '{"op":"or","args":[{"op":"=","args":[1,1]},{"op":"=","args":[{"property":"id"},"in"]}]}',
     "filter-lang": "cql2-json"},
    {"filter": "id = 'in') OR (1=1"},
    {"ids": "in' OR '1'='1,in,out,fresh,act"},
    {"collections": "res') OR 1=1 --,res"},
    {"q": "'); DROP TABLE items; --"},
    {"sortby": "id; DROP TABLE items"},
    {"token": "W1sxLDJdXQ"},
    {"bbox": "-180,-90,180,90", "datetime": "../.."},
    {"intersects": '{"type":"Polygon","coordinates":[[[-180,-90],[180,-90],[180,90],[-180,90],[-180,-90]]]}'},
]


@pytest.mark.parametrize("params", FILTERS_THAT_TRY_TO_WIDEN)
@pytest.mark.parametrize("actor", ["anonymous", "partnerA", "partnerB"])
def test_filters_and_injection_cannot_widen_the_grants(client: Any, world: World,
                                                       params: dict[str, str], actor: str) -> None:  # fmt: skip
    h = auth(world, actor)
    r = client.get("/search", params={**params, "limit": 100}, headers=h)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert _ids(r.json()) <= world.visible[actor]
    assert r.status_code != 500
    for agg in ("/aggregate", "/collections/res/items"):
        r = client.get(agg, params={**params, "aggregations": "total_count"}, headers=h)
        assert r.status_code in (200, 400, 404)
        if r.status_code == 200 and "aggregations" in r.json():
            assert r.json()["aggregations"][0]["value"] <= len(world.visible[actor])
        elif r.status_code == 200:
            assert _ids(r.json()) <= world.visible[actor]


@pytest.mark.parametrize("iid", ["in' OR '1'='1", "in%27%20OR%201=1", "in\" OR 1=1 --", "*", "%"])
def test_guessed_and_injected_item_ids_are_404(client: Any, world: World, iid: str) -> None:
    r = client.get(f"/collections/res/items/{iid}", headers=auth(world, "partnerB"))
    assert r.status_code == 404
    r = client.get("/collections/res/items/in")
    assert r.status_code == 404 and "in" not in r.json().get("field", "")


def test_oversized_aoi_in_search_is_a_4xx_not_a_leak(client: Any, world: World) -> None:
    ring = [[95 + i * 1e-4, 20.0] for i in range(20000)] + [[97, 22], [95, 20.0]]
    r = client.post("/search", json={"intersects": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code in (200, 400, 413)
    if r.status_code == 200:
        assert _ids(r.json()) <= world.visible["anonymous"]


def test_no_keys_is_not_an_open_installation(tmp_path: Path) -> None:
    """A data directory without keys refuses writes; only the explicit development switch
    (printed by the server at start-up) opens it."""
    from sathub.config import Settings

    with TestClient(create_app(Settings(data=tmp_path / "d"))) as c:
        r = c.post("/collections", json=collection("x"))
        assert r.status_code == 401 and "write to the catalog" in r.json()["description"]
        assert c.get("/collections/x").status_code == 404
    with TestClient(create_app(Settings(data=tmp_path / "d", dev_open_writes=True))) as c:
        assert c.post("/collections", json=collection("x")).status_code == 201
        assert c.get("/collections/x").status_code == 200
