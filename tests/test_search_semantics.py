"""Search answers what clients send, right (issue 13), and leaks nothing (issue 11, item 3).

Every expected value is a brute force over the items the API itself lists (paged through with
no filter): cql2-text in POST bodies (pystac-client's default), single-argument ``and``/``or``
(STAC Browser), the Query extension with numbers written as strings (the STAC API validator)
and the reverse, ``/aggregate`` with a filter, ``first``/``prev``/``next`` links walked both
ways over GET and POST, the v1.0.0 sort conformance classes; and property names of a hidden
collection answering exactly like unknown ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from test_access_fixtures import World, auth, build_world

COLL = "sentinel-2-c1-l2a"  # 10 earth-search items
PC_S2 = "sentinel-2-l2a"  # 1,000 Planetary Computer items: integer orbits, "05.10"/"05.11" baselines


def all_items(api: Any, collection: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url: str | None = f"/collections/{collection}/items?limit=500"
    while url:
        page = api.get(url).json()
        out += page["features"]
        url = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)
    return out


def ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["features"]]


# ------------------------------------------------------------- what clients send
def test_cql2_text_in_a_post_body(api: Any) -> None:
    """pystac-client POSTs ``filter`` as text with ``filter-lang: cql2-text``; it used to be a
    400 ("filter-lang should be cql2-json")."""
    text = "eo:cloud_cover < 20 AND platform = 'sentinel-2a'"
    want = sorted(ids(api.get("/search", params={"collections": COLL, "filter": text, "limit": 100})))
    assert want  # the filter selects something
    for body in ({"filter": text, "filter-lang": "cql2-text"}, {"filter": text}):
        got = ids(api.post("/search", json={"collections": [COLL], "limit": 100, **body}))
        assert sorted(got) == want
    brute = sorted(it["id"] for it in all_items(api, COLL)
                   if it["properties"]["eo:cloud_cover"] < 20 and it["properties"]["platform"] == "sentinel-2a")  # fmt: skip
    assert want == brute


def test_single_argument_and_or(api: Any) -> None:
    """STAC Browser sends one filter as an ``and`` of one argument; it used to be a 400."""
    leaf = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}
    want = sorted(ids(api.post("/search", json={"collections": [COLL], "filter": leaf, "limit": 100})))
    assert want
    for op in ("and", "or"):
        body = {"collections": [COLL], "filter": {"op": op, "args": [leaf]}, "limit": 100}
        assert sorted(ids(api.post("/search", json=body))) == want
    nested = {"op": "and", "args": [{"op": "or", "args": [leaf]}]}
    r = api.get("/search", params={"collections": COLL, "filter": __import__("json").dumps(nested),
                                   "filter-lang": "cql2-json", "limit": 100})  # fmt: skip
    assert sorted(ids(r)) == want


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize(("prop", "as_string"), [("sat:relative_orbit", True), ("s2:processing_baseline", False)])
def test_query_extension_numbers_and_numeric_strings(api: Any, prop: str, as_string: bool) -> None:
    """``{"sat:relative_orbit": {"eq": "98"}}`` (a number sent as a string, as the STAC API
    validator sends it) matches the integer 98; ``{"s2:processing_baseline": {"eq": 5.1}}``
    matches "05.10"; ``neq`` returns the others, not everything; ``lt``/``gte`` compare as
    numbers."""
    items = all_items(api, PC_S2)
    values = [_num(it["properties"].get(prop)) for it in items]
    present = sorted({v for v in values if v is not None})
    assert len(present) >= 2, present
    v = present[len(present) // 2]
    given: Any = (str(int(v)) if v.is_integer() else str(v)) if as_string else v
    checks = {"eq": lambda x: x == v, "neq": lambda x: x != v, "lt": lambda x: x < v,
              "gte": lambda x: x >= v}  # fmt: skip
    for op, keep in checks.items():
        want = sorted(it["id"] for it, x in zip(items, values) if x is not None and keep(x))
        r = api.post("/search", json={"collections": [PC_S2], "limit": 1000, "query": {prop: {op: given}}})
        assert sorted(ids(r)) == want, (prop, op, given)
        assert 0 < len(want) < len(items) or op in ("lt", "gte")
    want = sorted(it["id"] for it, x in zip(items, values) if x == v)
    r = api.post("/search", json={"collections": [PC_S2], "limit": 1000, "query": {prop: {"in": [given]}}})
    assert sorted(ids(r)) == want


def test_aggregate_post_honours_the_filter(api: Any) -> None:
    """POST /aggregate used to ignore ``filter`` (136 returned where 99 match)."""
    flt = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]}
    n_all = api.post("/aggregate", json={"collections": [COLL], "aggregations": ["total_count"]}).json()
    matched = api.post("/search", json={"collections": [COLL], "filter": flt, "limit": 1}).json()["numberMatched"]
    brute = sum(it["properties"]["eo:cloud_cover"] < 20 for it in all_items(api, COLL))
    assert matched == brute and 0 < brute < n_all["aggregations"][0]["value"]
    for body in ({"filter": flt}, {"filter": "eo:cloud_cover < 20", "filter-lang": "cql2-text"},
                 {"query": {"eo:cloud_cover": {"lt": "20"}}}):  # fmt: skip
        r = api.post("/aggregate", json={"collections": [COLL], "aggregations": ["total_count"], **body})
        assert r.status_code == 200, r.text
        assert r.json()["aggregations"][0]["value"] == brute, body
    r = api.get("/aggregate", params={"collections": COLL, "aggregations": "total_count",
                                      "filter": "eo:cloud_cover < 20"})  # fmt: skip
    assert r.json()["aggregations"][0]["value"] == brute


def test_a_thousand_anded_terms_are_answered(api: Any) -> None:
    """1,000 ANDed terms fit the CQL2 bounds, but as a chain they made an SQL expression tree
    1,000 deep: SQLite refused it ("Expression tree is too large"), a 500 in /aggregate. The
    terms are now a balanced tree: answered, and equal to a brute force, also under NOT."""
    items = all_items(api, COLL)
    cc = {it["id"]: it["properties"]["eo:cloud_cover"] for it in items}
    terms = " AND ".join(f"eo:cloud_cover < {20 + k / 1000}" for k in range(1000))
    want = sorted(i for i, v in cc.items() if v < 20)
    assert 0 < len(want) < len(items)
    for f in (terms, f"NOT (NOT ({terms}))"):
        body = {"collections": [COLL], "filter": f, "filter-lang": "cql2-text", "limit": 100}
        assert sorted(ids(api.post("/search", json=body))) == want
        r = api.post("/aggregate", json={**body, "aggregations": ["total_count"]})
        assert r.status_code == 200, r.text
        assert r.json()["aggregations"][0]["value"] == len(want)
    body = {"collections": [COLL], "filter": f"NOT ({terms})", "filter-lang": "cql2-text", "limit": 100}
    assert sorted(ids(api.post("/search", json=body))) == sorted(i for i, v in cc.items() if v >= 20)


def test_sort_is_advertised_under_both_versions(api: Any) -> None:
    conforms = set(api.get("/conformance").json()["conformsTo"])
    for version in ("v1.0.0", "v1.1.0"):
        assert f"https://api.stacspec.org/{version}/item-search#sort" in conforms
        assert f"https://api.stacspec.org/{version}/ogcapi-features#sort" in conforms
    assert "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions" in conforms


# ------------------------------------------------------------------ paging links
def _link(page: dict[str, Any], rel: str) -> dict[str, Any] | None:
    return next((ln for ln in page["links"] if ln["rel"] == rel), None)


def _follow(api: Any, link: dict[str, Any]) -> dict[str, Any]:
    if link.get("method") == "POST":
        r = api.post(link["href"], json=link["body"])
    else:
        r = api.get(link["href"])
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("sortby", [None, "-eo:cloud_cover,id"])
def test_first_prev_next_walk_both_ways(api: Any, method: str, sortby: str | None) -> None:
    """Walk every page forward by ``next``, then back by ``prev``: the same pages in reverse;
    ``first`` leads to page one; page one has neither ``first`` nor ``prev``."""
    params: dict[str, Any] = {"collections": PC_S2, "limit": 40, "filter": "eo:cloud_cover < 20"}
    if sortby:
        params["sortby"] = sortby
    if method == "GET":
        page = api.get("/search", params=params).json()
    else:
        body = {**params, "collections": [PC_S2], "filter-lang": "cql2-text"}
        if sortby:
            body["sortby"] = [{"field": f.lstrip("-"), "direction": "desc" if f.startswith("-") else "asc"}
                              for f in sortby.split(",")]  # fmt: skip
        page = api.post("/search", json=body).json()
    first_ids = [f["id"] for f in page["features"]]
    assert _link(page, "prev") is None and _link(page, "first") is None
    forward = [first_ids]
    while (nxt := _link(page, "next")) is not None:
        page = _follow(api, nxt)
        forward.append([f["id"] for f in page["features"]])
        assert _link(page, "prev") is not None and _link(page, "first") is not None
    assert len(forward) >= 3
    flat = [i for p in forward for i in p]
    assert len(flat) == len(set(flat)) == page["numberMatched"]
    backward = [[f["id"] for f in page["features"]]]
    while (prev := _link(page, "prev")) is not None:
        page = _follow(api, prev)
        backward.append([f["id"] for f in page["features"]])
        assert _link(page, "next") is not None
    assert backward[::-1] == forward
    again = _follow(api, _link(_follow(api, _link(page, "next")), "first"))  # type: ignore[arg-type]
    assert [f["id"] for f in again["features"]] == first_ids


def test_items_pages_have_first_and_prev(api: Any) -> None:
    page = api.get(f"/collections/{COLL}/items", params={"limit": 4}).json()
    second = _follow(api, _link(page, "next"))  # type: ignore[arg-type]
    back = _follow(api, _link(second, "prev"))  # type: ignore[arg-type]
    assert [f["id"] for f in back["features"]] == [f["id"] for f in page["features"]]
    assert "token" not in _link(second, "first")["href"]  # type: ignore[index]


def test_a_bad_token_is_a_400(api: Any) -> None:
    import base64

    for token in ("!!!", base64.urlsafe_b64encode(b'{"before": [[1], 2, 3]}').decode(), "W10"):
        r = api.get("/search", params={"collections": COLL, "token": token})
        assert r.status_code == 400 and r.json()["field"] == "token", r.text


# ------------------------------------------------------- hidden collections' names
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from sathub.catalog.sqlite import SQLiteStore

    w = build_world(tmp_path_factory.mktemp("leak") / "data")
    store = SQLiteStore(w.settings.layout.catalog_db)
    secret = {**w.items["in"], "id": "secret-1"}
    secret["properties"] = {**secret["properties"], "res:classified_band": 7}
    # a derived product in the open collection whose input is the restricted secret-1
    derived = {**w.items["o1"], "id": "derived-1"}
    derived["properties"] = {**derived["properties"], "sathub:inputs": [{"collection": "res", "id": "secret-1"}],
                             "sathub:parameters": {"collection": "res", "period": "2024"}}  # fmt: skip
    store.bulk_upsert([secret, derived])
    store.close()
    return w


@pytest.fixture(scope="module")
def client(world: World) -> Any:
    from sathub.api.app import create_app

    with TestClient(create_app(world.settings)) as c:
        yield c


def _answers(client: Any, world: World, actor: str, name: str) -> list[tuple[int, str | None]]:
    h = auth(world, actor)
    out = []
    for r in (
        client.get("/search", params={"filter": f"{name} = 7"}, headers=h),
        client.post("/search", json={"filter": {"op": "=", "args": [{"property": name}, 7]}}, headers=h),
        client.get("/search", params={"sortby": name}, headers=h),
        client.post("/search", json={"sortby": [{"field": name, "direction": "asc"}]}, headers=h),
        client.get("/search", params={"collections": "res", "filter": f"{name} = 7"}, headers=h),
        client.post("/search", json={"query": {name: {"eq": 7}}}, headers=h),
        client.post("/aggregate", json={"filter": f"{name} = 7", "aggregations": ["total_count"]}, headers=h),
    ):
        body = r.json()
        out.append((r.status_code, body.get("code") if r.status_code != 200 else None))
    return out


def test_hidden_collection_property_answers_like_an_unknown_one(client: Any, world: World) -> None:
    """A property that exists only in a restricted collection: anonymous and partners without
    an agreement get exactly what an unknown name gets (400); admin and the partner whose
    agreement covers the collection may use it."""
    unknown = _answers(client, world, "anonymous", "res:no_such_property")
    assert {status for status, _ in unknown} == {400}
    for actor in ("anonymous", "partnerB", "partnerC"):
        assert _answers(client, world, actor, "res:classified_band") == unknown, actor
    for actor in ("admin", "partnerA"):
        assert {s for s, _ in _answers(client, world, actor, "res:classified_band")} == {200}, actor
    h = auth(world, "admin")
    r = client.get("/search", params={"filter": "res:classified_band = 7"}, headers=h)
    assert ids(r) == ["secret-1"]


LINEAGE = ["sathub:inputs", "sathub:parameters"]


def _lineage_answers(client: Any, world: World, actor: str, name: str) -> list[tuple[int, str | None]]:
    h = auth(world, actor)
    like = {"op": "like", "args": [{"property": name}, "%secret%"]}
    out = []
    for r in (
        client.get("/search", params={"filter": f"{name} LIKE '%secret%'"}, headers=h),
        client.get("/search", params={"collections": "open", "filter": f"{name} LIKE '%secret%'"}, headers=h),
        client.post("/search", json={"filter": like}, headers=h),
        client.post("/search", json={"filter": f"{name} IS NOT NULL", "filter-lang": "cql2-text"}, headers=h),
        client.get("/search", params={"sortby": name}, headers=h),
        client.get("/collections/open/items", params={"sortby": f"-{name}"}, headers=h),
        client.post("/search", json={"query": {name: {"eq": "x"}}}, headers=h),
        client.post("/aggregate", json={"filter": like, "aggregations": ["total_count"]}, headers=h),
    ):
        out.append((r.status_code, r.json().get("code") if r.status_code != 200 else None))
    return out


@pytest.mark.parametrize("name", LINEAGE)
def test_lineage_of_derived_items_answers_like_an_unknown_property(client: Any, world: World, name: str) -> None:
    """Red-team finding 7: a derived item's ``sathub:inputs`` are redacted in its JSON, but a
    filter ran on the stored document, so ``sathub:inputs LIKE '%S2B_2021%'`` read hidden
    input ids out by bisection. Callers without unrestricted access get what an unknown name
    gets (400), and /queryables does not list the lineage; unrestricted ones may use it."""
    unknown = _lineage_answers(client, world, "anonymous", "sathub:no_such_property")
    assert {status for status, _ in unknown} == {400}
    for actor in ("anonymous", "partnerA", "partnerB"):
        assert _lineage_answers(client, world, actor, name) == unknown, (actor, name)
        q = client.get("/queryables", headers=auth(world, actor)).json()["properties"]
        assert name not in q
        q = client.get("/collections/open/queryables", headers=auth(world, actor)).json()["properties"]
        assert name not in q
    for actor in ("admin", "analyst"):
        assert {s for s, _ in _lineage_answers(client, world, actor, name)} == {200}, actor
        assert name in client.get("/queryables", headers=auth(world, actor)).json()["properties"]
    hint = "secret" if name == "sathub:inputs" else '"res"'  # the hidden input, its collection
    r = client.get("/search", params={"filter": f"{name} LIKE '%{hint}%'"}, headers=auth(world, "admin"))
    assert ids(r) == ["derived-1"]


def test_leak_test_world_is_what_it_claims(tmp_path: Path, world: World) -> None:
    """The restricted collection is hidden from anonymous callers (so the test above means
    something)."""
    from sathub.api.app import create_app

    with TestClient(create_app(world.settings)) as c:
        assert c.get("/collections/res").status_code == 404
        assert c.get("/collections/res", headers=auth(world, "admin")).status_code == 200
