"""Hostile input in every path and query parameter of every route (walked from the app's
routes), as anonymous and as a partner, against ``sathub serve`` in a subprocess under a
3 GB address-space limit: no 5xx, no crash, an answer within 5 s, RSS growth under 512 MB.
See tests/hostile_support.py for the harness and docs/security.md for the limits."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hostile_support import Hostile, HostileData, Req, build_data, fill, routes, start_hostile

# one percent-encoded form per value: non-ASCII, control characters, invalid UTF-8,
# traversal, extreme numbers, very long
PATH_VALUES = [
    quote("é"), quote("日本"), "%00", "%0A", "%0D%0A", quote("\u202e"), "..", "%2e%2e",
    "a" * 5000, "%FF", "%C3%28", quote("🛰"), "-1", "1e308", "nan", "9" * 30, "%25", "%2F",
    "%20", quote("\x1b[31m"), quote("\ud800", errors="surrogatepass"),
]  # fmt: skip
QUERY_VALUES = [
    quote("é" * 3), "%00", "%0A", quote("\u202e"), "", "1e400", "-1e308", "nan", "inf", "-1",
    "9" * 400, "%5B" * 3000, quote('{"type":"Polygon","coordinates":[[["a","b"],[1,0],[1,1],["a","b"]]]}'),
    "a" * 8000, "%FF", "0,0,1e308,1", quote("🛰"), quote("{" * 200), "%C3%28",
]  # fmt: skip
PER_PATH_PARAM = 8  # values tried per path parameter (a rotating window over PATH_VALUES)
PER_QUERY_PARAM = 6


@pytest.fixture(scope="session")
def hostile_data(tmp_path_factory: pytest.TempPathFactory) -> HostileData:
    return build_data(tmp_path_factory.mktemp("hostile-data"))


@pytest.fixture(scope="module")
def hostile(hostile_data: HostileData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    h = start_hostile(hostile_data, tmp_path_factory.mktemp("hostile-routes"))
    yield h
    h.server.stop()


def _window(values: list[str], start: int, n: int) -> list[str]:
    return [values[(start + k) % len(values)] for k in range(n)]


def _actor(k: int) -> str:
    return "partner" if k % 2 else "anonymous"


def _path_requests(valid: dict[str, str]) -> Iterator[Req]:
    k = 0
    for spec in routes():
        base = {name: valid.get(name, "x") for name in spec.path_params}
        body = {} if spec.body else None
        if not spec.path_params:
            yield Req(spec.method, fill(spec.path, base), json=body, actor=_actor(k))
            k += 1
        for name in spec.path_params:
            for value in _window(PATH_VALUES, k, PER_PATH_PARAM):
                yield Req(spec.method, fill(spec.path, {**base, name: value}), json=body, actor=_actor(k))
                k += 1


def _query_requests(valid: dict[str, str]) -> Iterator[Req]:
    k = 0
    for spec in routes():
        path = fill(spec.path, {name: valid.get(name, "x") for name in spec.path_params})
        body = {} if spec.body else None
        for name in spec.query_params:
            for value in _window(QUERY_VALUES, k, PER_QUERY_PARAM):
                yield Req(spec.method, f"{path}?{quote(name)}={value}", json=body, actor=_actor(k))
                k += 1


def test_every_path_parameter(hostile: Hostile) -> None:
    p = hostile.prober()
    p.run(_path_requests(hostile.valid))
    assert p.count > 500
    assert not p.problems, p.report()


def test_every_query_parameter(hostile: Hostile) -> None:
    p = hostile.prober()
    p.run(_query_requests(hostile.valid))
    assert p.count > 500
    assert not p.problems, p.report()


def test_the_walk_covers_every_route(hostile: Hostile) -> None:
    """A route added later is walked too: the table comes from the app itself."""
    specs = routes()
    documented = {(m.upper(), path) for path, ops in _openapi(hostile).items() for m in ops}
    walked = {(s.method, s.path) for s in specs}
    assert documented <= walked, sorted(documented - walked)[:10]


def _openapi(h: Hostile) -> dict[str, dict[str, object]]:
    import httpx

    paths: dict[str, dict[str, object]] = httpx.get(h.server.url + "/api", timeout=30).json()["paths"]
    return paths


def test_valid_values_address_real_things(hostile: Hostile) -> None:
    """The walk varies one parameter at a time around values that work, so each hostile
    value reaches the code behind the route (not a 404 at the first segment)."""
    import httpx

    v = hostile.valid
    for path in ("/collections/{collection_id}/items/{item_id}",
                 "/collections/{collection_id}/items/{item_id}/tiles/{tms_id}/{z}/{x}/{y}.{fmt}",
                 "/collections/{collection_id}/items/{item_id}/point/{lon},{lat}",
                 "/collections/{collection_id}/items/{item_id}/bbox/{bbox}.{fmt}",
                 "/mosaic/{search_id}/tiles/{tms_id}/{z}/{x}/{y}.{fmt}"):  # fmt: skip
        r = httpx.get(hostile.server.url + fill(path, v), timeout=30)
        assert r.status_code == 200, (path, r.text[:200])
