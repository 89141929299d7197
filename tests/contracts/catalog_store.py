"""The CatalogStore contract suite: what every catalog backend must do, checked against
references outside the store (Python sets and sorts, shapely, the ``cql2`` package's own
evaluator, the access policy evaluated item by item).

Every test runs once per entry of :data:`IMPLEMENTATIONS` (today the embedded SQLite store; a
pgstac store adds itself there, built by :class:`sathub.app.Installation` from its settings).
Nothing here may depend on one backend's internals: no SQL, no row ids, no tie-break order.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cql2
import pytest
import shapely
import test_access_property as tap
from pg_support import pgstac_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sathub.access.models import Actor
from sathub.access.policy import collections_filter, visible_collections
from sathub.app import Installation
from sathub.catalog.filters import AccessFilter, Gated, Kept, any_of
from sathub.catalog.store import CatalogStore, SearchQuery, SortKey
from sathub.catalog.validate import GENERATED_RELS, item_row
from sathub.config import Settings
from sathub.errors import Conflict, InvalidDatetime, InvalidGeometry, InvalidInput, NotFound


@contextmanager
def sqlite_store(tmp: Path) -> Iterator[CatalogStore]:
    with Installation.create(Settings(data=tmp / "data")) as inst:
        yield inst.catalog


# name → a fresh, empty store in a temporary directory (closed when the context ends)
IMPLEMENTATIONS: dict[str, Callable[[Path], AbstractContextManager[CatalogStore]]] = {
    "sqlite": sqlite_store,
    "pgstac": pgstac_store,  # a new database of the test process's PostgreSQL cluster
}

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
COLLECTIONS = ["c1", "c2", "c3"]
PLATFORMS = ["sentinel-2a", "sentinel-2b", "landsat-9"]
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def new_store(request: Any, tmp_path_factory: Any) -> Iterator[Callable[[], CatalogStore]]:
    """Makes fresh empty stores of one implementation (any number, all closed at the end)."""
    with ExitStack() as stack:

        def make() -> CatalogStore:
            tmp = tmp_path_factory.mktemp(request.param)
            return stack.enter_context(IMPLEMENTATIONS[request.param](tmp))

        yield make


def collection(cid: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Collection", "stac_version": "1.0.0", "id": cid, "description": f"{cid}",
            "license": "CC-BY-4.0", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}}, **extra}  # fmt: skip


def ts(hours: float) -> str:
    return (EPOCH + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def item(iid: str, coll: str = "c1", bbox: tuple[float, float, float, float] = (0, 0, 1, 1),
         hours: float = 0, **props: Any) -> dict[str, Any]:  # fmt: skip
    return {"type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": coll,
            "geometry": json.loads(json.dumps(shapely.geometry.mapping(shapely.box(*bbox)))),
            "bbox": list(bbox),
            "properties": {"datetime": ts(hours), **props}, "assets": {}, "links": []}  # fmt: skip


@pytest.fixture()
def store(new_store: Callable[[], CatalogStore]) -> CatalogStore:
    s = new_store()
    for c in COLLECTIONS:
        s.create_collection(collection(c))
    return s


@pytest.fixture(scope="module", params=sorted(IMPLEMENTATIONS))
def shared_store(request: Any, tmp_path_factory: Any) -> Iterator[CatalogStore]:
    """One store per implementation for the property tests (each example empties it)."""
    with IMPLEMENTATIONS[request.param](tmp_path_factory.mktemp(request.param)) as s:
        yield s


def emptied(store: CatalogStore, collections: list[str]) -> CatalogStore:
    """The store with exactly ``collections``, all empty (through the contract only)."""
    for c in store.list_collections():
        store.delete_collection(c["id"])
    for c in collections:
        store.create_collection(collection(c))
    return store


def _stripped(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "links": [ln for ln in doc.get("links", []) if ln.get("rel") not in GENERATED_RELS]}


def _ids(store: CatalogStore, query: SearchQuery, extra: Any = None) -> tuple[list[str], int | None]:
    """Every id across all pages (in page order) and the first page's count."""
    got: list[str] = []
    matched = None
    for n in range(1000):
        page = store.search(query, extra_filter=extra)
        if n == 0:
            matched = page.matched
        got += [it["id"] for it in page.items]
        if page.next_token is None:
            return got, matched
        query = SearchQuery(**{**query.__dict__, "token": page.next_token})
    raise AssertionError("paging does not end")


# ------------------------------------------------------------------ collections
def test_collections_crud(store: CatalogStore) -> None:
    assert [c["id"] for c in store.list_collections()] == COLLECTIONS
    with pytest.raises(Conflict):
        store.create_collection(collection("c1"))
    with pytest.raises(NotFound):
        store.get_collection("nope")
    doc = collection("c4", title="Four", **{"sci:doi": "10.1/x"})
    doc["links"] = [{"rel": "self", "href": "http://x/self"}, {"rel": "license", "href": "http://x/l"}]
    store.create_collection(doc)
    assert store.get_collection("c4") == _stripped(doc)  # unknown fields kept, generated links not
    store.update_collection("c4", {**doc, "title": "Four bis"})
    assert store.get_collection("c4")["title"] == "Four bis"
    with pytest.raises(InvalidInput) as exc:
        store.update_collection("c4", collection("c5"))
    assert exc.value.field == "id"
    with pytest.raises(NotFound):
        store.update_collection("nope", collection("nope"))
    store.create_item(item("in-c4", "c4"))
    store.delete_collection("c4")
    assert "c4" not in {c["id"] for c in store.list_collections()} and "c4" not in store.counts()
    with pytest.raises(NotFound):
        store.get_item("c4", "in-c4")
    with pytest.raises(NotFound):
        store.delete_collection("c4")
    with pytest.raises(InvalidInput) as exc:
        store.create_collection({"type": "Collection", "id": "a/b", "description": "x"})
    assert exc.value.field == "id"


@settings(max_examples=40, deadline=None, suppress_health_check=HEALTH)
@given(subset=st.lists(st.sampled_from(COLLECTIONS), unique=True))
def test_list_collections_honours_its_filter(store: CatalogStore, subset: list[str]) -> None:
    ids = lambda flt: [c["id"] for c in store.list_collections(extra_filter=flt)]  # noqa: E731
    if subset:
        inside = {"op": "in", "args": [{"property": "id"}, subset]}
        assert ids(inside) == sorted(subset)
        assert ids({"op": "not", "args": [inside]}) == sorted(set(COLLECTIONS) - set(subset))
    assert ids({"op": "=", "args": [{"property": "description"}, "c2"]}) == ["c2"]
    assert ids(None) == COLLECTIONS


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(agrs=st.lists(tap.agreements(), max_size=3), acts=st.lists(tap.activations(), max_size=2),
       restricted=st.lists(st.sampled_from(tap.COLLECTIONS), unique=True),
       role=st.sampled_from(["partner", "anonymous", "analyst"]))  # fmt: skip
def test_collection_list_under_the_policy(shared_store: CatalogStore, agrs: Any, acts: Any,
                                          restricted: list[str], role: str) -> None:  # fmt: skip
    """The policy's collection filter, applied by the store, lists exactly the collections the
    policy's Python rule makes visible."""
    s = shared_store
    if [c["id"] for c in s.list_collections()] != tap.COLLECTIONS:
        emptied(s, tap.COLLECTIONS)
    actor = Actor(role=role, org_id=1 if role == "partner" else None,
                  agreements=tuple(agrs) if role == "partner" else (), activations=tuple(acts),
                  restricted=frozenset(restricted))  # fmt: skip
    expected = visible_collections(actor, tap.NOW, list(tap.COLLECTIONS))
    got = {c["id"] for c in s.list_collections(extra_filter=collections_filter(actor, tap.NOW))}
    assert got == expected


# ------------------------------------------------------------------------ items
def test_items_crud_and_round_trip(store: CatalogStore) -> None:
    it = item("a", eo_extra=1, **{"eo:cloud_cover": 12.5, "custom:thing": {"x": [1, 2]}})
    it["links"] = [{"rel": "self", "href": "http://x"}, {"rel": "via", "href": "http://y"}]
    it["assets"] = {"data": {"href": "c1/a/v1/data.tif", "roles": ["data"]}}
    store.create_item(it)
    assert store.get_item("c1", "a") == _stripped(it)
    with pytest.raises(Conflict):
        store.create_item(item("a"))
    with pytest.raises(NotFound):
        store.create_item(item("b", "nope"))
    with pytest.raises(InvalidInput) as exc:
        store.create_item(item("b", "c1"), "c2")  # the path names another collection
    assert exc.value.field == "collection"
    store.update_item("c1", "a", item("a", hours=5))
    assert store.get_item("c1", "a")["properties"]["datetime"] == ts(5)
    with pytest.raises(InvalidInput) as exc:
        store.update_item("c1", "a", item("other"))
    assert exc.value.field == "id"
    with pytest.raises(NotFound):
        store.update_item("c1", "missing", item("missing"))
    store.delete_item("c1", "a")
    for call in (lambda: store.get_item("c1", "a"), lambda: store.delete_item("c1", "a"),
                 lambda: store.get_item("nope", "a")):  # fmt: skip
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize(("mutate", "error", "field"), [
    (lambda it: it["properties"].pop("datetime"), InvalidDatetime, "properties.datetime"),
    (lambda it: it["properties"].update(datetime="2024-13-45"), InvalidDatetime, "properties.datetime"),
    (lambda it: it.update(geometry={"type": "Polygon", "coordinates": [[[0, 0], [500, 0], [0, 1], [0, 0]]]}),
     InvalidGeometry, "geometry"),
    (lambda it: it.update(id=""), InvalidInput, "id"),
    (lambda it: it.update(type="Collection"), InvalidInput, "type"),
])  # fmt: skip
def test_bad_items_are_refused_naming_the_field(store: CatalogStore, mutate: Any, error: type,
                                                field: str) -> None:  # fmt: skip
    bad = item("bad")
    mutate(bad)
    with pytest.raises(error) as exc:
        store.create_item(bad)
    assert exc.value.field == field  # type: ignore[attr-defined]
    assert store.counts()["c1"] == 0


# ------------------------------------------------------------------ transactions
def test_transaction_is_all_or_nothing(store: CatalogStore) -> None:
    store.create_item(item("kept"))
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.put_item(item("new"))
            tx.put_collection(collection("c9"))
            tx.delete_item("c1", "kept")
            raise RuntimeError("abort")
    assert [i["id"] for i in store.iter_items()] == ["kept"]
    assert "c9" not in {c["id"] for c in store.list_collections()}
    with pytest.raises(Conflict):
        with store.transaction() as tx:
            tx.put_item(item("new2"))
            tx.put_item(item("kept"), mode="insert")
    assert [i["id"] for i in store.iter_items()] == ["kept"]
    with pytest.raises(NotFound) as exc:
        with store.transaction() as tx:
            tx.require_collection("nope")
    assert exc.value.field == "collection"
    with store.transaction() as tx:  # a collection made in the transaction takes items at once
        tx.put_collection(collection("c9"), mode="insert")
        tx.require_collection("c9")
        tx.put_item(item("in-c9", "c9"), mode="insert")
    assert store.get_item("c9", "in-c9")["collection"] == "c9"


def test_nothing_is_visible_before_the_commit(store: CatalogStore) -> None:
    seen: dict[str, Any] = {}

    def look() -> None:  # another thread: another reader
        try:
            store.get_item("c1", "pending")
            seen["get"] = "found"
        except NotFound:
            seen["get"] = "not found"
        seen["search"] = store.search(SearchQuery(ids=["pending"])).matched

    with store.transaction() as tx:
        tx.put_item(item("pending"))
        t = threading.Thread(target=look)
        t.start()
        t.join(30)
    assert seen == {"get": "not found", "search": 0}
    assert store.get_item("c1", "pending")["id"] == "pending"


def test_bulk_upsert_is_all_or_nothing(store: CatalogStore) -> None:
    assert store.bulk_upsert([item(f"b{k}", hours=k) for k in range(5)]) == 5
    bad = item("b9")
    bad["properties"].pop("datetime")
    with pytest.raises(InvalidDatetime):
        store.bulk_upsert([item("b7"), bad])
    with pytest.raises(Conflict):
        store.bulk_upsert([item("b8"), item("b0")], mode="insert")
    assert sorted(i["id"] for i in store.iter_items()) == [f"b{k}" for k in range(5)]
    store.bulk_upsert([item("b0", hours=99)])  # upsert replaces
    assert store.get_item("c1", "b0")["properties"]["datetime"] == ts(99)
    assert store.bulk_upsert([item("x", "c1")], collection_id="c1") == 1
    with pytest.raises(InvalidInput):
        store.bulk_upsert([item("y", "c1")], collection_id="c2")


@pytest.mark.parametrize("large", [False, True])
def test_bulk_load(new_store: Callable[[], CatalogStore], large: bool) -> None:
    """A bulk load (``large`` or not) gives the same catalog as item-by-item writes; a failed
    one leaves nothing, and the store works as before after it."""
    s = new_store()
    items = [item(f"l{k}", COLLECTIONS[k % 2], (k % 20, k % 10, k % 20 + 2, k % 10 + 2), k,
                  **{"eo:cloud_cover": k % 100}) for k in range(300)]  # fmt: skip
    with pytest.raises(NotFound):
        with s.bulk_load(large=large) as tx:
            tx.put_collection(collection("c1"))
            tx.put_rows([item_row(it) for it in items[:10]])
            tx.require_collection("c2")  # not made: the whole load is rolled back
    assert s.list_collections() == []
    with s.bulk_load(large=large) as tx:
        tx.put_collection(collection("c1"))
        tx.put_collection(collection("c2"))
        tx.put_rows([item_row(it) for it in items])
    s.create_item(item("after", "c1", (50, 50, 51, 51)))  # indexes in place after the load
    expected = {it["id"] for it in items if shapely.box(*it["bbox"]).intersects(shapely.box(3, 3, 4, 4))}
    assert set(_ids(s, SearchQuery(bbox=(3, 3, 4, 4), limit=50))[0]) == expected
    assert _ids(s, SearchQuery(bbox=(49.5, 49.5, 50.5, 50.5)))[0] == ["after"]
    assert s.counts() == {"c1": 151, "c2": 150}


# ----------------------------------------------------------------------- search
item_st = st.builds(
    lambda x, y, w, h, hours, cc, plat, coll: item(
        "", coll, (x, y, x + w, y + h), hours, **{"eo:cloud_cover": cc, "platform": plat}),
    x=st.integers(-20, 20), y=st.integers(-20, 20), w=st.integers(1, 8), h=st.integers(1, 8),
    hours=st.integers(0, 24 * 60), cc=st.integers(0, 100), plat=st.sampled_from(PLATFORMS),
    coll=st.sampled_from(COLLECTIONS[:2]),
)  # fmt: skip


def _poly(x: int, y: int, w: int, h: int) -> dict[str, Any]:
    return dict(json.loads(json.dumps(shapely.geometry.mapping(shapely.box(x, y, x + w, y + h)))))


expr_st = st.one_of(
    st.builds(lambda v: {"op": "<", "args": [{"property": "eo:cloud_cover"}, v]}, st.integers(0, 100)),
    st.builds(lambda p: {"op": "=", "args": [{"property": "platform"}, p]}, st.sampled_from(PLATFORMS)),
    st.builds(lambda cs: {"op": "in", "args": [{"property": "collection"}, cs]},
              st.lists(st.sampled_from(COLLECTIONS), min_size=1, unique=True)),
    st.builds(lambda h: {"op": ">=", "args": [{"property": "datetime"}, {"timestamp": ts(h)}]},
              st.integers(0, 24 * 60)),
    st.builds(lambda x, y, w, h: {"op": "s_intersects", "args": [{"property": "geometry"}, _poly(x, y, w, h)]},
              st.integers(-20, 20), st.integers(-20, 20), st.integers(1, 15), st.integers(1, 15)),
)  # fmt: skip
filter_st = st.recursive(
    expr_st,
    lambda inner: st.one_of(
        st.builds(lambda a, b: {"op": "and", "args": [a, b]}, inner, inner),
        st.builds(lambda a, b: {"op": "or", "args": [a, b]}, inner, inner),
        st.builds(lambda a: {"op": "not", "args": [a]}, inner),
    ),
    max_leaves=4,
)


@st.composite
def queries(draw: Any) -> SearchQuery:
    q = SearchQuery(limit=draw(st.integers(1, 6)))
    if draw(st.booleans()):
        x, y = draw(st.integers(-20, 20)), draw(st.integers(-20, 20))
        q.bbox = (x, y, x + draw(st.integers(1, 20)), y + draw(st.integers(1, 20)))
    if draw(st.booleans()):
        a, b = sorted([draw(st.integers(0, 24 * 60)), draw(st.integers(0, 24 * 60))])
        q.start, q.end = EPOCH + timedelta(hours=a), EPOCH + timedelta(hours=b)
    if draw(st.booleans()):
        q.collections = draw(st.lists(st.sampled_from(COLLECTIONS), min_size=1, unique=True))
    if draw(st.booleans()):
        q.filter = draw(filter_st)
    q.sortby = [SortKey(f, d) for f, d in draw(st.sampled_from(
        [[], [("datetime", "asc")], [("eo:cloud_cover", "desc")], [("platform", "asc"), ("id", "desc")]]))]  # fmt: skip
    return q


def brute_force(items: list[dict[str, Any]], q: SearchQuery, extra: dict[str, Any] | None) -> set[str]:
    out = set()
    exprs = [cql2.parse_json(json.dumps(e)) for e in (q.filter, extra) if e is not None]
    area = shapely.box(*q.bbox) if q.bbox else None
    for it in items:
        dt = datetime.fromisoformat(it["properties"]["datetime"].replace("Z", "+00:00"))
        if (q.collections is not None and it["collection"] not in q.collections) or \
                (q.start and dt < q.start) or (q.end and dt > q.end) or \
                (area is not None and not shapely.geometry.shape(it["geometry"]).intersects(area)):  # fmt: skip
            continue
        if all(e.matches(it) for e in exprs):
            out.add(it["id"])
    return out


def _in_order(items: list[dict[str, Any]], sortby: list[SortKey]) -> bool:
    keys = sortby or [SortKey("datetime", "desc")]

    def value(it: dict[str, Any], name: str) -> Any:
        return it["id"] if name == "id" else it["properties"][name]

    for a, b in zip(items, items[1:]):
        for k in keys:
            va, vb = value(a, k.field), value(b, k.field)
            if va != vb:
                if (va > vb) != (k.direction == "desc"):
                    return False
                break
    return True


def _hinted(expr: dict[str, Any], other: dict[str, Any], gate: dict[str, Any]) -> AccessFilter:
    """``expr OR other OR (gate AND other)`` with every kind of part: kept, gated, plain."""
    return AccessFilter((Kept(expr, cheap=other), Gated(gate, other), {"op": "=", "args": [1, 0]}))


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(raw=st.lists(item_st, max_size=30), qs=st.lists(queries(), min_size=1, max_size=3),
       extras=st.lists(st.none() | filter_st, min_size=3, max_size=3))  # fmt: skip
def test_search_equals_brute_force(shared_store: CatalogStore, raw: list[dict[str, Any]],
                                   qs: list[SearchQuery], extras: list[Any]) -> None:  # fmt: skip
    """Every page of every search (with an extra filter as a dict, as a plain AccessFilter and
    with caching hints) together returns exactly the brute-force set, once each, in order,
    and ``matched`` counts it."""
    s = emptied(shared_store, COLLECTIONS)
    items = [{**it, "id": f"i{n:02d}"} for n, it in enumerate(raw)]
    anchor = item("anchor", "c1", (100, 80, 101, 81), **{"eo:cloud_cover": 0, "platform": "x"})
    items.append(anchor)  # every property a known queryable of c1
    s.bulk_upsert(items)
    by_id = {it["id"]: it for it in items}
    e1, e2, e3 = extras
    plain_extra = None if e1 is None else e1
    hinted_plain = None if e1 is None or e2 is None or e3 is None else \
        any_of([e1, e2, {"op": "and", "args": [e3, e2]}])  # fmt: skip
    for q in qs:
        variants: list[tuple[Any, dict[str, Any] | None]] = [(None, None)]
        if plain_extra is not None:
            variants += [(plain_extra, plain_extra), (AccessFilter.plain(plain_extra), plain_extra)]
        if hinted_plain is not None:
            assert e1 is not None and e2 is not None and e3 is not None
            variants.append((_hinted(e1, e2, e3), hinted_plain))
        for extra, reference in variants:
            expected = brute_force(items, q, reference)
            got, matched = _ids(s, q, extra)
            assert len(got) == len(set(got)), "an item came twice"
            assert set(got) == expected, (q, extra)
            assert matched == len(expected)
            assert _in_order([by_id[i] for i in got], q.sortby)
    assert s.search(SearchQuery(limit=1), count=False).matched is None


def test_hidden_items_answer_like_missing_ones(store: CatalogStore) -> None:
    store.create_item(item("secret", "c2"))
    hide = AccessFilter.plain({"op": "not", "args": [{"op": "in", "args": [{"property": "collection"}, ["c2"]]}]})
    with pytest.raises(NotFound) as hidden:
        store.get_item("c2", "secret", extra_filter=hide)
    with pytest.raises(NotFound) as missing:
        store.get_item("c2", "absent", extra_filter=hide)
    assert hidden.value.message.replace("secret", "X") == missing.value.message.replace("absent", "X")
    assert store.get_item("c2", "secret")["id"] == "secret"
    assert store.search(SearchQuery(ids=["secret"]), extra_filter=hide).matched == 0


def test_kept_sets_follow_writes(new_store: Callable[[], CatalogStore]) -> None:
    """A hinted filter sees every write (a backend that keeps row sets must notice)."""
    s = new_store()
    s.create_collection(collection("c1"))
    low = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}
    flt = AccessFilter((Kept(low),))
    s.create_item(item("a", **{"eo:cloud_cover": 10}))
    assert _ids(s, SearchQuery(), flt)[0] == ["a"]
    s.create_item(item("b", hours=1, **{"eo:cloud_cover": 20}))
    s.update_item("c1", "a", item("a", **{"eo:cloud_cover": 90}))
    assert _ids(s, SearchQuery(), flt)[0] == ["b"]
    s.delete_item("c1", "b")
    assert _ids(s, SearchQuery(), flt)[0] == []


# ------------------------------------------------------------------- aggregation
def test_aggregations_see_what_search_sees(store: CatalogStore) -> None:
    items = [item(f"g{k}", COLLECTIONS[k % 3], (k % 10, 0, k % 10 + 1, 1), hours=k * 97,
                  **{"eo:cloud_cover": (k * 13) % 100}) for k in range(60)]  # fmt: skip
    store.bulk_upsert(items)
    q = SearchQuery(filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, 70]})
    hide = AccessFilter((Kept({"op": "in", "args": [{"property": "collection"}, ["c1", "c2"]]}),))
    names = ["total_count", "collection_frequency", "datetime_frequency", "datetime_min",
             "datetime_max", "cloud_cover_frequency"]  # fmt: skip
    aggs = {a["name"]: a for a in store.aggregate(q, names, extra_filter=hide)}
    seen = [it for it in items if it["properties"]["eo:cloud_cover"] < 70 and it["collection"] != "c3"]
    assert aggs["total_count"]["value"] == len(seen) == store.search(q, extra_filter=hide).matched
    freq = {b["key"]: b["frequency"] for b in aggs["collection_frequency"]["buckets"]}
    assert freq == Counter(it["collection"] for it in seen)
    months = {b["key"]: b["frequency"] for b in aggs["datetime_frequency"]["buckets"]}
    assert months == Counter(it["properties"]["datetime"][:7] for it in seen)
    assert aggs["datetime_min"]["value"] == min(it["properties"]["datetime"] for it in seen)
    assert aggs["datetime_max"]["value"] == max(it["properties"]["datetime"] for it in seen)
    clouds = {b["key"]: b["frequency"] for b in aggs["cloud_cover_frequency"]["buckets"]}
    assert clouds == Counter(f"{c // 10 * 10}-{c // 10 * 10 + 10}"
                             for c in (it["properties"]["eo:cloud_cover"] for it in seen))  # fmt: skip
    days = store.aggregate(q, ["datetime_frequency"], extra_filter=hide, datetime_frequency_interval="day")
    assert {b["key"]: b["frequency"] for b in days[0]["buckets"]} == \
        Counter(it["properties"]["datetime"][:10] for it in seen)  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        store.aggregate(q, ["no_such_aggregation"])
    assert exc.value.field == "aggregations"
    with pytest.raises(InvalidInput) as exc:
        store.aggregate(q, ["datetime_frequency"], datetime_frequency_interval="fortnight")
    assert exc.value.field == "datetime_frequency_interval"


# ---------------------------------------------------- queryables, iteration, counts
def test_queryables_iteration_and_counts(store: CatalogStore) -> None:
    store.create_item(item("q1", "c1", platform="x", flag=True, tags=["a"], **{"eo:cloud_cover": 3}))
    assert store.queryables()["c1"] == {"datetime": "string", "platform": "string",
                                        "flag": "boolean", "tags": "array", "eo:cloud_cover": "number"}  # fmt: skip
    store.create_item(item("q2", "c2", gsd=10))  # seen at once after a write
    assert store.queryables()["c2"] == {"datetime": "string", "gsd": "number"}
    store.bulk_upsert([item(f"n{k}", "c2", hours=k) for k in range(7)])
    assert store.counts() == {"c1": 1, "c2": 8, "c3": 0}
    every = [it["id"] for it in store.iter_items()]
    assert sorted(every) == sorted(["q1", "q2", *(f"n{k}" for k in range(7))])
    assert len(every) == len(set(every))
    assert sorted(it["id"] for it in store.iter_items("c2")) == sorted(["q2", *(f"n{k}" for k in range(7))])
    assert list(store.iter_items("c3")) == []
