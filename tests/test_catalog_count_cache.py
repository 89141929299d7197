"""The SQLite store's cache of numberMatched across the pages of a search (countcache.py).

References: the same search on a second store on the same file whose cache is off (each count
is ``count_matches`` run afresh), and, below the cap, the number of items all the pages of the
search return (no count involved)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_access_fixtures import collection

from sathub.catalog import query as query_mod
from sathub.catalog.filters import AccessFilter, Kept
from sathub.catalog.sqlite import SQLiteStore, countcache
from sathub.catalog.sqlite.countcache import CountCache
from sathub.catalog.store import SearchQuery

CAP = 40  # small, so that searches pass it and are estimated
T0 = datetime(2021, 1, 1, tzinfo=UTC)
SRC = str(Path(__file__).resolve().parents[1] / "src")


def item(iid: str, coll: str, lon: float, lat: float, day: int, cloud: float) -> dict[str, Any]:
    d = 0.4
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    dt = (T0 + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": coll,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [lon - d, lat - d, lon + d, lat + d],
        "properties": {"datetime": dt, "eo:cloud_cover": cloud},
        "assets": {}, "links": [],
    }  # fmt: skip


def base_items(n: int) -> list[dict[str, Any]]:
    return [item(f"i{k:04d}", "c1" if k % 3 else "c2", (k % 20) - 10.0, (k // 20) % 10 - 5.0,
                 k % 200, float(k % 100)) for k in range(n)]  # fmt: skip


def open_pair(path: Path) -> tuple[SQLiteStore, SQLiteStore]:
    """(the store under test, a store on the same file with its cache off)."""
    cached = SQLiteStore(path, count_cap=CAP)
    plain = SQLiteStore(path, count_cap=CAP)
    plain.count_cache = CountCache(size=0)
    return cached, plain


def all_ids(store: SQLiteStore, q: SearchQuery, extra: Any = None) -> int:
    """How many items all the pages of ``q`` return (no count involved)."""
    n, token = 0, None
    while True:
        page = store.search(SearchQuery(**{**q.__dict__, "token": token, "limit": 500}),
                            extra_filter=extra, count=False)  # fmt: skip
        n += len(page.items)
        token = page.next_token
        if token is None:
            return n


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[SQLiteStore, SQLiteStore]:
    path = tmp_path_factory.mktemp("countcache") / "c.db"
    cached, plain = open_pair(path)
    cached.create_collection(collection("c1"))
    cached.create_collection(collection("c2"))
    cached.bulk_upsert(base_items(400))
    return cached, plain


searches = st.builds(
    lambda colls, box, days, cloud, limit: SearchQuery(
        collections=colls,
        bbox=box,
        start=None if days is None else T0 + timedelta(days=days[0]),
        end=None if days is None else T0 + timedelta(days=days[0] + days[1]),
        filter=None if cloud is None else {"op": "<", "args": [{"property": "eo:cloud_cover"}, cloud]},
        limit=limit,
    ),
    st.none() | st.sampled_from([["c1"], ["c2"], ["c1", "c2"]]),
    st.none() | st.tuples(st.integers(-11, 8), st.integers(-6, 3)).map(
        lambda p: (float(p[0]), float(p[1]), p[0] + 3.0, p[1] + 3.0)),
    st.none() | st.tuples(st.integers(0, 200), st.integers(0, 120)),
    st.none() | st.integers(0, 100).map(float),
    st.integers(1, 15),
)
extras = st.none() | st.sampled_from([
    {"op": "=", "args": [{"property": "collection"}, "c1"]},
    {"op": "=", "args": [{"property": "collection"}, "c2"]},
    AccessFilter((Kept({"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]}),)),
    AccessFilter((Kept({"op": ">=", "args": [{"property": "eo:cloud_cover"}, 30]}),)),
])
steps = st.lists(
    st.tuples(st.just("search"), searches, extras, st.integers(1, 6))
    | st.tuples(st.just("write"), st.integers(0, 10**6), st.booleans()),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=steps)
def test_counts_equal_uncached_counts_on_every_page(pair: tuple[SQLiteStore, SQLiteStore],
                                                    ops: list[Any]) -> None:  # fmt: skip
    """Random searches (with and without access filters) paged forward, between writes by the
    other store: on every page the count and its estimate flag are those of an uncached
    count_matches, and exact counts are the number of items the search returns."""
    cached, plain = pair
    for op in ops:
        if op[0] == "write":
            _, k, delete = op
            if delete:
                ids = [it["id"] for it in plain.iter_items("c1")]
                if ids:
                    plain.delete_item("c1", ids[k % len(ids)])
                continue
            plain.create_item(item(f"w{k}-{os.urandom(4).hex()}", "c1", (k % 20) - 10.0,
                                   (k // 20) % 10 - 5.0, k % 200, float(k % 100)))  # fmt: skip
            continue
        _, q, extra, pages = op
        truth: int | None = None
        token = None
        for _ in range(pages):
            page_q = SearchQuery(**{**q.__dict__, "token": token})
            got = cached.search(page_q, extra_filter=extra)
            ref = plain.search(page_q, extra_filter=extra)
            assert (got.matched, got.matched_is_estimate) == (ref.matched, ref.matched_is_estimate)
            if not got.matched_is_estimate:
                if truth is None:
                    truth = all_ids(plain, q, extra)
                assert got.matched == truth
            token = got.next_token
            if token is None:
                break


def test_later_pages_reuse_the_count(pair: tuple[SQLiteStore, SQLiteStore]) -> None:
    """Pages 2.. of a search run no count: the cache answers them."""
    cached, _ = pair
    q = SearchQuery(collections=["c1"], limit=5)
    first = cached.search(q)
    before = (cached.count_cache.hits, cached.count_cache.misses)
    token = first.next_token
    for _ in range(5):
        page = cached.search(SearchQuery(collections=["c1"], limit=5, token=token))
        assert (page.matched, page.matched_is_estimate) == (first.matched, first.matched_is_estimate)
        token = page.next_token
    assert (cached.count_cache.hits - before[0], cached.count_cache.misses - before[1]) == (5, 0)


def _store(tmp_path: Path, n: int = 30, **kw: Any) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "c.db", count_cap=CAP, **kw)
    s.create_collection(collection("c1"))
    s.create_collection(collection("c2"))
    s.bulk_upsert(base_items(n))
    return s


def test_a_write_by_another_store_is_seen_on_the_next_page(tmp_path: Path) -> None:
    a = _store(tmp_path)
    b = SQLiteStore(tmp_path / "c.db", count_cap=CAP)
    q = SearchQuery(collections=["c1"], limit=3)
    first = a.search(q)
    assert first.matched == 20 and not first.matched_is_estimate
    b.create_item(item("new", "c1", 0, 0, 5, 5.0))
    second = a.search(SearchQuery(collections=["c1"], limit=3, token=first.next_token))
    assert second.matched == 21
    b.delete_item("c1", "i0001")
    b.delete_item("c1", "i0002")
    assert a.search(q).matched == 19


def test_a_write_by_another_process_is_seen(tmp_path: Path) -> None:
    a = _store(tmp_path)
    q = SearchQuery(collections=["c2"], limit=3)
    assert a.search(q).matched == 10
    code = (
        "import sys; from sathub.catalog.sqlite import SQLiteStore; "
        "import test_catalog_count_cache as t; "
        "SQLiteStore(sys.argv[1]).create_item(t.item('other', 'c2', 0, 0, 5, 5.0))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(Path(__file__).parent)])}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.db")], check=True, env=env)
    assert a.search(SearchQuery(collections=["c2"], limit=3, token=None)).matched == 11


def test_the_generation_and_the_count_are_one_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that commits after the search read the generation, before its count ran: the
    count is the one of the snapshot the generation names (the page's), and the entry under
    that generation holds it; the next search counts again."""
    a = _store(tmp_path)
    b = SQLiteStore(tmp_path / "c.db", count_cap=CAP)
    real = countcache.count_matches
    wrote: list[bool] = []

    def write_then_count(*args: Any, **kw: Any) -> tuple[int, bool]:
        if not wrote:
            b.create_item(item("late", "c1", 0, 0, 5, 5.0))
            wrote.append(True)
        return real(*args, **kw)

    monkeypatch.setattr(countcache, "count_matches", write_then_count)
    gen = a._generation(a._conn())
    q = SearchQuery(collections=["c1"], limit=100)
    first = a.search(q)
    assert wrote and first.matched == len(first.items) == 20
    entries = dict(a.count_cache._entries)
    assert [(k[0], v) for k, v in entries.items()] == [(gen, (20, False))]
    assert a.search(q).matched == 21


def test_access_filters_never_share_a_count(tmp_path: Path) -> None:
    """Searches alike but for the caller's filter (same WHERE text, other parameters; kept
    sets of different filters) each get their own filter's count, whatever ran before."""
    a = _store(tmp_path, n=60)
    q = SearchQuery(limit=2)
    filters: list[Any] = [
        {"op": "=", "args": [{"property": "collection"}, "c1"]},
        {"op": "=", "args": [{"property": "collection"}, "c2"]},
        AccessFilter((Kept({"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}),)),
        AccessFilter((Kept({"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]}),)),
        AccessFilter((Kept({"op": "=", "args": [{"property": "collection"}, "c2"]},
                           cheap={"op": "<", "args": [{"property": "eo:cloud_cover"}, 5]}),)),
    ]
    want = [all_ids(a, q, f) for f in filters]
    assert want == [40, 20, 10, 20, 23]
    for _ in range(2):
        for f, n in zip(filters, want):
            page = a.search(q, extra_filter=f)
            assert page.matched == n
            assert a.search(SearchQuery(limit=2, token=page.next_token), extra_filter=f).matched == n
    assert len(a.count_cache) == len(filters)


def test_parameters_equal_in_python_but_not_in_sqlite(tmp_path: Path) -> None:
    """``id = 1`` matches the id "1", ``id = 1.0`` does not (a text column compares the
    number's text): the key holds each parameter's type."""
    a = _store(tmp_path, n=0)
    a.create_item(item("1", "c1", 0, 0, 1, 1.0))
    by_int = SearchQuery(filter={"op": "=", "args": [{"property": "id"}, 1]})
    by_float = SearchQuery(filter={"op": "=", "args": [{"property": "id"}, 1.0]})
    assert a.search(by_int).matched == 1
    assert a.search(by_float).matched == 0
    assert a.search(by_int).matched == 1


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    a = _store(tmp_path, n=100)
    a.count_cache = CountCache(size=4)
    qs = [SearchQuery(filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, c]}) for c in range(10)]
    for q in qs:
        a.search(q)
        assert len(a.count_cache) <= 4
    assert len(a.count_cache) == 4
    hits = a.count_cache.hits
    for q in qs[-4:]:  # the most recent are kept
        a.search(q)
    assert a.count_cache.hits == hits + 4
    a.search(qs[0])  # dropped long ago: counted again
    assert a.count_cache.hits == hits + 4
    # a count whose inputs are large (a big polygon) is not kept
    ring = [[-10 + 20 * k / 3000, -5 + (k % 2) * 0.001] for k in range(3000)] + [[10, 5], [-10, 5], [-10, -5]]
    big = SearchQuery(intersects={"type": "Polygon", "coordinates": [ring + [ring[0]]]})
    keys = set(a.count_cache._entries)
    assert a.search(big).matched == a.search(big).matched
    assert set(a.count_cache._entries) == keys


def test_no_cache_inside_a_callers_transaction(tmp_path: Path) -> None:
    """A search run inside an open write transaction sees its uncommitted rows, which the
    generation does not show yet: its count is neither taken from nor put in the cache."""
    a = _store(tmp_path)
    q = SearchQuery(collections=["c1"], limit=3)
    assert a.search(q).matched == 20
    with a.transaction() as tx:
        tx.put_item(item("in-tx", "c1", 0, 0, 5, 5.0), mode="insert")
        assert a.search(q).matched == 21
    assert a.search(q).matched == 21


def test_fetch_page_without_a_counter_counts_as_before(tmp_path: Path) -> None:
    a = _store(tmp_path)
    conn = a._conn()
    plan = query_mod.build_search(SearchQuery(collections=["c1"]), None, a.queryables())
    page = query_mod.fetch_page(conn, plan, SearchQuery(collections=["c1"]), count_cap=CAP)
    assert page.matched == 20
