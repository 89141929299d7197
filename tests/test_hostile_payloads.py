"""Hostile bodies, geometries and numbers against ``sathub serve`` in a subprocess under a
3 GB address-space limit, as anonymous, partner and admin: deep, wide, oversized and
malformed JSON on every route that takes a body; malformed and degenerate geometries on
every route that takes one; extreme numbers. No 5xx, no crash, an answer within 5 s, RSS
growth under 512 MB (tests/hostile_support.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import SHARED
from hostile_support import (
    COLLECTION, MAX_VERTICES, Hostile, HostileData, Req, build_data, fill, routes, start_hostile,
)  # fmt: skip

ACTORS = ("anonymous", "partner", "admin")


@pytest.fixture(scope="session")
def hostile_data(tmp_path_factory: pytest.TempPathFactory) -> HostileData:
    return build_data(tmp_path_factory.mktemp("hostile-data"))


@pytest.fixture(scope="module")
def hostile(hostile_data: HostileData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    h = start_hostile(hostile_data, tmp_path_factory.mktemp("hostile-payloads"))
    yield h
    h.server.stop()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


BODIES: list[tuple[str, bytes]] = [
    ("deep arrays", _nested(100_000)),
    ("deep objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("just under the depth limit", b'{"filter": ' + _nested(120) + b"}"),
    ("wide array", b"[" + b"1," * 100_000 + b"1]"),
    ("wide object", b"{" + b",".join(b'"k%d": 1' % i for i in range(20_000)) + b"}"),
    ("truncated", b'{"collections": ["'),
    ("binary", b"\x00\xff\xfe\x80" * 100),
    ("scalar", b"1"), ("null", b"null"), ("string", b'"x"'), ("empty array", b"[]"), ("empty", b""),
    ("NaN literal", b'{"limit": NaN, "bbox": [Infinity, 0, 1, 1]}'),
    ("huge integer", b'{"limit": 1' + b"0" * 400 + b', "id": 1' + b"0" * 400 + b"}"),
    ("huge float", b'{"limit": 1e400, "expires_in": -1e400, "hours": 1e308}'),
    ("lone surrogate", b'{"id": "\\ud800", "collections": ["\\udfff"], "name": "\\ud800"}'),
    ("control characters", b'{"id": "a\\u0000b\\n\\u202e", "collections": ["\\u001b[31m"], "name": "\\u0000"}'),
    ("long strings", json.dumps({"id": "x" * 200_000, "collections": ["y" * 100_000], "q": "z" * 100_000}).encode()),
    ("many collections", json.dumps({"collections": [f"c{i}" for i in range(10_000)], "ids": ["i"] * 10_000}).encode()),
]  # fmt: skip


PER_ROUTE = 10  # bodies per route: a rotating window, so every body meets many routes


def _body_requests(valid: dict[str, str]) -> Iterator[Req]:
    k = 0
    for spec in routes():
        if not spec.body:
            continue
        path = fill(spec.path, {name: valid.get(name, "x") for name in spec.path_params})
        for name, body in [BODIES[(k + j) % len(BODIES)] for j in range(PER_ROUTE)]:
            ctype = "application/json" if k % 3 else "text/plain"  # FastAPI parses both
            yield Req(spec.method, path, content=body, headers={"content-type": ctype},
                      actor=ACTORS[k % 3])  # fmt: skip
            k += 1


def test_hostile_bodies_on_every_route(hostile: Hostile) -> None:
    p = hostile.prober()
    p.run(_body_requests(hostile.valid))
    assert p.count > 300
    assert not p.problems, p.report()


def test_oversized_bodies_are_413(hostile: Hostile) -> None:
    p = hostile.prober()
    big = b'{"ids": ["' + b"a" * (33 * 1024 * 1024) + b'"]}'
    for path in ("/search", f"/collections/{COLLECTION}/items", "/admin/agreements"):
        r = p.send(Req("POST", path, content=big, headers={"content-type": "application/json"}, actor="admin"))
        assert r is None or r.status_code == 413, (path, r.status_code)
    assert not p.problems, p.report()


# ------------------------------------------------------------------- geometries
def _circle(n: int) -> dict[str, Any]:
    ring = [[10 + math.cos(2 * math.pi * i / n), 10 + math.sin(2 * math.pi * i / n)] for i in range(n)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


GEOMETRIES: list[Any] = [
    {"type": "Polygon", "coordinates": [[["a", "b"], [1, 0], [1, 1], ["a", "b"]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},  # unclosed
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]},  # 2 points
    {"type": "Polygon", "coordinates": []}, {"type": "Polygon", "coordinates": [[]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1e308, 0], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [-1e308, 1e308], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # bow-tie
    {"type": "Polygon", "coordinates": [[[0, 0], [0, 0], [0, 0], [0, 0]]]},  # degenerate
    {"type": "Polygon", "coordinates": [[[0, 0, 0], [1, 0], [1, 1, 1], [0, 0, 0]]]},  # mixed z
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]], "x"]},
    {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[]]]},
    {"type": "Point", "coordinates": [1, "a"]}, {"type": "Point", "coordinates": [True, False]},
    {"type": "Point", "coordinates": [1e308, 0]},
    {"type": "LineString", "coordinates": [[0, 0]]},
    {"type": "GeometryCollection", "geometries": [{"type": "GeometryCollection", "geometries": []}] * 3},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0]]]}, "properties": {}},
    {"type": ["Polygon"], "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": {"0": [[0, 0]]}},
    _circle(MAX_VERTICES + 5),  # over the vertex limit
    _circle(MAX_VERTICES - 10),  # valid, large: must be answered in time
    [], [[]], "POLYGON((0 0,1 0,1 1,0 0))", None,
]  # fmt: skip


def _geometry_requests(h: Hostile) -> Iterator[Req]:
    item = f"/collections/{COLLECTION}/items/{h.data.item}"
    tle = (SHARED / "orbits" / "eo_satellites_2025-10-04.txt").read_text().splitlines()[:3]
    day = {"start": "2025-10-05T00:00:00Z", "end": "2025-10-06T00:00:00Z"}
    for k, g in enumerate(GEOMETRIES):
        actor = ("anonymous", "partner")[k % 2]
        valid_shape = g is GEOMETRIES[-5]  # the 5,000-vertex circle: do not start real jobs with it
        yield Req("POST", "/search", json={"intersects": g}, actor=actor)
        if len(json.dumps(g)) < 60_000:  # longer does not fit a URL (httpx refuses it)
            yield Req("GET", "/search", params={"intersects": json.dumps(g)}, actor=actor)
        yield Req("POST", "/aggregate", json={"intersects": g, "aggregations": ["total_count"]}, actor=actor)
        yield Req("POST", f"{item}/feature.png", json=g, actor=actor)
        yield Req("POST", "/mosaic/register", json={"collections": [COLLECTION], "intersects": g}, actor=actor)
        doc = {"type": "Feature", "stac_version": "1.0.0", "id": f"g{k}", "geometry": g,
               "properties": {"datetime": "2024-01-01T00:00:00Z"}, "links": [], "assets": {}}  # fmt: skip
        yield Req("POST", f"/collections/{COLLECTION}/items", json=doc, actor="admin")
        yield Req("POST", "/admin/agreements", json={"org_id": h.data.org_id, "title": "g",
                                                     "collections": [COLLECTION], "aoi": g}, actor="admin")  # fmt: skip
        yield Req("POST", "/admin/activations", json={"name": "g", "aoi": g, "days": 1}, actor="admin")
        if not valid_shape:
            yield Req("POST", "/analytics/jobs", json={"kind": "zonal", "collection": COLLECTION,
                                                       "aoi": g, "index": "ndvi"}, actor="admin")  # fmt: skip
            yield Req("POST", "/orbits/opportunities", json={"elements": "\n".join(tle), "aoi": g, **day},
                      actor="admin")  # fmt: skip
            yield Req("POST", "/orbits/orders", json={"aoi": g, **day}, actor="admin")


def test_hostile_geometries_on_every_route_that_takes_one(hostile: Hostile) -> None:
    p = hostile.prober()
    p.run(_geometry_requests(hostile))
    assert p.count > 200
    assert not p.problems, p.report()


# ------------------------------------------------------------------------ numbers
NUMBERS = ["1e400", "-1e400", "1e308", "-1e308", "nan", "inf", "-0", "1" + "0" * 400, "-1",
           "0.000000000000000000000000000001", "4294967297", "-9223372036854775809"]  # fmt: skip


def _number_requests(h: Hostile) -> Iterator[Req]:
    v = h.valid
    item = f"/collections/{COLLECTION}/items/{h.data.item}"
    tle = "\n".join((SHARED / "orbits" / "eo_satellites_2025-10-04.txt").read_text().splitlines()[:3])
    for k, n in enumerate(NUMBERS):
        actor = ("anonymous", "partner", "admin")[k % 3]
        for q in ({"limit": n}, {"bbox": f"{n},0,1,1"}, {"bbox": f"0,0,{n},{n}"},
                  {"datetime": f"{n}-01-01T00:00:00Z"}, {"datetime": f"2020-01-01T00:00:00Z/{n}"}):  # fmt: skip
            yield Req("GET", "/search", params=q, actor=actor)
        for q in ({"max_size": n}, {"width": n, "height": n}, {"rescale": f"{n},{n}"}, {"nodata": n},
                  {"expression": f"b1*{n}"}, {"expression": f"b1**{n}"}, {"expression": f"log(b1)/{n}"},
                  {"colormap": json.dumps({n: [1, 2, 3, 4]})}, {"bidx": n}):  # fmt: skip
            yield Req("GET", f"{item}/preview.png", params=q, actor=actor)
            yield Req("GET", f"{item}/statistics", params=q, actor=actor)
        yield Req("GET", f"{item}/point/{n},{n}", actor=actor)
        yield Req("GET", f"{item}/tiles/WebMercatorQuad/{v['z']}/{v['x']}/{v['y']}.png",
                  params={"tilesize": n}, actor=actor)  # fmt: skip
        yield Req("GET", f"/mosaic/{v['search_id']}/tiles/WebMercatorQuad/{v['z']}/{v['x']}/{v['y']}.png",
                  params={"tilesize": n, "max_items": n}, actor=actor)  # fmt: skip
        yield Req("GET", f"{item}/bbox/{n},{n},{n},{n}.png", actor=actor)
        for path, template in BODY_NUMBERS:
            body = template.replace("NUM", n if n not in ("nan", "inf") else '"' + n + '"')
            yield Req("POST", fill(path, {"item": item}), content=body.encode(),
                      headers={"content-type": "application/json"}, actor=actor)  # fmt: skip
        for q in ({"hours": n}, {"step_s": n}, {"start": n}):
            yield Req("GET", "/orbits/satellites/39084/track", params=q, actor=actor)
            yield Req("POST", "/orbits/track", params=q, actor=actor, content=json.dumps(
                {"elements": tle, "start": "2025-10-05T00:00:00Z"}).encode(),
                headers={"content-type": "application/json"})  # fmt: skip


TLE = json.dumps("\n".join((SHARED / "orbits" / "eo_satellites_2025-10-04.txt").read_text().splitlines()[:3]))
BODY_NUMBERS = [  # JSON bodies with NUM where the number goes (a bare literal: 1e400, 1000…0)
    ("/search", '{"limit": NUM, "bbox": [NUM, 0, 1, 1]}'),
    ("/search", '{"datetime": "2020-01-01T00:00:00Z/..", "limit": 1, "bbox": [0, 0, NUM, NUM]}'),
    ("{item}/assets/data/sign", '{"expires_in": NUM}'),
    ("/orbits/passes", '{"elements": ' + TLE + ', "start": "2025-10-05T00:00:00Z", "hours": NUM, '
                       '"stations": [{"lat_deg": NUM, "lon_deg": NUM}], "min_elevation_deg": NUM}'),
    ("/orbits/design/sun-synchronous", '{"altitude_km": NUM, "ltdn_hours": NUM, "epoch": "2025-10-05T00:00:00Z"}'),
    ("/orbits/opportunities", '{"elements": ' + TLE + ', "start": "2025-10-05T00:00:00Z", '
                              '"end": "2025-10-05T06:00:00Z", "min_coverage": NUM, "aoi": {"type": "Polygon", '
                              '"coordinates": [[[0, 0], [NUM, 0], [1, 1], [0, 0]]]}}'),
    ("/admin/agreements", '{"org_id": NUM, "title": "n", "collections": ["hostile"], "quota_bytes": NUM, '
                          '"embargo_days": NUM}'),
    ("/admin/activations", '{"name": "n", "days": NUM, "aoi": {"type": "Polygon", '
                           '"coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}'),
]  # fmt: skip


def test_extreme_numbers(hostile: Hostile) -> None:
    p = hostile.prober()
    p.run(_number_requests(hostile))
    assert p.count > 200
    assert not p.problems, p.report()
