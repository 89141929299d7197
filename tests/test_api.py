"""The STAC API over the real items: core, collections, features, search, extensions, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

GEOJSON = "application/geo+json"


def test_landing_conformance_and_links(api: Any) -> None:
    r = api.get("/")
    assert r.status_code == 200
    body = r.json()
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "root", "conformance", "data", "search", "service-desc", "child"} <= rels
    conf = api.get("/conformance").json()["conformsTo"]
    for needle in ("core", "item-search", "ogcapi-features", "collections", "filter", "sort",
                   "fields", "query", "transaction", "free-text", "aggregation", "collection-search"):
        assert any(needle in c for c in conf), needle


def test_collections_and_items_paging_never_skips_or_repeats(api: Any) -> None:
    cols = api.get("/collections").json()["collections"]
    assert {"naip", "sentinel-2-l2a", "landsat-c2-l2"} <= {c["id"] for c in cols}
    seen: list[str] = []
    url = "/collections/landsat-c2-l2/items?limit=7"
    while url:
        r = api.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
        body = r.json()
        seen += [f["id"] for f in body["features"]]
        nxt = [link for link in body["links"] if link["rel"] == "next"]
        url = nxt[0]["href"] if nxt else ""
    assert len(seen) == 100 and len(set(seen)) == 100


def test_post_search_paging_with_sort_and_filter(api: Any) -> None:
    body = {"collections": ["sentinel-2-l2a"], "limit": 50,
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
            "sortby": [{"field": "eo:cloud_cover", "direction": "asc"}]}  # fmt: skip
    ids, clouds = [], []
    first = api.post("/search", json=body).json()
    matched = first["numberMatched"]
    page = first
    while True:
        ids += [f["id"] for f in page["features"]]
        clouds += [f["properties"]["eo:cloud_cover"] for f in page["features"]]
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        assert nxt[0]["method"] == "POST"
        page = api.post("/search", json=nxt[0]["body"]).json()
    assert len(ids) == matched == len(set(ids)) > 50
    assert clouds == sorted(clouds) and max(clouds) < 20


@pytest.mark.parametrize("trusted", ["", "testclient", "*"])
def test_proxy_headers_only_from_a_trusted_proxy(real_data: Any, trusted: str) -> None:
    """X-Forwarded-* and Forwarded rewrite links only when they come from a configured proxy
    (the TestClient's address is ``testclient``); anyone else's are dropped before the
    rewrite (they used to win: the middlewares ran in the reverse of the intended order)."""
    from fastapi.testclient import TestClient

    from sathub.api.app import create_app
    from sathub.config import Settings

    with TestClient(create_app(Settings(data=real_data, trusted_proxies=trusted))) as api:
        iid = api.get("/collections/naip/items?limit=1").json()["features"][0]["id"]
        for headers in ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "eo.example.org"},
                        {"Forwarded": "proto=https;host=eo.example.org"}):  # fmt: skip
            r = api.get(f"/collections/naip/items/{iid}", headers=headers)
            assert r.status_code == 200
            self_link = next(link for link in r.json()["links"] if link["rel"] == "self")
            expect = "https://eo.example.org/" if trusted else "http://testserver/"
            assert self_link["href"].startswith(expect + "collections/naip/items/"), (trusted, headers)


def test_refusals_carry_cors_headers(api: Any) -> None:
    """A browser sees a 401 (bad key) or a 413 as what it is, not as a CORS failure."""
    origin = {"Origin": "https://partner.example.org"}
    r = api.get("/search", headers={**origin, "Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*"
    assert "www-authenticate" in r.headers["access-control-expose-headers"].lower()


def test_root_path_behind_a_proxy(real_data: Any) -> None:
    from fastapi.testclient import TestClient

    from sathub.api.app import create_app
    from sathub.config import Settings

    with TestClient(create_app(Settings(data=real_data, root_path="/stac")), root_path="/stac") as c:
        body = c.get("/stac/collections/naip").json()
        hrefs = [link["href"] for link in body["links"] if link["rel"] in ("self", "items")]
        assert all("/stac/collections/naip" in h for h in hrefs), hrefs


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"bbox": "-88,30,-87.9,30.2", "collections": "naip"}, lambda f: f["collection"] == "naip"),
        ({"datetime": "2023-01-01T00:00:00Z/..", "collections": "naip"}, lambda f: f["properties"]["datetime"] >= "2023"),
        ({"datetime": "../2012-01-01T00:00:00Z", "collections": "naip"}, lambda f: f["properties"]["datetime"] < "2012"),
        ({"filter": "eo:cloud_cover < 1", "filter-lang": "cql2-text"}, lambda f: f["properties"]["eo:cloud_cover"] < 1),
        ({"query": json.dumps({"eo:cloud_cover": {"gte": 99}})}, lambda f: f["properties"]["eo:cloud_cover"] >= 99),
        ({"ids": "S2B_MSIL2A_20240828T174909_R141_T12SXF_20240828T214916"}, lambda f: f["id"].startswith("S2B")),
        ({"q": "landsat", "collections": "landsat-c2-l2"}, lambda f: f["collection"] == "landsat-c2-l2"),
    ],
)  # fmt: skip
def test_get_search_parameters(api: Any, params: dict[str, str], expect: Any) -> None:
    r = api.get("/search", params={**params, "limit": 20})
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    assert feats and all(expect(f) for f in feats)


def test_intersects_and_antimeridian_real_items(api: Any) -> None:
    poly = {"type": "Polygon", "coordinates": [[[-105, 37], [-104, 37], [-104, 38], [-105, 38], [-105, 37]]]}
    r = api.post("/search", json={"intersects": poly, "limit": 100})
    assert r.status_code == 200 and r.json()["features"]
    import shapely

    area = shapely.geometry.shape(poly)
    assert all(shapely.geometry.shape(f["geometry"]).intersects(area) for f in r.json()["features"])
    # the Antarctic items of UTM zone 1 lie near the antimeridian: a bbox crossing it finds them
    r = api.get("/search", params={"bbox": "170,-85,-170,-70", "limit": 200})
    assert r.status_code == 200
    assert {f["collection"] for f in r.json()["features"]} == {"sentinel-s2-l2a-cogs-test"}


def test_fields_sort_and_free_text(api: Any) -> None:
    r = api.get("/search", params={"collections": "naip", "fields": "-assets,-properties,+properties.gsd", "limit": 2})
    f = r.json()["features"][0]
    assert "assets" not in f and set(f["properties"]) == {"gsd"}
    r = api.get("/search", params={"collections": "naip", "sortby": "+datetime", "limit": 5})
    dts = [f["properties"]["datetime"] for f in r.json()["features"]]
    assert dts == sorted(dts)
    r = api.get("/collections", params={"q": "landsat"})
    assert [c["id"] for c in r.json()["collections"]] == ["landsat-c2-l2"]
    r = api.get("/collections", params={"bbox": "-88,30,-87,31"})
    assert "naip" in [c["id"] for c in r.json()["collections"]]


def test_queryables(api: Any) -> None:
    q = api.get("/collections/sentinel-2-l2a/queryables").json()
    assert q["$id"].endswith("/collections/sentinel-2-l2a/queryables")
    assert {"eo:cloud_cover", "s2:mgrs_tile", "datetime", "geometry"} <= set(q["properties"])
    assert q["properties"]["eo:cloud_cover"]["type"] == "number"


def test_aggregation(api: Any) -> None:
    r = api.get("/aggregate", params={
        "aggregations": "total_count,collection_frequency,datetime_frequency,cloud_cover_frequency,"
                        "geohash_grid_frequency,geotile_grid_frequency",
        "collections": "sentinel-2-l2a,naip", "geohash_grid_frequency_precision": "2",
        "geotile_grid_frequency_precision": "4", "datetime_frequency_interval": "year"})  # fmt: skip
    assert r.status_code == 200, r.text
    aggs = {a["name"]: a for a in r.json()["aggregations"]}
    assert aggs["total_count"]["value"] == 2000
    freq = {b["key"]: b["frequency"] for b in aggs["collection_frequency"]["buckets"]}
    assert freq == {"naip": 1000, "sentinel-2-l2a": 1000}
    years = {b["key"]: b["frequency"] for b in aggs["datetime_frequency"]["buckets"]}
    assert years["2024"] == 1000 and sum(years.values()) == 2000
    assert sum(b["frequency"] for b in aggs["cloud_cover_frequency"]["buckets"]) == 1000
    assert sum(b["frequency"] for b in aggs["geohash_grid_frequency"]["buckets"]) == 2000
    assert all(len(b["key"]) == 2 for b in aggs["geohash_grid_frequency"]["buckets"])
    assert all(b["key"].startswith("4/") for b in aggs["geotile_grid_frequency"]["buckets"])
    # the same filter as search sees the same items
    n = api.get("/search", params={"filter": "eo:cloud_cover < 5", "limit": 1}).json()["numberMatched"]
    a = api.get("/aggregate", params={"aggregations": "total_count", "filter": "eo:cloud_cover < 5"}).json()
    assert a["aggregations"][0]["value"] == n


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "field"),
    [
        ("get", "/search", {"params": {"bbox": "1,2,3"}}, 400, None),
        ("get", "/search", {"params": {"bbox": "10,20,5,95"}}, 400, "bbox"),
        ("get", "/search", {"params": {"datetime": "not-a-date"}}, 400, None),
        ("get", "/search", {"params": {"datetime": "2024-02-01T00:00:00Z/2023-01-01T00:00:00Z"}}, 400, None),
        ("get", "/search", {"params": {"filter": "eo:cloud_cover <"}}, 400, "filter"),
        ("get", "/search", {"params": {"filter": "no_such_property = 3"}}, 400, "filter"),
        ("get", "/search", {"params": {"sortby": "no_such_property"}}, 400, "sortby"),
        ("get", "/search", {"params": {"limit": "0"}}, 400, None),
        ("get", "/search", {"params": {"limit": "ten"}}, 400, None),
        ("get", "/search", {"params": {"token": "!!!"}}, 400, "token"),
        ("get", "/search", {"params": {"query": "{bad json"}}, 400, "query"),
        ("post", "/search", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, None),
        ("post", "/search", {"json": {"intersects": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}}, 400, "intersects"),
        ("post", "/search", {"json": {"intersects": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]}}}, 400, None),
        ("post", "/search", {"json": {"filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}]}}}, 400, None),
        # a filter that is neither text nor an object (answered 500 on /mosaic/register)
        ("post", "/mosaic/register", {"json": {"filter": [[1]]}}, 400, "filter"),
        ("post", "/mosaic/register", {"json": {"filter": 3}}, 400, "filter"),
        ("get", "/collections/no-such-collection", {}, 404, None),
        ("get", "/collections/no-such-collection/items", {}, 404, None),
        ("get", "/collections/naip/items/no-such-item", {}, 404, None),
        ("get", "/aggregate", {"params": {"aggregations": "nope"}}, 400, "aggregations"),
    ],
)  # fmt: skip
def test_bad_input_is_a_json_4xx(api: Any, method: str, url: str, kwargs: dict[str, Any], status: int, field: str | None) -> None:
    r = getattr(api, method)(url, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] and body["description"]
    if field:
        assert body.get("field") == field, body


def test_limit_above_maximum_is_capped(api: Any) -> None:
    r = api.get("/search", params={"limit": "1000000", "collections": "landsat-c2-l2"})
    assert r.status_code == 200 and len(r.json()["features"]) == 100


def test_transactions_and_bulk(empty_api: Any) -> None:
    c = empty_api
    coll = {"type": "Collection", "id": "t", "description": "d", "license": "CC0-1.0", "stac_version": "1.0.0",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
            "links": [], "x:custom": {"kept": True}}  # fmt: skip
    assert c.post("/collections", json=coll).status_code == 201
    assert c.post("/collections", json=coll).status_code == 409
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "i1", "collection": "t",
            "geometry": {"type": "Point", "coordinates": [96.1, 21.9]},
            "properties": {"datetime": "2024-07-01T04:00:00Z", "x:odd": [1, {"a": None}]},
            "assets": {}}  # no links: accepted leniently  # fmt: skip
    r = c.post("/collections/t/items", json=item)
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("/collections/t/items/i1")
    got = c.get("/collections/t/items/i1").json()
    assert got["properties"]["x:odd"] == [1, {"a": None}]
    assert c.post("/collections/t/items", json=item).status_code == 409
    item2 = {**item, "properties": {**item["properties"], "eo:cloud_cover": 3}}
    assert c.put("/collections/t/items/i1", json=item2).status_code == 204
    r = c.patch("/collections/t/items/i1", json={"properties": {"x:odd": None, "new": 1}},
                headers={"Prefer": "return=representation"})  # fmt: skip
    assert r.status_code == 200 and "x:odd" not in r.json()["properties"] and r.json()["properties"]["new"] == 1
    r = c.patch("/collections/t/items/i1", json=[{"op": "replace", "path": "/properties/new", "value": 2}],
                headers={"content-type": "application/json-patch+json"})  # fmt: skip
    assert r.status_code == 204
    assert c.get("/collections/t/items/i1").json()["properties"]["new"] == 2
    bulk = {"items": {f"b{n}": {**item, "id": f"b{n}"} for n in range(5)}, "method": "insert"}
    assert c.post("/collections/t/bulk_items", json=bulk).status_code == 200
    bulk["items"]["b9"] = {**item, "id": "b9", "geometry": {"type": "Point", "coordinates": [500, 0]}}
    bulk["method"] = "upsert"
    r = c.post("/collections/t/bulk_items", json=bulk)
    assert r.status_code == 400 and r.json()["field"] == "geometry"
    assert c.get("/collections/t/items/b9").status_code == 404  # nothing of the failed batch
    fc = {"type": "FeatureCollection", "features": [{**item, "id": f"f{n}"} for n in range(3)]}
    assert c.post("/collections/t/items", json=fc).status_code == 201
    assert c.get("/search", params={"collections": "t"}).json()["numberMatched"] == 1 + 5 + 3
    assert c.delete("/collections/t/items/i1").status_code == 204
    assert c.delete("/collections/t/items/i1").status_code == 404
    assert c.get("/collections/t").json()["x:custom"] == {"kept": True}
    assert c.delete("/collections/t").status_code == 204
    assert c.get("/collections/t").status_code == 404


def test_oversized_body_is_413(empty_api: Any) -> None:
    app = empty_api.app
    limit = app.state.installation.settings.max_body_bytes
    r = empty_api.post("/search", content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"


def test_pystac_client_searches_pages_and_filters(live_server: Any) -> None:
    from pystac_client import Client

    client = Client.open(live_server.url)
    search = client.search(collections=["landsat-c2-l2"], max_items=None, limit=9,
                           datetime="2024-01-01/2024-12-31")  # fmt: skip
    items = list(search.items())
    assert items and len({i.id for i in items}) == len(items)
    assert all(i.datetime is not None and i.datetime.year == 2024 for i in items)
    filtered = list(client.search(collections=["sentinel-2-l2a"], filter="eo:cloud_cover < 2",
                                  limit=20, max_items=60).items())  # fmt: skip
    assert filtered and all(i.properties["eo:cloud_cover"] < 2 for i in filtered)
    assert {c.id for c in client.get_collections()} >= {"naip", "landsat-c2-l2"}
