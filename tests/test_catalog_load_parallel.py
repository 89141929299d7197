"""Bulk loads parsed in worker processes and appended into an empty catalog give the same
catalog as the serial path and as writing the items one at a time: every item round-trips, a
duplicate (collection, id) in the file is an upsert (the last one wins), every index and the
R-tree are complete, and a bad record anywhere fails the whole load naming its line."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_access_fixtures import box, collection, item

import sathub.catalog.loader as loader
from sathub.catalog.sqlite import SQLiteStore
from sathub.catalog.sqlite.schema import DEFERRED_INDEXES
from sathub.catalog.sqlite.transaction import SQLiteTransaction
from sathub.catalog.store import SearchQuery
from sathub.errors import LoadError

NOW = 1.7e9


def _items(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        w, s = rng.uniform(-170, 160), rng.uniform(-80, 70)
        it = item(f"s{k}", rng.choice(["a", "b"]), box(w, s, w + rng.uniform(0.1, 5), s + 1),
                  NOW - rng.uniform(0, 1e8))  # fmt: skip
        it["properties"]["eo:cloud_cover"] = round(rng.uniform(0, 100), 2)
        if k % 7 == 0:  # links the API regenerates are dropped from the stored item
            it["links"] = [{"rel": "self", "href": "x"}, {"rel": "license", "href": "l"}]
        out.append(it)
    return out


def _file(tmp: Path, lines: list[bytes]) -> Path:
    f = tmp / "items.ndjson"
    f.write_bytes(b"\n".join(lines) + b"\n")
    return f


@pytest.fixture
def big(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file counts as big (indexes deferred) and is cut into many worker tasks."""
    monkeypatch.setattr(loader, "DEFER_INDEXES_BYTES", 1)
    monkeypatch.setattr(loader, "PARALLEL_BYTES", 20_000)


def _store(path: Path) -> SQLiteStore:
    s = SQLiteStore(path)
    for c in ("a", "b"):
        s.create_collection(collection(c))
    return s


def _state(s: SQLiteStore) -> tuple[Any, ...]:
    conn = s._conn()
    items = sorted((orjson.dumps(i, option=orjson.OPT_SORT_KEYS) for i in s.iter_items()))
    rtree = conn.execute("SELECT count(*) FROM items_rtree").fetchone()[0]
    # the packed tree is a sound R*Tree holding the same (float32-rounded) boxes
    assert conn.execute("SELECT rtreecheck('items_rtree')").fetchone()[0] == "ok"
    boxes = conn.execute("SELECT i.collection, i.id, r.minx, r.maxx, r.miny, r.maxy FROM items_rtree r "
                         "JOIN items i ON i.rid = r.rid ORDER BY 1, 2").fetchall()  # fmt: skip
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    queryables = s.queryables()
    hits = s.search(SearchQuery(bbox=(-50, -40, 50, 40), limit=500))
    return items, rtree, indexes, queryables, sorted(i["id"] for i in hits.items), hits.matched, boxes


@pytest.mark.usefixtures("big")
@pytest.mark.parametrize("workers", [0, 2])
def test_parallel_and_appended_load_equals_item_by_item(tmp_path: Path, workers: int) -> None:
    its = _items(400, 1)
    dup = {**its[3], "properties": {**its[3]["properties"], "eo:cloud_cover": 99.5}}
    records = [*its, dup, its[10]]  # two rewrites: the last copy of each wins
    path = _file(tmp_path, [orjson.dumps(r) for r in records[:200]] + [b"", b"  "]
                 + [orjson.dumps(r) for r in records[200:]])  # fmt: skip
    loaded = _store(tmp_path / "loaded.db")
    stats = loader.load_file(loaded, path, workers=workers)
    assert stats.items == len(records)
    reference = _store(tmp_path / "reference.db")
    for r in records:
        reference.bulk_upsert([r])
    got, want = _state(loaded), _state(reference)
    assert got == want
    assert got[1] == len(its)  # one R-tree entry per item
    assert set(DEFERRED_INDEXES) | {"items_collection_id"} <= got[2]
    assert loaded.get_item("a" if its[3]["collection"] == "a" else "b", its[3]["id"])["properties"][
        "eo:cloud_cover"] == 99.5  # fmt: skip


@pytest.mark.usefixtures("big")
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("bad", [b'{"type": "Feature", "id": "x"}', b'{"type": "Feat', b'[1, 2]',
                                 orjson.dumps({**item("z", "nope", box(0, 0, 1, 1), NOW)})])  # fmt: skip
def test_a_bad_record_fails_the_load_at_its_line(tmp_path: Path, workers: int, bad: bytes) -> None:
    lines = [orjson.dumps(r) for r in _items(300, 2)]
    lines.insert(237, bad)
    path = _file(tmp_path, lines)
    s = _store(tmp_path / "c.db")
    with pytest.raises(LoadError, match=r"items\.ndjson:238: "):
        loader.load_file(s, path, workers=workers)
    assert s.counts() == {"a": 0, "b": 0}
    assert s._conn().execute("SELECT count(*) FROM items_content").fetchone()[0] == 0


@pytest.mark.usefixtures("big")
def test_parallel_load_into_a_catalog_with_items_upserts(tmp_path: Path) -> None:
    its = _items(120, 3)
    s = _store(tmp_path / "c.db")
    s.bulk_upsert(its[:50])
    changed = [{**it, "properties": {**it["properties"], "platform": "x"}} for it in its]
    loader.load_file(s, _file(tmp_path, [orjson.dumps(r) for r in changed]), workers=2)
    reference = _store(tmp_path / "reference.db")
    reference.bulk_upsert(its[:50])
    reference.bulk_upsert(changed)
    assert _state(s) == _state(reference)
    assert sum(s.counts().values()) == len(its)


@pytest.mark.usefixtures("big")
def test_collection_override_and_collection_records(tmp_path: Path) -> None:
    its = _items(60, 4)
    lines = [orjson.dumps(collection("c"))] + [orjson.dumps(r) for r in its]
    s = SQLiteStore(tmp_path / "c.db")
    stats = loader.load_file(s, _file(tmp_path, lines), collection="c", workers=2)
    assert (stats.collections, stats.items) == (1, len(its))
    assert {i["collection"] for i in s.iter_items()} == {"c"}
    assert s.counts() == {"c": len(its)}


@pytest.mark.usefixtures("big")
@pytest.mark.parametrize("pack", [True, False])
def test_rtree_built_apart_takes_later_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              pack: bool) -> None:  # fmt: skip
    """The R*Tree a deferred load packs (or fills entry by entry) answers like a brute-force
    scan, before and after later writes, and passes SQLite's own rtreecheck()."""
    monkeypatch.setattr(SQLiteTransaction, "PACK_RTREE", pack)
    s = _store(tmp_path / "c.db")
    its = _items(600, 5)
    loader.load_file(s, _file(tmp_path, [orjson.dumps(r) for r in its]), workers=0)
    by_id = {it["id"]: it for it in its}
    for k in range(0, 100, 3):  # move, delete and add items afterwards
        it = its[k]
        s.update_item(it["collection"], it["id"], {**it, "bbox": [0, 0, 1, 1],
                      "geometry": box(0, 0, 1, 1)})  # fmt: skip
        by_id[it["id"]] = {**it, "bbox": [0, 0, 1, 1]}
    for it in its[100:130]:
        s.delete_item(it["collection"], it["id"])
        del by_id[it["id"]]
    conn = s._conn()
    assert conn.execute("SELECT rtreecheck('items_rtree')").fetchone()[0] == "ok"
    rng = random.Random(7)
    for _ in range(20):
        w, so = rng.uniform(-180, 150), rng.uniform(-90, 60)
        q = (w, so, w + rng.uniform(1, 60), so + rng.uniform(1, 40))
        want = sorted(i for i, it in by_id.items() if it["bbox"][0] <= q[2] and it["bbox"][2] >= q[0]
                      and it["bbox"][1] <= q[3] and it["bbox"][3] >= q[1])  # fmt: skip
        got = sorted(r[0] for r in conn.execute(
            "SELECT i.id FROM items_rtree r JOIN items i ON i.rid = r.rid "
            "WHERE r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ?", (q[0], q[2], q[1], q[3])))
        assert got == want, q


@pytest.mark.usefixtures("big")
@pytest.mark.parametrize("workers", [0, 2])
def test_boxes_collected_while_appending_are_the_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        workers: int) -> None:  # fmt: skip
    """The boxes kept as rows are appended (packed in a thread while the indexes are built)
    are those a SELECT of the table reads at the end, items without geometry left out; the
    tree built from them equals the item-by-item catalog's."""
    its = _items(300, 6)
    for k in (0, 17, 299):  # no geometry: no R*Tree entry
        its[k] = {**its[k], "geometry": None}
        del its[k]["bbox"]
    seen: dict[str, Any] = {}
    rebuild = SQLiteTransaction._rebuild_deferred

    def spy(self: SQLiteTransaction) -> None:
        seen["collected"], seen["selected"] = self._collected_rows(), self._rtree_rows()
        rebuild(self)

    monkeypatch.setattr(SQLiteTransaction, "_rebuild_deferred", spy)
    loaded = _store(tmp_path / "loaded.db")
    loader.load_file(loaded, _file(tmp_path, [orjson.dumps(r) for r in its]), workers=workers)
    assert seen["selected"].shape == (297, 5)
    assert seen["collected"].tobytes() == seen["selected"].tobytes()
    reference = _store(tmp_path / "reference.db")
    reference.bulk_upsert(its)
    got = _state(loaded)
    assert got == _state(reference)
    assert got[1] == 297


@pytest.mark.usefixtures("big")
@pytest.mark.parametrize("workers", [0, 2])
def test_a_duplicate_that_moves_its_box_packs_the_merged_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Duplicates merged at the end change and delete rows: the boxes collected while
    appending are stale, and the tree is packed from the merged table instead (the last
    copy's box, one entry per item)."""
    its = _items(200, 7)
    moved = {**its[5], "bbox": [10, 10, 11, 11], "geometry": box(10, 10, 11, 11)}
    gone = {**its[9], "geometry": None}
    del gone["bbox"]
    records = [*its, moved, gone]
    selects = []
    fill = SQLiteTransaction._fill_rtree

    def spy(self: SQLiteTransaction) -> None:
        selects.append(1)
        fill(self)

    monkeypatch.setattr(SQLiteTransaction, "_fill_rtree", spy)
    loaded = _store(tmp_path / "loaded.db")
    loader.load_file(loaded, _file(tmp_path, [orjson.dumps(r) for r in records]), workers=workers)
    assert selects == [1]  # the fallback: the table read after the merge
    reference = _store(tmp_path / "reference.db")
    for r in records:
        reference.bulk_upsert([r])
    got = _state(loaded)
    assert got == _state(reference)
    assert got[1] == len(its) - 1
    conn = loaded._conn()
    assert conn.execute("SELECT r.minx, r.maxy FROM items_rtree r JOIN items i ON i.rid = r.rid "
                        "WHERE i.id = ?", (its[5]["id"],)).fetchone() == (10.0, 11.0)  # fmt: skip


@pytest.mark.usefixtures("big")
def test_kept_sets_survive_the_temp_store_switch_of_a_load(tmp_path: Path) -> None:
    """A bulk load sorts with temp_store=FILE (SQLite's sorter threads), and switching it drops
    the connection's temporary tables, among them the access filter's kept sets: a search
    after a failed load and after a good one still answers (the sets are made again)."""
    from sathub.catalog.filters import AccessFilter, Kept

    its = _items(80, 8)
    s = _store(tmp_path / "c.db")
    s.bulk_upsert(its[:40])
    only_a = AccessFilter((Kept({"op": "=", "args": [{"property": "collection"}, "a"]}),))

    def visible() -> list[str]:
        return sorted(i["id"] for i in s.search(SearchQuery(limit=500), extra_filter=only_a).items)

    first = visible()
    assert first == sorted(i["id"] for i in its[:40] if i["collection"] == "a")
    assert s._conn().execute("SELECT count(*) FROM temp.sqlite_master").fetchone()[0] > 0
    bad = [orjson.dumps(r) for r in its[40:]] + [b'{"type": "Feat']
    with pytest.raises(LoadError):
        loader.load_file(s, _file(tmp_path, bad), workers=0)
    assert visible() == first  # rolled back: same generation, the set made again
    loader.load_file(s, _file(tmp_path, [orjson.dumps(r) for r in its[40:]]), workers=0)
    assert visible() == sorted(i["id"] for i in its if i["collection"] == "a")


@pytest.mark.usefixtures("big")
def test_a_load_into_an_empty_catalog_commits_its_planner_statistics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANALYZE runs inside the load's transaction (no window where readers see the new
    indexes without statistics): the same sqlite_stat1 as an ANALYZE after it, and none
    when the load fails."""
    its = _items(1200, 9)
    lines = [orjson.dumps(r) for r in its]
    failed = _store(tmp_path / "failed.db")
    with pytest.raises(LoadError):
        loader.load_file(failed, _file(tmp_path, [*lines, b"[1]"]), workers=0)
    conn = failed._conn()
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
    ran = []
    monkeypatch.setattr(SQLiteStore, "analyze_if_stale", lambda self: ran.append(1) or False)
    s = _store(tmp_path / "c.db")
    loader.load_file(s, _file(tmp_path, lines), workers=2)
    conn = s._conn()
    stats = sorted(conn.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall())
    assert ("items", "items_collection_dt", "1200 600 1") in stats
    conn.execute("ANALYZE")
    assert sorted(conn.execute("SELECT tbl, idx, stat FROM sqlite_stat1").fetchall()) == stats
    assert ran == [1] and not SQLiteStore.stats_stale(conn)
