"""The caller's access filter is evaluated before the user's own predicates, on both catalogs.

Otherwise a costly user predicate (an exact spatial test, a filter) runs on rows the partner
may not see, and its time tells the partner something about them (a timing oracle).

- SQLite: evaluates the WHERE terms no index answers left to right and stops at the first false
  one. The exact spatial test (``sathub_spatial``) is counted per call: it runs on the visible
  rows only.
- pgstac: PostgreSQL orders a row's conditions by estimated cost and keeps the written order
  between equal costs. With an access AOI and a user geometry (both ``st_intersects``, the
  same cost), EXPLAIN shows the access test first.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import shapely
from pg_support import pgstac_store
from test_pg_pool_size import _collection, _item

from sathub.app import Installation
from sathub.catalog import sqlfuncs
from sathub.catalog.cql2sql import to_where
from sathub.catalog.query import build_search, columns_for
from sathub.catalog.store import SearchQuery
from sathub.config import Settings

OPEN, SECRET = 20, 80
# the shape of the policy's filter for a partner without grants: every collection but the
# restricted ones (access/policy.py)
ACCESS = {"op": "not", "args": [{"op": "in", "args": [{"property": "collection"}, ["secret"]]}]}
EVERYWHERE = {"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}
USER = SearchQuery(filter={"op": "s_intersects", "args": [{"property": "geometry"}, EVERYWHERE]},
                   limit=200)  # fmt: skip


def _fill(store: Any) -> None:
    store.create_collection(_collection("open"))
    store.create_collection(_collection("secret"))
    store.bulk_upsert([_item("open", i) for i in range(OPEN)])
    store.bulk_upsert([_item("secret", i) for i in range(SECRET)])


def test_sqlite_user_predicate_runs_on_visible_rows_only(tmp_path: Path) -> None:
    with Installation.create(Settings(data=tmp_path / "data")) as inst:
        store: Any = inst.catalog
        _fill(store)
        calls: list[int] = []

        def counting(op: str, a: bytes | None, b: bytes | None) -> int | None:
            calls.append(1)
            return sqlfuncs.spatial(op, a, b)

        # this thread's connection, the one its searches use
        store._conn().create_function("sathub_spatial", 3, counting, deterministic=True)
        everything = store.search(USER, count=False)
        assert len(everything.items) == OPEN + SECRET and len(calls) == OPEN + SECRET
        calls.clear()
        seen = store.search(USER, extra_filter=ACCESS, count=False)
        assert sorted(f["id"] for f in seen.items) == sorted(f"i{i}" for i in range(OPEN))
        assert {f["collection"] for f in seen.items} == {"open"}
        assert len(calls) == OPEN, f"the user's spatial test ran on {len(calls)} rows, {OPEN} visible"


def _filter_text(store: Any, access: dict[str, Any], query: SearchQuery) -> str:
    """The condition PostgreSQL evaluates per row for the search (EXPLAIN's Filter)."""
    from sathub.catalog.pgstac.guarded import clauses
    from sathub.catalog.pgstac.store import run

    body, extra = store._body(query, access)
    with store.pools.read() as conn:
        # the clause the search runs (guarded.py: the caller's terms inside a CASE on the access
        # filter, which PostgreSQL evaluates in order whatever costs its planner estimates)
        where = clauses(conn, run, body, extra).where
        plan = conn.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM items WHERE {where}").fetchone()[0]

    def filters(node: dict[str, Any]) -> list[str]:
        return [*([node["Filter"]] if "Filter" in node else []),
                *(f for child in node.get("Plans", []) for f in filters(child))]  # fmt: skip

    found = filters(plan[0]["Plan"])
    assert found, plan
    return " ".join(found)


def _hex(geom: dict[str, Any]) -> str:
    return shapely.to_wkb(shapely.geometry.shape(geom), hex=True).lower()[10:40]  # the coordinates


def test_pgstac_access_condition_comes_first(tmp_path: Path) -> None:
    aoi = {"type": "Polygon", "coordinates": [[[-170, -80], [170, -80], [170, 80], [-170, 80], [-170, -80]]]}
    access = {"op": "and", "args": [ACCESS, {"op": "s_intersects", "args": [{"property": "geometry"}, aoi]}]}
    with pgstac_store(tmp_path) as store:
        _fill(store)
        text = _filter_text(store, access, USER).lower()
        a, u = text.find(_hex(aoi)), text.find(_hex(EVERYWHERE))
        assert a >= 0 and u >= 0, text
        assert a < u, f"the user's geometry is tested before the access AOI: {text}"
        assert text.find("secret") < u, text
        # and the search itself: the partner sees the open collection only
        seen = store.search(USER, extra_filter=access, count=False)
        assert {f["collection"] for f in seen.items} == {"open"} and len(seen.items) == OPEN


@pytest.mark.parametrize("user", [
    USER,
    SearchQuery(q=["i1"]),
    SearchQuery(query={"n": {"gt": 0}}),
    SearchQuery(intersects=EVERYWHERE),
    SearchQuery(bbox=(-10.0, -10.0, 10.0, 10.0), filter={"op": ">", "args": [{"property": "n"}, 0]}),
    SearchQuery(collections=["open"], ids=["i1"], start=datetime(2024, 1, 1, tzinfo=timezone.utc)),
], ids=["filter", "q", "query", "intersects", "bbox+filter", "collections+ids+datetime"])  # fmt: skip
def test_sqlite_access_terms_lead_the_where_clause(user: SearchQuery) -> None:
    """Whatever the user's query holds, the access filter's terms open the WHERE clause."""
    queryables = {"open": {"n": "number"}}
    access = to_where(ACCESS, columns_for(None, queryables), internal=True)
    plan = build_search(user, ACCESS, queryables)
    assert len(plan.where) > len(access)
    assert plan.where[:len(access)] == [c.sql for c in access], plan.where
    assert plan.params[:sum(len(c.params) for c in access)] == [p for c in access for p in c.params]
