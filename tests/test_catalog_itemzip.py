"""Item JSON compressed with a dictionary by a parallel bulk load (catalog/itemzip.py):
stored as zstd frames, read back byte for byte, and every reader of the JSON (items, pages,
CQL2 property filters and array operators, free text, sorting on a property, aggregations,
an access filter) answers as on the same items written one at a time as text,
and as a brute-force evaluation in Python. Catalogs holding text rows keep working beside
compressed ones; a failed load leaves no dictionary behind."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_access_fixtures import box, collection, item

import sathub.catalog.loader as loader
from sathub.catalog.sqlite import SQLiteStore
from sathub.catalog.itemzip import MIN_SAMPLES, Packer, train
from sathub.catalog.sqlite.itemjson import register
from sathub.catalog.store import SearchQuery, SortKey
from sathub.errors import LoadError

NOW = 1.7e9
PLATFORMS = ["sentinel-2a", "sentinel-2b", "landsat-9", "ÉnMAP ☂"]


def _items(n: int, seed: int, prefix: str = "s") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        w, s = rng.uniform(-170, 160), rng.uniform(-80, 70)
        it = item(f"{prefix}{k}", rng.choice(["a", "b"]), box(w, s, w + rng.uniform(0.1, 5), s + 1),
                  NOW - rng.uniform(0, 1e8))  # fmt: skip
        p = it["properties"]
        p["eo:cloud_cover"] = round(rng.uniform(0, 100), 2)
        p["platform"] = rng.choice(PLATFORMS)
        p["view:sun_elevation"] = round(rng.uniform(-10, 80), 3)
        p["keywords"] = rng.sample(["rice", "flood", "forest", "urban"], rng.randint(0, 3))
        p["title"] = f"Scene {k} über {rng.choice(['Mekong', 'Chao Phraya', 'Irrawaddy'])}"
        out.append(it)
    return out


def _file(tmp: Path, records: list[dict[str, Any]], name: str = "items.ndjson") -> Path:
    f = tmp / name
    f.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    return f


@pytest.fixture
def big(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "DEFER_INDEXES_BYTES", 1)
    monkeypatch.setattr(loader, "PARALLEL_BYTES", 30_000)


def _store(path: Path) -> SQLiteStore:
    s = SQLiteStore(path)
    for c in ("a", "b"):
        s.create_collection(collection(c))
    return s


def _kinds(s: SQLiteStore) -> dict[str, int]:
    return dict(s._conn().execute("SELECT typeof(content), count(*) FROM items_content GROUP BY 1").fetchall())


QUERIES: list[tuple[SearchQuery, Any]] = [
    (SearchQuery(filter={"op": "=", "args": [{"property": "platform"}, "ÉnMAP ☂"]}, limit=1000),
     lambda p: p["platform"] == "ÉnMAP ☂"),
    (SearchQuery(filter={"op": ">", "args": [{"property": "view:sun_elevation"}, 40]}, limit=1000),
     lambda p: p["view:sun_elevation"] > 40),
    (SearchQuery(filter={"op": "a_contains", "args": [{"property": "keywords"}, ["rice", "flood"]]},
                 limit=1000),
     lambda p: {"rice", "flood"} <= set(p["keywords"])),
    (SearchQuery(q=["mekong"], limit=1000), lambda p: "mekong" in p["title"].lower()),
    (SearchQuery(filter={"op": "or", "args": [
        {"op": "and", "args": [{"op": "=", "args": [{"property": "platform"}, "landsat-9"]},
                               {"op": "<", "args": [{"property": "view:sun_elevation"}, 20]}]},
        {"op": "like", "args": [{"property": "title"}, "%Irrawaddy"]}]}, limit=1000),
     lambda p: (p["platform"] == "landsat-9" and p["view:sun_elevation"] < 20)
     or p["title"].endswith("Irrawaddy")),
    (SearchQuery(query={"platform": {"in": ["landsat-9", "sentinel-2b"]}}, limit=1000),
     lambda p: p["platform"] in ("landsat-9", "sentinel-2b")),
]  # fmt: skip


@pytest.mark.usefixtures("big")
def test_compressed_load_reads_like_text_and_like_brute_force(tmp_path: Path) -> None:
    its = _items(500, 1)
    loaded = _store(tmp_path / "loaded.db")
    loader.load_file(loaded, _file(tmp_path, its), workers=2)
    assert _kinds(loaded) == {"blob": len(its)}  # every item compressed
    assert loaded._conn().execute("SELECT count(*) FROM item_dicts").fetchone()[0] == 1
    reference = _store(tmp_path / "reference.db")
    reference.bulk_upsert(its)
    assert _kinds(reference) == {"text": len(its)}

    by_id = {it["id"]: it for it in its}
    got = {i["id"]: i for i in loaded.iter_items()}
    assert got == by_id  # lossless
    assert orjson.dumps(list(loaded.iter_items())) == orjson.dumps(list(reference.iter_items()))
    assert loaded.get_item(its[7]["collection"], its[7]["id"]) == its[7]
    for query, keep in QUERIES:
        want = sorted(i for i, it in by_id.items() if keep(it["properties"]))
        assert want, query  # the filter selects something
        for s in (loaded, reference):
            res = s.search(query)
            assert sorted(i["id"] for i in res.items) == want, query
            assert res.matched == len(want)
    # sorted on a property only the JSON holds, paged: the same order as sorting in Python
    q = SearchQuery(sortby=[SortKey("view:sun_elevation", "desc"), SortKey("id", "asc")], limit=70)
    want_order = [i for i, _ in sorted(by_id.items(), key=lambda kv: (-kv[1]["properties"]["view:sun_elevation"], kv[0]))]
    for s in (loaded, reference):
        seen: list[str] = []
        token = None
        while True:
            page = s.search(SearchQuery(sortby=q.sortby, limit=q.limit, token=token))
            seen += [i["id"] for i in page.items]
            token = page.next_token
            if token is None:
                break
        assert seen == want_order
    # aggregations and an access filter (CQL2 inside the query) on a property of the JSON
    aggs = ["total_count", "collection_frequency", "cloud_cover_frequency"]
    assert loaded.aggregate(QUERIES[1][0], aggs) == reference.aggregate(QUERIES[1][0], aggs)
    keep = {"op": "<>", "args": [{"property": "platform"}, "landsat-9"]}
    want = sorted(i for i, it in by_id.items() if QUERIES[1][1](it["properties"])
                  and it["properties"]["platform"] != "landsat-9")  # fmt: skip
    for s in (loaded, reference):
        res = s.search(QUERIES[1][0], extra_filter=keep)
        assert sorted(i["id"] for i in res.items) == want and res.matched == len(want)
    # the JSON of these items takes a fraction of its text (the dictionary apart)
    size = "SELECT sum(length(CAST(content AS BLOB))) FROM items_content"
    z, t = (s._conn().execute(size).fetchone()[0] for s in (loaded, reference))
    assert z * 3 < t, (z, t)


@pytest.mark.usefixtures("big")
def test_text_rows_and_compressed_rows_side_by_side(tmp_path: Path) -> None:
    """A catalog written as text (item by item, or by an earlier version) is read unchanged;
    two compressed loads with their own dictionaries and upserts over text rows mix."""
    old, first, second = _items(150, 2, "o"), _items(200, 3, "f"), _items(200, 4, "g")
    rewritten = [{**it, "properties": {**it["properties"], "platform": "landsat-9"}} for it in old[:40]]
    s = _store(tmp_path / "c.db")
    s.bulk_upsert(old)
    loader.load_file(s, _file(tmp_path, first + rewritten, "1.ndjson"), workers=2)
    loader.load_file(s, _file(tmp_path, second, "2.ndjson"), workers=2)
    assert _kinds(s) == {"text": 110, "blob": 440}
    assert s._conn().execute("SELECT count(*) FROM item_dicts").fetchone()[0] == 2
    want = {it["id"]: it for it in [*old[40:], *rewritten, *first, *second]}
    assert {i["id"]: i for i in s.iter_items()} == want
    res = s.search(QUERIES[0][0])
    assert sorted(i["id"] for i in res.items) == sorted(i for i, it in want.items() if QUERIES[0][1](it["properties"]))
    s.close()
    s = SQLiteStore(tmp_path / "c.db")  # a new connection reads the dictionaries again
    assert {i["id"]: i for i in s.iter_items()} == want


@pytest.mark.usefixtures("big")
def test_a_failed_load_leaves_no_dictionary(tmp_path: Path) -> None:
    its = _items(300, 5)
    path = tmp_path / "items.ndjson"
    lines = [orjson.dumps(r) for r in its]
    lines.insert(250, b'{"type": "Feature", "id": "x"}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    s = _store(tmp_path / "c.db")
    with pytest.raises(LoadError, match=r"items\.ndjson:251: "):
        loader.load_file(s, path, workers=2)
    c = s._conn()
    assert c.execute("SELECT count(*) FROM item_dicts").fetchone()[0] == 0
    assert c.execute("SELECT count(*) FROM items_content").fetchone()[0] == 0


@pytest.mark.usefixtures("big")
def test_few_items_are_stored_as_text(tmp_path: Path) -> None:
    its = _items(MIN_SAMPLES - 1, 6)
    s = _store(tmp_path / "c.db")
    loader.load_file(s, _file(tmp_path, its), workers=2)
    assert _kinds(s) == {"text": len(its)}
    assert {i["id"]: i for i in s.iter_items()} == {it["id"]: it for it in its}


def test_a_frame_naming_an_unknown_dictionary_is_an_error_not_garbage(tmp_path: Path) -> None:
    zd = train([orjson.dumps(it) for it in _items(200, 7)])
    assert zd is not None
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE item_dicts (id INTEGER PRIMARY KEY, dict BLOB NOT NULL)")
    register(conn)
    frame = Packer(zd[1]).pack(b'{"a": 1}')
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT item_json(?)", (frame,)).fetchone()
    conn.execute("INSERT INTO item_dicts VALUES (?, ?)", zd)
    assert conn.execute("SELECT item_json(?), item_json('[1]'), item_json(NULL)", (frame,)).fetchone() == (
        '{"a": 1}', "[1]", None)


_DICT = train([orjson.dumps(it) for it in _items(200, 8)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(),
                    lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=20))
def test_any_json_round_trips_through_the_dictionary(value: Any) -> None:
    assert _DICT is not None
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE item_dicts (id INTEGER PRIMARY KEY, dict BLOB NOT NULL)")
    conn.execute("INSERT INTO item_dicts VALUES (?, ?)", _DICT)
    register(conn)
    text = orjson.dumps(value)
    assert conn.execute("SELECT item_json(?)", (Packer(_DICT[1]).pack(text),)).fetchone()[0] == text.decode()


@pytest.mark.usefixtures("big")
def test_items_changed_on_the_way_in_are_compressed_as_stored(tmp_path: Path) -> None:
    """--collection and dropped generated links change the item: the stored (compressed) JSON
    is the changed item, not the line read."""
    its = _items(200, 9)
    for it in its[::5]:
        it["links"] = [{"rel": "self", "href": "x"}, {"rel": "license", "href": "l"}]
    s = _store(tmp_path / "c.db")
    loader.load_file(s, _file(tmp_path, its), collection="b", workers=2)
    assert _kinds(s) == {"blob": len(its)}
    got = {i["id"]: i for i in s.iter_items()}
    for it in its:
        want = {**it, "collection": "b"}
        if "links" in it:
            want["links"] = [link for link in it["links"] if link["rel"] != "self"]
        assert got[it["id"]] == want


def test_a_new_dictionary_never_takes_an_id_the_catalog_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    import sathub.catalog.itemzip as itemzip

    draws = iter([5, 5, 9])
    monkeypatch.setattr(itemzip.secrets, "randbelow", lambda n: next(draws))
    got = train([orjson.dumps(it) for it in _items(200, 10)], taken=frozenset({2**15 + 5}))
    assert got is not None and got[0] == 2**15 + 9
