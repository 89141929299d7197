"""Property test (pgstac): an item the caller may not see never changes the answer to a search.

PostgreSQL may evaluate a caller's filter on a row before the access filter, and pgstac's casts
raise on a value they cannot read: a hidden item's text made a numeric filter a 400 for a
partner who may not see the item, and a 200 otherwise (issue #11, an existence oracle). The
reference is the same catalog without the hidden items: for random mixes of texts, numbers,
dates, booleans and nulls in hidden items and random filters and sort orders, the caller's
answer (the status, every page's ids, the count, ``total_count``) must be the same with and
without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_support import pgstac_store

from sathub.catalog.store import SearchQuery, SortKey
from sathub.errors import InvalidInput

AOI = shapely.box(10, 10, 20, 20)
# a partner's grants: "open", and "res" inside its AOI ("vault": none); anonymous: "open" only
IN_RES = {"op": "in", "args": [{"property": "collection"}, ["res"]]}
OPEN = {"op": "not", "args": [{"op": "in", "args": [{"property": "collection"}, ["res", "vault"]]}]}
PARTNER = {"op": "or", "args": [
    OPEN,
    {"op": "and", "args": [IN_RES, {"op": "s_intersects", "args": [
        {"property": "geometry"}, shapely.geometry.mapping(AOI)]}]}]}  # fmt: skip
ANONYMOUS = OPEN


def _item(iid: str, coll: str, box: tuple[float, float, float, float], day: int, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": coll, "links": [],
            "assets": {}, "geometry": shapely.geometry.mapping(shapely.box(*box)),
            "properties": {"datetime": f"2024-01-{day:02d}T00:00:00Z", **props}}  # fmt: skip


# visible to the partner: numbers, texts and dates where the filters expect them (loaded first:
# the first type seen of a name is the one pgstac compares it as)
VISIBLE = [_item(f"o{i}", "open", (i, i, i + 1, i + 1), i + 1, note=i * 1.5, tag=f"t{i % 3}",
                 seen=f"2023-0{i % 9 + 1}-01T00:00:00Z") for i in range(8)]  # fmt: skip
VISIBLE += [_item(f"r{i}", "res", (11 + i, 11, 12 + i, 12), 10 + i, note=i * 2, tag=f"t{i}",
                  seen=f"2023-1{i % 3}-05T00:00:00Z") for i in range(3)]  # fmt: skip

texts = st.sampled_from(["TOP-SECRET", "", "1e999", "NaN", "12", "2023-05-01T00:00:00Z", "not a date", "t1"])
# no hidden number under "tag" or "seen", texts in the visible items: the first number stored
# under a name registers it as a number in pgstac for every search (see the xfail below)
stored = st.one_of(st.none(), st.booleans(), texts, st.lists(st.integers(0, 3), max_size=2))
numbers = st.one_of(st.integers(-5, 20), st.floats(-5, 20, allow_nan=False), st.just(0))
hidden_items = st.lists(
    st.fixed_dictionaries({"coll": st.sampled_from(["res", "vault"]), "note": st.one_of(stored, numbers),
                           "tag": stored, "seen": stored, "x": st.integers(30, 60)}),
    min_size=1, max_size=4)  # fmt: skip

literal = st.one_of(st.integers(-2, 15), st.floats(-2, 15, allow_nan=False), st.sampled_from(["t1", "abc", "5"]),
                    st.builds(lambda m: {"timestamp": f"2023-{m:02d}-01T00:00:00Z"}, st.integers(1, 12)))  # fmt: skip
prop = st.sampled_from(["note", "tag", "seen"])
comparison = st.builds(lambda op, p, v: {"op": op, "args": [{"property": p}, v]},
                       st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), prop, literal)  # fmt: skip
between = st.builds(lambda p, a, b: {"op": "between", "args": [{"property": p}, a, b]},
                    prop, st.integers(-2, 15), st.integers(-2, 15))  # fmt: skip
in_list = st.builds(lambda p, vs: {"op": "in", "args": [{"property": p}, vs]}, prop,
                    st.lists(st.one_of(st.integers(0, 10), st.sampled_from(["t0", "t2"])), min_size=1, max_size=3))  # fmt: skip
arith = st.builds(lambda v: {"op": ">", "args": [{"op": "/", "args": [10, {"property": "note"}]}, v]},
                  st.integers(0, 5))  # fmt: skip
term = st.one_of(comparison, between, in_list, arith,
                 st.builds(lambda p: {"op": "isNull", "args": [{"property": p}]}, prop))  # fmt: skip
filters = st.one_of(st.none(), term, st.builds(lambda a, b: {"op": "and", "args": [a, b]}, term, term),
                    st.builds(lambda a, b: {"op": "or", "args": [a, b]}, term, term),
                    st.builds(lambda a: {"op": "not", "args": [a]}, term))  # fmt: skip
sortbys = st.lists(st.tuples(st.sampled_from(["note", "tag", "seen", "datetime"]),
                             st.sampled_from(["asc", "desc"])), max_size=2, unique_by=lambda s: s[0])  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with pgstac_store(tmp_path_factory.mktemp("hidden-pg")) as s:
        for cid in ("open", "res", "vault"):
            s.create_collection({"type": "Collection", "id": cid, "description": cid, "links": [],
                                 "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                            "temporal": {"interval": [[None, None]]}}})  # fmt: skip
        s.bulk_upsert(VISIBLE)
        yield s


def answer(store: Any, extra: dict[str, Any], flt: dict[str, Any] | None, sortby: list[tuple[str, str]],
           limit: int, collections: list[str] | None) -> Any:  # fmt: skip
    """Every page's ids, the count and total_count; or the refusal (status and field)."""
    pages: list[list[str]] = []
    token = None
    try:
        for _ in range(30):
            q = SearchQuery(collections=collections, filter=flt, limit=limit, token=token,
                            sortby=[SortKey(f, d) for f, d in sortby])  # fmt: skip
            page = store.search(q, extra_filter=extra)
            pages.append([it["id"] for it in page.items])
            if token is None:
                matched = page.matched
            token = page.next_token
            if token is None:
                break
        agg = store.aggregate(SearchQuery(collections=collections, filter=flt), ["total_count"],
                              extra_filter=extra)  # fmt: skip
    except InvalidInput as exc:
        return ("refused", exc.field)
    return pages, matched, agg[0]["value"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hidden=hidden_items, flt=filters, sortby=sortbys, limit=st.integers(1, 4),
       extra=st.sampled_from([PARTNER, ANONYMOUS]), collections=st.sampled_from([None, ["res"], ["open", "res"]]))  # fmt: skip
def test_hidden_items_do_not_change_the_answer(store: Any, hidden: list[dict[str, Any]], flt: Any,
                                               sortby: list[tuple[str, str]], limit: int,
                                               extra: dict[str, Any], collections: Any) -> None:  # fmt: skip
    without = answer(store, extra, flt, sortby, limit, collections)
    items = [_item(f"h{n}", h["coll"], (h["x"], h["x"], h["x"] + 1, h["x"] + 1), 5 + n,
                   **{k: h[k] for k in ("note", "tag", "seen") if h[k] is not None}) for n, h in enumerate(hidden)]  # fmt: skip
    store.bulk_upsert(items)
    try:
        assert answer(store, extra, flt, sortby, limit, collections) == without, (flt, sortby)
    finally:
        for it in items:
            store.delete_item(it["collection"], it["id"])


def test_the_hidden_items_are_there(store: Any) -> None:
    """The reference is not vacuous: the hidden items exist and the same filter is a 400 for
    the staff, who see them (a text compared as a number)."""
    items = [_item("h-text", "res", (40, 40, 41, 41), 3, note="TOP-SECRET")]
    store.bulk_upsert(items)
    try:
        flt = {"op": ">", "args": [{"property": "note"}, 1]}
        with pytest.raises(InvalidInput):
            store.search(SearchQuery(filter=flt))
        ids = [it["id"] for it in store.search(SearchQuery(filter=flt, limit=50), extra_filter=PARTNER).items]
        seen = [i for i in VISIBLE if i["collection"] == "open" or shapely.geometry.shape(i["geometry"]).intersects(AOI)]
        assert sorted(ids) == sorted(i["id"] for i in seen if i["properties"]["note"] > 1)
    finally:
        store.delete_item("res", "h-text")


@pytest.mark.xfail(strict=True, reason="the first number stored under a name registers it as a number "
                   "in pgstac's queryables for every search: a hidden item's number under a name the "
                   "visible items hold as text makes sorting or comparing it a 400 for everyone")  # fmt: skip
def test_a_hidden_number_does_not_change_how_a_visible_text_compares(store: Any) -> None:
    store.bulk_upsert([_item("o-label", "open", (1, 1, 2, 2), 2, label="abc")])
    q = SearchQuery(sortby=[SortKey("label", "asc")], limit=50)
    before = [it["id"] for it in store.search(q, extra_filter=PARTNER).items]
    store.bulk_upsert([_item("h-label", "vault", (40, 40, 41, 41), 2, label=5)])
    store.delete_item("vault", "h-label")
    assert [it["id"] for it in store.search(q, extra_filter=PARTNER).items] == before


def pgstac_page(store: Any, q: SearchQuery, token: str | None) -> Any:
    """pgstac's own ``search`` for the same body: ids, raw next and prev tokens (or refused)."""
    import psycopg
    from psycopg.types.json import Jsonb

    from sathub.catalog.pgstac.search import search_body

    body = {**search_body(q, None, store.queryables()), "conf": {"context": "off", "readonly": True}}
    if token:
        body["token"] = token
    try:
        with store.pools.read() as conn:
            page = conn.execute("SELECT search(%s)", [Jsonb(body)]).fetchone()[0]
    except psycopg.errors.DataError:  # a value the filter cannot read (a visible item's)
        return "refused"
    links = {lk["rel"]: lk["href"].split("token=", 1)[1] for lk in page["links"] if "token=" in lk["href"]}
    return [f["id"] for f in page["features"]], links.get("next"), links.get("prev")


readable = st.one_of(
    st.none(),
    st.builds(lambda a, b: {"op": "between", "args": [{"property": "note"}, min(a, b), max(a, b)]},
              st.integers(-1, 12), st.integers(-1, 12)),
    st.builds(lambda v: {"op": "<>", "args": [{"property": "tag"}, v]}, st.sampled_from(["t0", "t1"])),
    in_list)  # fmt: skip


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=readable, sortby=sortbys, limit=st.integers(1, 4))
def test_pages_are_pgstacs(store: Any, flt: Any, sortby: list[tuple[str, str]], limit: int) -> None:
    """The page logic (guarded.py) against pgstac's own ``search`` (the staff: no access
    filter, so both run the same WHERE clause): every page's ids and both tokens, forward to
    the end by next tokens, then back to the start by prev tokens."""
    from sathub.catalog.pgstac.search import unwrap_token

    def ours(token: str | None) -> Any:
        wrapped = None
        if token:  # the store takes its own wrapped tokens: wrap pgstac's the store's way
            from sathub.catalog.pgstac.search import wrap_token

            wrapped = wrap_token(store._token_key, token, None)
        try:
            page = store.search(SearchQuery(filter=flt, limit=limit, token=wrapped,
                                            sortby=[SortKey(f, d) for f, d in sortby]), count=False)  # fmt: skip
        except InvalidInput:
            return "refused"
        raw = [unwrap_token(store._token_key, t, None)[0] if t else None for t in (page.next_token, page.prev_token)]
        return [it["id"] for it in page.items], raw[0], raw[1]

    q = SearchQuery(filter=flt, limit=limit, sortby=[SortKey(f, d) for f, d in sortby])
    token, steps, back = None, 0, False
    while steps < 40:
        steps += 1
        mine = ours(token)
        assert mine == pgstac_page(store, q, token), (token, flt, sortby)
        if mine == "refused":
            break
        token = mine[2] if back else mine[1]
        if token is None and not back:
            back, token = True, mine[2]
        if token is None:
            break
