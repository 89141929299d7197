"""Property test: search equals a brute-force evaluation over random items and queries.

The reference is independent of the SQL path: shapely for the spatial tests, plain Python for
datetimes, the ``cql2`` package's own evaluator (``Expr.matches``) for filters, and Python's
sort for ordering. Results are compared across every page, so paging is checked too: no item
skipped, none repeated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, closing
from datetime import datetime, timedelta, timezone
from typing import Any

import cql2
import pytest
import shapely
from pg_support import BACKENDS, pgstac_store, reset_examples, spend_example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sathub.catalog.cql2sql import parse_filter
from sathub.catalog.geometry import bbox_geometry
from sathub.catalog.sqlite import SQLiteStore
from sathub.catalog.store import SearchQuery, SortKey

EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)
PLATFORMS = ["sentinel-2a", "sentinel-2b", "landsat-8", "landsat-9"]


def ts(hours: int) -> str:
    return (EPOCH + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


item_strategy = st.builds(
    lambda x, y, w, h, hours, cc, plat, coll, tags: {
        "type": "Feature", "stac_version": "1.0.0", "collection": coll, "links": [], "assets": {},
        "geometry": shapely.geometry.mapping(shapely.box(x, y, min(x + w, 180), min(y + h, 90))),
        "properties": {"datetime": ts(hours), "eo:cloud_cover": cc, "platform": plat, "tags": tags},
    },  # fmt: skip
    x=st.integers(-180, 175),
    y=st.integers(-85, 80),
    w=st.integers(1, 20),
    h=st.integers(1, 10),
    hours=st.integers(0, 24 * 365),
    cc=st.integers(0, 100),
    plat=st.sampled_from(PLATFORMS),
    coll=st.sampled_from(["c1", "c2"]),
    tags=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True),
)

filter_strategy = st.one_of(
    st.none(),
    st.builds(lambda op, v: f"eo:cloud_cover {op} {v}", st.sampled_from(["<", "<=", ">", ">=", "=", "<>"]), st.integers(0, 100)),
    st.builds(lambda p: f"platform = '{p}'", st.sampled_from(PLATFORMS)),
    st.builds(lambda p: f"platform LIKE '{p[:5]}%'", st.sampled_from(PLATFORMS)),
    st.builds(lambda a, b: f"eo:cloud_cover BETWEEN {min(a, b)} AND {max(a, b)}", st.integers(0, 100), st.integers(0, 100)),
    st.builds(lambda ps: "platform IN (" + ",".join(f"'{p}'" for p in ps) + ")", st.lists(st.sampled_from(PLATFORMS), min_size=1, max_size=3)),
    st.builds(lambda a, b: f"eo:cloud_cover < {a} OR platform = '{b}'", st.integers(0, 100), st.sampled_from(PLATFORMS)),
    st.builds(lambda a: f"NOT (eo:cloud_cover > {a})", st.integers(0, 100)),
    st.builds(lambda h: f"datetime > TIMESTAMP('{ts(h)}')", st.integers(0, 24 * 365)),
    st.builds(lambda h: f"T_BEFORE(datetime, TIMESTAMP('{ts(h)}'))", st.integers(0, 24 * 365)),
    st.builds(lambda x, y: f"S_INTERSECTS(geometry, POLYGON(({x} {y}, {x + 30} {y}, {x + 30} {y + 20}, {x} {y + 20}, {x} {y})))", st.integers(-180, 150), st.integers(-90, 70)),
    st.builds(lambda t: f"A_CONTAINS(tags, ('{t}'))", st.sampled_from(["a", "b", "c"])),
    st.builds(lambda t: f"A_OVERLAPS(tags, ('{t}', 'zz'))", st.sampled_from(["a", "b", "c"])),
)  # fmt: skip


@st.composite
def query_strategy(draw: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"limit": draw(st.integers(1, 7))}
    spatial = draw(st.sampled_from(["none", "bbox", "intersects"]))
    if spatial == "bbox":
        w = draw(st.integers(-180, 180))
        e = draw(st.integers(-180, 180))  # w > e crosses the antimeridian
        s = draw(st.integers(-90, 60))
        q["bbox"] = (w, s, e, s + draw(st.integers(1, 30)))
    elif spatial == "intersects":
        x, y = draw(st.integers(-180, 140)), draw(st.integers(-90, 60))
        q["intersects"] = shapely.geometry.mapping(shapely.Polygon([(x, y), (x + 40, y), (x + 20, y + 30)]))
    if draw(st.booleans()):
        a, b = sorted([draw(st.integers(0, 24 * 365)), draw(st.integers(0, 24 * 365))])
        kind = draw(st.sampled_from(["closed", "open_start", "open_end"]))
        q["start"] = None if kind == "open_start" else EPOCH + timedelta(hours=a)
        q["end"] = None if kind == "open_end" else EPOCH + timedelta(hours=b)
    q["filter"] = draw(filter_strategy)
    if draw(st.booleans()):
        q["collections"] = draw(st.lists(st.sampled_from(["c1", "c2"]), min_size=1, max_size=2, unique=True))
    q["sortby"] = draw(st.sampled_from([[], [("datetime", "asc")], [("eo:cloud_cover", "desc")],
                                        [("platform", "asc"), ("datetime", "desc")], [("id", "desc")]]))  # fmt: skip
    return q


def brute_force(items: list[dict[str, Any]], q: dict[str, Any], tiebreak: str = "last") -> list[str]:
    out = []
    expr = cql2.parse_text(q["filter"]) if q["filter"] else None
    area = None
    if "bbox" in q:
        area = bbox_geometry(q["bbox"])
    elif "intersects" in q:
        area = shapely.geometry.shape(q["intersects"])
    for it in items:
        if q.get("collections") and it["collection"] not in q["collections"]:
            continue
        dt = datetime.fromisoformat(it["properties"]["datetime"].replace("Z", "+00:00"))
        if q.get("start") and dt < q["start"]:
            continue
        if q.get("end") and dt > q["end"]:
            continue
        if area is not None and not shapely.geometry.shape(it["geometry"]).intersects(area):
            continue
        if expr is not None and not expr.matches(it):
            continue
        out.append(it)
    keys = q["sortby"] or [("datetime", "desc")]

    def value(it: dict[str, Any], name: str) -> Any:
        return it["id"] if name == "id" else it["properties"][name]

    # stable sorts from the last key to the first; ties are broken by the backend's rule:
    # SQLite by insertion order in the direction of the last key, pgstac by id (the ids here
    # follow insertion order) in the direction of the first key (pgstac's tie-breakers)
    order = {it["id"]: n for n, it in enumerate(items)}
    tie = keys[0] if tiebreak == "first" else keys[-1]
    out.sort(key=lambda it: order[it["id"]], reverse=tie[1] == "desc")
    for name, direction in reversed(keys):
        out.sort(key=lambda it: value(it, name), reverse=direction == "desc")
    return [it["id"] for it in out]


@pytest.fixture(scope="module", params=BACKENDS)
def backend_store(request: Any, tmp_path_factory: Any) -> Iterator[Any]:
    """Makes an empty catalog of one backend per example: a new SQLite file, or the module's
    pgstac database emptied (a new database per example would cost a second each)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            def make() -> Any:
                s = stack.enter_context(closing(SQLiteStore(tmp_path_factory.mktemp("prop") / "c.db")))
                s.tiebreak = "last"  # type: ignore[attr-defined]
                return s
        else:
            pg = stack.enter_context(pgstac_store(tmp_path_factory.mktemp("prop-pg")))
            reset_examples(pg)

            def make() -> Any:
                if getattr(pg, "_examples_left", 1) <= 0:
                    return pg  # its share is spent (the test returns at once)
                for c in pg.list_collections():
                    pg.delete_collection(c["id"])
                pg.tiebreak = "first"
                return pg
        yield make


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(items=st.lists(item_strategy, min_size=0, max_size=40), queries=st.lists(query_strategy(), min_size=1, max_size=4))
def test_search_matches_brute_force(backend_store: Any, items: list[dict[str, Any]], queries: list[dict[str, Any]]) -> None:
    store = backend_store()
    if not spend_example(store):
        return
    for cid in ("c1", "c2"):
        store.create_collection({"type": "Collection", "id": cid, "description": "x", "links": [],
                                 "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                            "temporal": {"interval": [[None, None]]}}})  # fmt: skip
    # one anchor item per collection, so that every property is a known queryable
    anchors = [
        {"type": "Feature", "stac_version": "1.0.0", "collection": c, "links": [], "assets": {},
         "geometry": shapely.geometry.mapping(shapely.box(10, 10, 11, 11)),
         "properties": {"datetime": ts(100), "eo:cloud_cover": 50, "platform": "landsat-8", "tags": ["a"]}}
        for c in ("c1", "c2")
    ]  # fmt: skip
    items = anchors + items
    for n, it in enumerate(items):
        it["id"] = f"item-{n:03d}"
    store.bulk_upsert(json.loads(json.dumps(items)))
    for q in queries:
        expected = brute_force(items, q, store.tiebreak)
        got: list[str] = []
        token = None
        for _ in range(100):
            sq = SearchQuery(
                collections=q.get("collections"), bbox=q.get("bbox"), intersects=q.get("intersects"),
                start=q.get("start"), end=q.get("end"),
                filter=parse_filter(q["filter"]) if q["filter"] else None,
                sortby=[SortKey(f, d) for f, d in q["sortby"]], limit=q["limit"], token=token,
            )  # fmt: skip
            page = store.search(sq)
            got += [it["id"] for it in page.items]
            if token is None:
                assert page.matched == len(expected)
            token = page.next_token
            if token is None:
                break
        assert got == expected, q
