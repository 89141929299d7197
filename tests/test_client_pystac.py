"""pystac-client, as partners use it, against a live server with the real data.

Every warning of pystac-client is an error here: pystac-client warns when the
server does not advertise a conformance class it looks for ("Server does not conform to SORT"),
and that is a failure. (Not every warning: a socket another test module left to the garbage
collector would fail this module's setup with a ResourceWarning.)
Expected results come from walking ``/collections/{id}/items`` with plain HTTP and filtering in
Python (independent of pystac-client and of the SQL translation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses

from conftest import LiveServer

pytestmark = pytest.mark.filterwarnings("error::pystac_client.warnings.PystacClientWarning")

COLL = "sentinel-2-l2a"  # 1,000 Planetary Computer items


@pytest.fixture(scope="module")
def items(live_server: LiveServer) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url: str | None = f"{live_server.url}/collections/{COLL}/items?limit=500"
    while url:
        page = httpx.get(url, timeout=60).json()
        out += page["features"]
        url = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)
    assert len(out) == 1000
    return out


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Client:
    return Client.open(live_server.url)


def brute(items: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    return sorted(it["id"] for it in items if keep(it["properties"]))


def test_conformance_has_what_pystac_client_looks_for(client: Client) -> None:
    for cls in (ConformanceClasses.CORE, ConformanceClasses.ITEM_SEARCH, ConformanceClasses.FILTER,
                ConformanceClasses.SORT, ConformanceClasses.FIELDS, ConformanceClasses.QUERY,
                ConformanceClasses.COLLECTIONS, ConformanceClasses.FEATURES):  # fmt: skip
        assert client.conforms_to(cls), cls


FILTERS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("eo:cloud_cover < 10 AND sat:relative_orbit = 98",
     {"op": "and", "args": [{"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
                            {"op": "=", "args": [{"property": "sat:relative_orbit"}, 98]}]},
     lambda p: p["eo:cloud_cover"] < 10 and p["sat:relative_orbit"] == 98),
    ("s2:mgrs_tile IN ('13SDD', '13TEF') OR eo:cloud_cover > 95",
     {"op": "or", "args": [{"op": "in", "args": [{"property": "s2:mgrs_tile"}, ["13SDD", "13TEF"]]},
                           {"op": ">", "args": [{"property": "eo:cloud_cover"}, 95]}]},
     lambda p: p["s2:mgrs_tile"] in ("13SDD", "13TEF") or p["eo:cloud_cover"] > 95),
]  # fmt: skip


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("n", range(len(FILTERS)))
def test_filters_text_and_json(client: Client, items: list[dict[str, Any]], method: str, n: int) -> None:
    text, as_json, keep = FILTERS[n]
    want = brute(items, keep)
    assert want
    for flt, lang in ((text, "cql2-text"), (as_json, "cql2-json")):
        search = client.search(collections=[COLL], filter=flt, filter_lang=lang, method=method, limit=50)
        got = [it.id for it in search.items()]
        assert sorted(got) == want, (method, lang)
        assert len(got) == len(set(got))  # pages followed with no repeat
        assert search.matched() == len(want)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_default_filter_lang_is_accepted(client: Client, items: list[dict[str, Any]], method: str) -> None:
    """pystac-client's default for a string filter (POST: cql2-text in the body)."""
    search = client.search(collections=[COLL], filter="eo:cloud_cover < 1", method=method, limit=100)
    assert sorted(it.id for it in search.items()) == brute(items, lambda p: p["eo:cloud_cover"] < 1)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sort(client: Client, items: list[dict[str, Any]], method: str) -> None:
    search = client.search(collections=[COLL], sortby=["-eo:cloud_cover", "+id"], method=method,
                           filter="eo:cloud_cover > 50", limit=30)  # fmt: skip
    got = [(it.properties["eo:cloud_cover"], it.id) for it in search.items()]
    want = sorted(((it["properties"]["eo:cloud_cover"], it["id"]) for it in items
                   if it["properties"]["eo:cloud_cover"] > 50), key=lambda t: (-t[0], t[1]))  # fmt: skip
    assert got == want


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_fields(client: Client, method: str) -> None:
    search = client.search(collections=[COLL], fields={"include": ["properties.eo:cloud_cover"],
                                                       "exclude": ["assets", "geometry"]},
                           method=method, max_items=5)  # fmt: skip
    for doc in search.items_as_dicts():
        assert set(doc["properties"]) == {"eo:cloud_cover"}
        assert "assets" not in doc and "geometry" not in doc


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_query(client: Client, items: list[dict[str, Any]], method: str) -> None:
    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        ({"eo:cloud_cover": {"lt": 20}}, lambda p: p["eo:cloud_cover"] < 20),
        ({"sat:relative_orbit": {"eq": "98"}}, lambda p: p["sat:relative_orbit"] == 98),
        ({"s2:processing_baseline": {"gte": 5.11}}, lambda p: float(p["s2:processing_baseline"]) >= 5.11),
        ({"platform": {"neq": "Sentinel-2A"}}, lambda p: p["platform"] != "Sentinel-2A"),
    ]
    for query, keep in cases:
        want = brute(items, keep)
        assert 0 < len(want) < len(items), query
        search = client.search(collections=[COLL], query=query, method=method, limit=200)
        assert sorted(it.id for it in search.items()) == want, (method, query)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paging_is_exact(client: Client, items: list[dict[str, Any]], method: str) -> None:
    search = client.search(collections=[COLL], method=method, limit=37)
    pages = list(search.pages_as_dicts())
    assert len(pages) == 28  # 1,000 / 37
    got = [f["id"] for p in pages for f in p["features"]]
    assert len(got) == len(set(got)) == 1000
    assert sorted(got) == sorted(it["id"] for it in items)


def test_temporal_filter(client: Client, items: list[dict[str, Any]]) -> None:
    """A temporal operator through pystac-client (cql2-json, POST)."""
    times = sorted(it["properties"]["datetime"] for it in items)
    lo, hi = times[100], times[400]
    flt = {"op": "t_during", "args": [{"property": "datetime"}, {"interval": [lo, hi]}]}
    search = client.search(collections=[COLL], filter=flt, filter_lang="cql2-json", limit=500)
    got = sorted(it.id for it in search.items())
    assert got == brute(items, lambda p: lo < p["datetime"] < hi) and got
    assert json.loads(json.dumps(flt)) == flt
