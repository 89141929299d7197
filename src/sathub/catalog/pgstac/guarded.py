"""A search's WHERE clause in which the caller's access filter decides before the caller's own
filter is evaluated, and one page of pgstac's search run under it.

pgstac's ``search`` ANDs the user's CQL2 filter with the access filter, and PostgreSQL may test
the user's terms on a row first (it orders the terms by cost). pgstac's casts (``to_float``,
``to_int``, ``to_tstz``) raise on a stored value they cannot read, so a hidden item's text
value made a numeric filter a 400 for a caller who may not see it and a 200 otherwise: an
oracle on rows the caller may not see (issue #11). Here the clause is

    <search terms> AND <access> AND CASE WHEN <access> THEN <user terms AND token> ELSE false END

each part made by pgstac's own ``stac_search_to_where`` (and ``get_token_filter``). PostgreSQL
evaluates a CASE's branches in order, row by row (only constant subexpressions are folded at
plan time, and those fail for every caller alike), so the user's terms and the paging token's
comparisons never meet a row the access filter refuses; the plain ``<access>`` term beside the
CASE keeps the planner's partition pruning and indexes. Without an access filter (staff) the
clause is pgstac's own.

The page is pgstac's ``search`` logic over that clause with pgstac's functions
(``sort_sqlorderby``, ``get_token_record``/``get_token_filter``, ``search_rows``,
``format_item``): ``search`` itself makes its WHERE from the body and cannot take one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from sathub.catalog.pgstac.search import rename

Run = Any  # store.run (imported there: store imports this module)


@dataclass(frozen=True)
class Clauses:
    where: str  # without the paging token's terms (for counts and aggregations)
    page_where: str  # with them
    orderby: str
    prev: bool  # the token pages backwards
    token_item: tuple[str, str] | None  # (collection, id) the token names


def _and(*terms: str | None) -> str:
    parts = [f"({t})" for t in terms if t and t.strip()]
    return " AND ".join(parts) if parts else "TRUE"


def clauses(conn: psycopg.Connection[Any], run: Run, body: dict[str, Any],
            extra: dict[str, Any] | None) -> Clauses:  # fmt: skip
    """The WHERE clauses and ORDER BY of the search ``body`` (its ``filter``: the caller's own
    terms only) under the access filter ``extra`` (plain CQL2, None: none)."""
    colls = body.get("collections")
    base = {k: v for k, v in body.items() if k not in ("filter", "filter-lang", "token")}
    sqls = ["stac_search_to_where(%s)", "sort_sqlorderby(%s, false, '{collection,id}', %s)",
            "sort_sqlorderby(%s, true, '{collection,id}', %s)"]  # fmt: skip
    params: list[Any] = [Jsonb(base), Jsonb(body), colls, Jsonb(body), colls]
    if body.get("filter") is not None:
        user = {"filter": body["filter"], "filter-lang": "cql2-json"}
        if colls is not None:
            user["collections"] = colls  # the queryables of these collections decide the casts
        sqls.append("stac_search_to_where(%s)")
        params.append(Jsonb(user))
    if extra is not None:
        sqls.append("stac_search_to_where(%s)")
        params.append(Jsonb({"filter": rename(extra), "filter-lang": "cql2-json"}))
    row = run(conn, f"SELECT {', '.join(sqls)}", params)
    base_sql, orderby, reverse = str(row[0]), str(row[1]), str(row[2])
    user_sql = str(row[3]) if body.get("filter") is not None else None
    access_sql = str(row[-1]) if extra is not None else None
    token_sql, prev, token_item = None, False, None
    if body.get("token"):
        trow = run(conn, "SELECT t.prev, (t.item).collection, (t.item).id, "
                         "get_token_filter(%s, t.item, t.prev, false, %s) "
                         "FROM get_token_record(%s) t",
                   [Jsonb(body.get("sortby")), colls, body["token"]])  # fmt: skip
        prev, token_item, token_sql = bool(trow[0]), (str(trow[1]), str(trow[2])), str(trow[3])
        if prev:
            orderby = reverse

    def guarded(*terms: str | None) -> str:
        if access_sql is None:
            return _and(base_sql, *terms)
        if not any(t and t.strip() for t in terms):
            return _and(base_sql, access_sql)
        return _and(base_sql, access_sql, f"CASE WHEN ({access_sql}) THEN ({_and(*terms)}) ELSE false END")

    return Clauses(where=guarded(user_sql), page_where=guarded(user_sql, token_sql),
                   orderby=orderby, prev=prev, token_item=token_item)  # fmt: skip


def _token(direction: str, key: tuple[str, str]) -> str:
    """pgstac's ``page_token`` with its direction."""
    return f"{direction}:{key[0].encode().hex()}:{key[1].encode().hex()}"


def page(conn: psycopg.Connection[Any], run_rows: Any, cl: Clauses, limit: int,
         token: str | None) -> tuple[list[dict[str, Any]], str | None, str | None]:  # fmt: skip
    """The features of one page (not hydrated) and pgstac's next and prev tokens: pgstac's
    ``search`` over ``cl`` (limit + 1 rows, the token's own item dropped, the order restored
    for a prev token)."""
    rows = run_rows(conn, "SELECT format_item(i, '{}'::jsonb, false), i.collection, i.id "
                          "FROM search_rows(%s, %s, NULL, %s) i",
                    [cl.page_where, cl.orderby, limit + 1])  # fmt: skip
    if cl.prev:
        rows = rows[::-1]
    if rows and cl.token_item is not None:
        if (rows[0][1], rows[0][2]) == cl.token_item:
            rows = rows[1:]
        elif (rows[-1][1], rows[-1][2]) == cl.token_item:
            rows = rows[:-1]
    has_prev, has_next = token is not None and not cl.prev, token is not None and cl.prev
    if len(rows) == limit + 1:
        if cl.prev:
            has_prev, rows = True, rows[1:]
        else:
            has_next, rows = True, rows[:-1]
    keys = [(str(r[1]), str(r[2])) for r in rows]
    nxt = _token("next", keys[-1]) if has_next and keys else None
    prv = None
    if has_prev and (keys or limit == 0):
        anchor = keys[0] if keys else cl.token_item
        if anchor is not None:
            prv = _token("prev", anchor)
            if token is not None and prv == token.lower():  # never the token that made this page
                prv = None
    return [r[0] for r in rows], nxt, prv
