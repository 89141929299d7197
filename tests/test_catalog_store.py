"""The SQLite store: lossless round trips, transactions, validation, antimeridian, loader."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import STAC, need_shared
from sathub.catalog.loader import load_file
from sathub.catalog.sqlite import SQLiteStore
from sathub.catalog.store import SearchQuery, SortKey
from sathub.catalog.validate import GENERATED_RELS
from sathub.errors import Conflict, InvalidDatetime, InvalidGeometry, InvalidInput, LoadError, NotFound


def collection(cid: str = "c1") -> dict[str, Any]:
    return {
        "type": "Collection", "id": cid, "stac_version": "1.0.0", "description": "test",
        "license": "CC-BY-4.0", "links": [],
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                   "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}},
    }  # fmt: skip


def item(iid: str, lon: float = 0.0, lat: float = 0.0, dt: str = "2021-06-01T00:00:00Z", **props: Any) -> dict[str, Any]:
    d = 0.5
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": "c1",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [lon - d, lat - d, lon + d, lat + d],
        "properties": {"datetime": dt, **props},
        "assets": {}, "links": [],
    }  # fmt: skip


@pytest.fixture()
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "catalog.db")
    s.create_collection(collection())
    return s


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    out["links"] = [ln for ln in doc.get("links", []) if ln.get("rel") not in GENERATED_RELS]
    return out


def test_real_items_round_trip_losslessly(tmp_path: Path) -> None:
    """Every real item comes back as the JSON that went in (less the regenerated links)."""
    need_shared()
    s = SQLiteStore(tmp_path / "c.db")
    load_file(s, STAC / "pgstac/naip/collection.json")
    load_file(s, STAC / "rustac/earth-search_sentinel-2-c1-l2a_collection.json")
    load_file(s, STAC / "rustac/earth-search_sentinel-2-c1-l2a_10_item-collection.json")
    originals = json.loads((STAC / "rustac/earth-search_sentinel-2-c1-l2a_10_item-collection.json").read_text())
    for orig in originals["features"]:
        back = s.get_item(orig["collection"], orig["id"])
        assert back == _strip(orig)
    load_file(s, STAC / "pgstac/naip/items.ndjson")
    with (STAC / "pgstac/naip/items.ndjson").open() as f:
        for line in list(f)[:50]:
            orig = json.loads(line)
            assert s.get_item("naip", orig["id"]) == _strip(orig)
    # unknown fields and extensions survive
    coll = s.get_collection("sentinel-2-c1-l2a")
    assert coll == _strip(json.loads((STAC / "rustac/earth-search_sentinel-2-c1-l2a_collection.json").read_text()))


def test_insert_conflict_and_upsert(store: SQLiteStore) -> None:
    store.create_item(item("a", cloud=1))
    with pytest.raises(Conflict):
        store.create_item(item("a"))
    store.bulk_upsert([item("a", foo="bar")])
    assert store.get_item("c1", "a")["properties"]["foo"] == "bar"
    assert store.counts() == {"c1": 1}


def test_bulk_is_all_or_nothing(store: SQLiteStore) -> None:
    bad = item("b2")
    bad["geometry"]["coordinates"][0][-1] = [9, 9]  # unclosed ring
    with pytest.raises(InvalidGeometry, match="not closed"):
        store.bulk_upsert([item("b1"), bad, item("b3")])
    assert store.counts() == {"c1": 0}


def test_transaction_rolls_back_on_error(store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.put_item(item("t1"))
            raise RuntimeError("crash between the write and the commit")
    with pytest.raises(NotFound):
        store.get_item("c1", "t1")


@pytest.mark.parametrize(
    ("mutate", "error", "field"),
    [
        (lambda it: it["geometry"].update(coordinates=[[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]), InvalidGeometry, "geometry"),
        (lambda it: it["geometry"].update(coordinates=[[[0, 0], [200, 0], [200, 1], [0, 0]]]), InvalidGeometry, "geometry"),
        (lambda it: it["geometry"].update(coordinates=[[[0, 0], [1, 0], [1, 1]]]), InvalidGeometry, "geometry"),
        (lambda it: it["properties"].update(datetime="yesterday"), InvalidDatetime, "properties.datetime"),
        (lambda it: it["properties"].update(datetime="2021-01-01T00:00:00"), InvalidDatetime, "properties.datetime"),
        (lambda it: it["properties"].update(datetime=None), InvalidDatetime, "properties.datetime"),
        (lambda it: it.update(id="a/b"), InvalidInput, "id"),
        (lambda it: it.update(type="Collection"), InvalidInput, "type"),
        (lambda it: it.update(properties=[]), InvalidInput, "properties"),
    ],
)  # fmt: skip
def test_bad_items_are_rejected_naming_the_field(store: SQLiteStore, mutate: Any, error: type, field: str) -> None:
    it = item("bad")
    mutate(it)
    with pytest.raises(error) as info:
        store.create_item(it)
    assert info.value.field == field
    assert store.counts() == {"c1": 0}


def test_unknown_collection(store: SQLiteStore) -> None:
    it = item("x")
    it["collection"] = "nope"
    with pytest.raises(NotFound, match="nope"):
        store.create_item(it)


def test_antimeridian_item_and_bbox(store: SQLiteStore) -> None:
    """An item split at ±180 (bbox west > east) is found from either side; a query bbox that
    crosses the antimeridian finds items on both sides and nothing in between."""
    am = item("am")
    am["geometry"] = {"type": "MultiPolygon", "coordinates": [
        [[[179, 0], [180, 0], [180, 1], [179, 1], [179, 0]]],
        [[[-180, 0], [-179, 0], [-179, 1], [-180, 1], [-180, 0]]]]}  # fmt: skip
    am["bbox"] = [179, 0, -179, 1]
    store.bulk_upsert([am, item("east", 179.2, 5), item("west", -179.2, 5), item("middle", 0, 5)])

    def ids(**kw: Any) -> set[str]:
        return {i["id"] for i in store.search(SearchQuery(limit=100, **kw)).items}

    assert ids(bbox=(179.5, 0.2, 179.9, 0.8)) == {"am"}
    assert ids(bbox=(-179.9, 0.2, -179.5, 0.8)) == {"am"}
    assert ids(bbox=(170, -10, -170, 10)) == {"am", "east", "west"}
    assert ids(bbox=(-170, -10, 170, 10)) == {"middle"}


def test_loader_names_file_and_line_and_rolls_back(store: SQLiteStore, tmp_path: Path) -> None:
    f = tmp_path / "items.ndjson"
    lines = [json.dumps(item(f"i{n}")) for n in range(5)]
    lines.insert(3, "{not json")
    f.write_text("\n".join(lines))
    with pytest.raises(LoadError, match=r"items.ndjson:4: malformed JSON"):
        load_file(store, f)
    assert store.counts() == {"c1": 0}
    bad = item("geom")
    bad["geometry"]["coordinates"] = [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]
    lines[3] = json.dumps(bad)
    f.write_text("\n".join(lines))
    with pytest.raises(LoadError, match=r"items.ndjson:4: .*Self-intersection"):
        load_file(store, f)
    assert store.counts() == {"c1": 0}
    del lines[3]
    f.write_text("\n".join(lines))
    assert load_file(store, f).items == 5
    assert load_file(store, f).items == 5  # idempotent: a re-run rewrites the same items
    assert store.counts() == {"c1": 5}


def test_parquet_items_load(tmp_path: Path) -> None:
    need_shared()
    s = SQLiteStore(tmp_path / "c.db")
    load_file(s, STAC / "pgstac/pc_collections.ndjson")
    stats = load_file(s, STAC / "rustac/pc_landsat-c2-l2_100_items.parquet")
    assert stats.items == 100
    assert s.counts()["landsat-c2-l2"] == 100
    it = next(s.iter_items("landsat-c2-l2"))
    assert it["type"] == "Feature" and "landsat:wrs_path" in it["properties"]
    assert all(v is not None for link in it.get("links", []) for v in link.values())


def test_wal_mode_and_rtree(store: SQLiteStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.create_item(item("r"))
    assert conn.execute("SELECT count(*) FROM items_rtree").fetchone()[0] == 1
    store.delete_item("c1", "r")
    assert conn.execute("SELECT count(*) FROM items_rtree").fetchone()[0] == 0


def test_numbermatched_is_exact_then_estimated(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "c.db", count_cap=50)
    s.create_collection(collection())
    s.bulk_upsert([item(f"i{n:04d}", lon=(n % 300) * 0.5 - 75, lat=(n // 300) * 0.5) for n in range(3000)])
    exact = s.search(SearchQuery(bbox=(-75.1, -0.4, -72, -0.3), limit=5))
    assert exact.matched is not None and exact.matched <= 50 and not exact.matched_is_estimate
    assert exact.matched == len(s.search(SearchQuery(bbox=(-75.1, -0.4, -72, -0.3), limit=1000), count=False).items)
    est = s.search(SearchQuery(limit=5))
    assert est.matched_is_estimate
    assert 0.7 * 3000 <= (est.matched or 0) <= 1.3 * 3000


def test_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    import threading

    store = SQLiteStore(tmp_path / "catalog.db")
    for _ in range(30):  # a server's worker pool retires idle threads and starts new ones
        t = threading.Thread(target=lambda: store.search(SearchQuery(limit=1)))
        t.start()
        t.join()
    assert len(store._all_conns) <= 3  # this thread's, at most the last worker's (+ slack)
    store.close()


def test_bulk_geometry_path_agrees_with_the_one_by_one_path() -> None:
    """geometries_from_geojson (GEOS, vectorised) accepts only what geometry_from_geojson
    accepts, with the same shape; where it declines (None) the slow path decides."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sathub.catalog.geometry import geometries_from_geojson, geometry_from_geojson
    from sathub.errors import InvalidGeometry

    num = st.one_of(st.floats(-200, 200, allow_nan=False), st.integers(-200, 200))
    pos = st.lists(num, min_size=1, max_size=4)
    ring = st.lists(pos, min_size=0, max_size=6).map(
        lambda r: r + [r[0]] if r and len(r) % 2 else r)  # closed or not
    polygon = st.fixed_dictionaries({"type": st.just("Polygon"), "coordinates": st.lists(ring, max_size=2)})
    point = st.fixed_dictionaries({"type": st.just("Point"), "coordinates": pos})
    line = st.fixed_dictionaries({"type": st.just("LineString"), "coordinates": st.lists(pos, max_size=4)})
    boxes = st.tuples(st.floats(-199, 190), st.floats(-99, 90), st.floats(0.01, 9), st.floats(0.01, 9)).map(
        lambda b: {"type": "Polygon", "coordinates": [[[b[0], b[1]], [b[0] + b[2], b[1]],
                                                       [b[0] + b[2], b[1] + b[3]], [b[0], b[1] + b[3]],
                                                       [b[0], b[1]]]]})  # fmt: skip
    other = st.one_of(st.none(), st.just({"type": "Nope"}), st.just({"type": "Point"}), st.just([1, 2]))
    geoms = st.lists(st.one_of(polygon, point, line, boxes, other), max_size=12)

    @settings(max_examples=300, deadline=None)
    @given(geoms)
    def check(gs: list[Any]) -> None:
        fast = geometries_from_geojson(gs)
        assert len(fast) == len(gs)
        for g, f in zip(gs, fast, strict=True):
            try:
                slow = geometry_from_geojson(g)
            except InvalidGeometry:
                assert f is None, g
                continue
            if f is not None:
                assert f.equals_exact(slow, 0) and f.geom_type == slow.geom_type

    check()
    # found by this test in CI: positions with and without z in one geometry
    mixed = {"type": "LineString", "coordinates": [[0.0, 0.0], [0.0, 1.0, 0.0]]}
    assert geometries_from_geojson([mixed]) == [None]
    with pytest.raises(InvalidGeometry, match="mix 2 and 3"):
        geometry_from_geojson(mixed)


def test_bulk_load_into_an_empty_catalog_builds_indexes_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deferred-index path gives the same catalog as the row-by-row one: same schema
    objects, same search answers; and a failed load leaves the schema whole."""
    need_shared()
    from sathub.catalog import loader

    src = STAC / "rustac" / "pc_sentinel-2-l2a_1000_items.parquet"
    coll = STAC / "pgstac" / "pc_collections.ndjson"
    stores = {}
    for mode, threshold in (("rows", 1 << 62), ("deferred", 0)):
        monkeypatch.setattr(loader, "DEFER_INDEXES_BYTES", threshold)
        store = SQLiteStore(tmp_path / f"{mode}.db")
        load_file(store, coll)  # (small file: it is also "big" at threshold 0; no items yet)
        load_file(store, src)
        stores[mode] = store

    def schema(s: SQLiteStore) -> list[tuple[str, str]]:
        return s._conn().execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') ORDER BY 1, 2"
        ).fetchall()

    assert schema(stores["rows"]) == schema(stores["deferred"])
    assert stores["deferred"]._conn().execute("SELECT count(*) FROM items_rtree").fetchone()[0] == 1000
    queries = [
        SearchQuery(limit=50, bbox=(-80, 30, -60, 50)),
        SearchQuery(limit=50, bbox=(170, -50, -170, 10)),
        SearchQuery(limit=20, intersects={"type": "Point", "coordinates": [-73.9, 40.7]}),
        SearchQuery(limit=50, sortby=[SortKey("eo:cloud_cover", "asc")]),
    ]
    for q in queries:
        a, b = (stores[m].search(q) for m in ("rows", "deferred"))
        assert [i["id"] for i in a.items] == [i["id"] for i in b.items]
        assert a.matched == b.matched

    # a load that fails half way rolls back the dropped indexes and triggers with it
    empty = SQLiteStore(tmp_path / "failed.db")
    load_file(empty, coll)
    bad = tmp_path / "bad.ndjson"
    lines = [json.dumps(i) for i in stores["rows"].search(SearchQuery(limit=30)).items]
    bad.write_text("\n".join([*lines, '{"type": "Feature", "id": "x"}']) + "\n")
    with pytest.raises(Exception, match="bad.ndjson:31"):
        load_file(empty, bad)
    assert schema(empty) == schema(stores["rows"])
    assert empty._conn().execute("SELECT count(*) FROM items").fetchone()[0] == 0
    for s in (*stores.values(), empty):
        s.close()


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sort_with_missing_values_pages_in_one_order(tmp_path: Path, direction: str) -> None:
    """Items without the sort property sort first ascending and last descending (ties by
    insertion order), page by page, whether or not an index gives the order."""
    store = SQLiteStore(tmp_path / "c.db")
    store.create_collection({"type": "Collection", "id": "c", "description": "x", "links": [],
                             "license": "x", "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                                         "temporal": {"interval": [[None, None]]}}})  # fmt: skip
    clouds = [30, None, 10, 30, None, 50, 0, 10, None, 99]
    items = []
    for k, cc in enumerate(clouds):
        props: dict[str, Any] = {"datetime": f"2024-01-{k + 1:02d}T00:00:00Z"}
        if cc is not None:
            props["eo:cloud_cover"] = cc
        items.append({"type": "Feature", "stac_version": "1.0.0", "id": f"i{k}", "collection": "c",
                      "geometry": {"type": "Point", "coordinates": [k, k]}, "properties": props,
                      "links": [], "assets": {}})  # fmt: skip
    store.bulk_upsert(items)
    rank = sorted(range(len(clouds)), key=lambda k: (clouds[k] is not None, clouds[k] or 0, k))
    expected = [f"i{k}" for k in (rank if direction == "asc" else rank[::-1])]
    for collections in (None, ["c"]):  # with ["c"], the (collection, cloud_cover) index
        seen: list[str] = []
        token = None
        while True:
            res = store.search(SearchQuery(limit=3, token=token, collections=collections,
                                           sortby=[SortKey("eo:cloud_cover", direction)]))  # fmt: skip
            seen += [i["id"] for i in res.items]
            token = res.next_token
            if token is None:
                break
        assert seen == expected
    store.close()


def test_a_catalog_from_before_the_json_table_is_migrated_on_open(tmp_path: Path) -> None:
    """Catalogs of earlier versions kept the item JSON in ``items.content``."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE collections (id TEXT PRIMARY KEY, content TEXT NOT NULL);
        CREATE TABLE items (rid INTEGER PRIMARY KEY, collection TEXT NOT NULL REFERENCES collections(id),
            id TEXT NOT NULL, dt REAL NOT NULL, dt_start REAL NOT NULL, dt_end REAL NOT NULL,
            cloud_cover REAL, minx REAL, maxx REAL, miny REAL, maxy REAL, geom BLOB,
            content TEXT NOT NULL);
        CREATE UNIQUE INDEX items_collection_id ON items (collection, id);
        CREATE VIRTUAL TABLE items_rtree USING rtree (rid, minx, maxx, miny, maxy);
    """)  # fmt: skip
    coll = {"type": "Collection", "id": "c", "description": "x", "links": [], "license": "x",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}}  # fmt: skip
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "a", "collection": "c", "links": [],
            "assets": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}, "bbox": [1, 2, 1, 2],
            "properties": {"datetime": "2024-01-01T00:00:00Z", "x:unknown": [1, {"y": None}]}}  # fmt: skip
    old.execute("INSERT INTO collections VALUES ('c', ?)", (json.dumps(coll),))
    old.execute("INSERT INTO items VALUES (1, 'c', 'a', 1704067200, 1704067200, 1704067200, NULL,"
                " 1, 1, 2, 2, NULL, ?)", (json.dumps(item),))  # fmt: skip
    old.execute("INSERT INTO items_rtree VALUES (1, 1, 1, 2, 2)")
    old.commit()
    old.close()
    store = SQLiteStore(path)
    assert store.get_item("c", "a") == item
    assert [i["id"] for i in store.search(SearchQuery(limit=5, bbox=(0, 1, 3, 3))).items] == ["a"]
    store.close()
    assert "content" not in {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(items)")}
    SQLiteStore(path).close()  # opening again is a no-op


@pytest.mark.parametrize("extent, field", [
    ({"spatial": "world"}, "extent.spatial"),
    ({"spatial": {"bbox": "0,0,1,1"}}, "extent.spatial.bbox"),
    ({"temporal": ["2020-01-01T00:00:00Z", None]}, "extent.temporal"),
    ({"temporal": {"interval": 7}}, "extent.temporal.interval"),
])  # fmt: skip
def test_a_collection_extent_of_the_wrong_shape_is_invalid_input(store: SQLiteStore, extent: Any,
                                                                  field: str) -> None:
    """Found by schemathesis as admin: ``extent.spatial`` given as a string was a 500."""
    with pytest.raises(InvalidInput) as err:
        store.create_collection(collection("c2") | {"extent": extent})
    assert err.value.field == field
    with pytest.raises(NotFound):
        store.get_collection("c2")
