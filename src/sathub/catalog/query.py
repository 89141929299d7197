"""Turn a :class:`SearchQuery` into SQL on the SQLite schema, and fetch one page.

Paging is keyset paging: the token holds the sort values and row id of the last item of the
page, and the next page starts strictly after them in a total order (the sort keys, then the
row id); a previous-page token holds those of the first item, and that page ends strictly
before them. While the data is unchanged, no item is skipped or repeated either way.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from sathub.catalog.cql2sql import Columns, balanced_and, property_names, to_where
from sathub.catalog.queryext import query_to_cql2
from sathub.catalog.geometry import bbox_geometry, geometry_from_geojson, index_boxes, to_wkb
from sathub.catalog.store import SearchQuery, SearchResult, SortKey
from sathub.errors import InvalidFilter, InvalidInput

# Names that are always queryable: the core fields and STAC common metadata.
CORE_COLUMNS = {
    "id": "i.id",
    "collection": "i.collection",
    "datetime": "i.dt",
    "start_datetime": "i.dt_start",
    "end_datetime": "i.dt_end",
    "eo:cloud_cover": "i.cloud_cover",
    # the indexed bounds of the geometry: a cheap pre-test before an exact spatial test (the
    # access filter uses them so that only AOIs whose box overlaps the item's are tested)
    "sathub:minx": "i.minx", "sathub:maxx": "i.maxx", "sathub:miny": "i.miny", "sathub:maxy": "i.maxy",
}
NOT_NULL = {"i.id", "i.collection", "i.dt", "i.dt_start", "i.dt_end", "i.rid"}
TIMESTAMPS = {"datetime", "start_datetime", "end_datetime"}
COMMON_METADATA = {
    "title", "description", "keywords", "roles", "license", "providers", "created", "updated",
    "platform", "instruments", "constellation", "mission", "gsd",
}  # fmt: skip
NULL_SORT = -1e308  # NULLs sort first ascending, last descending
DEFAULT_SORT = [SortKey("datetime", "desc")]
# Index columns and the JSON document; SQLite drops the join when a query does not read c.
FROM = "items i LEFT JOIN items_content c ON c.rid = i.rid"


@dataclass
class Plan:
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    columns: Columns | None = None
    # (table, WHERE) the matches are counted on instead of ``items`` and where_sql() (same
    # parameters): a store's copy of the rows an access filter keeps (materialize.py)
    count_from: tuple[str, str] | None = None

    def add(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> None:
        self.where.append(sql)
        self.params.extend(params)

    def where_sql(self) -> str:
        return balanced_and(self.where) if self.where else "1"


def columns_for(collections: list[str] | None, queryables: dict[str, dict[str, str]],
                visible: set[str] | None = None, hidden: frozenset[str] = frozenset()) -> Columns:  # fmt: skip
    """Queryables of the searched collections (all of them when none is named), among the
    ``visible`` ones (None: all), without the ``hidden`` names."""
    names: set[str] = set()
    for coll, props in queryables.items():
        if (collections is None or coll in collections) and (visible is None or coll in visible):
            names.update(props)

    def is_known(name: str) -> bool:
        return (name in names or name in COMMON_METADATA) and name not in hidden

    return Columns(
        columns=dict(CORE_COLUMNS),
        timestamps=set(TIMESTAMPS),
        geometry="i.geom",
        json_column="item_json(c.content)",
        is_known=is_known,
    )


def build_search(
    query: SearchQuery,
    extra_filter: dict[str, Any] | None,
    queryables: dict[str, dict[str, str]],
) -> Plan:
    plan = Plan()
    cols = columns_for(query.collections, queryables, query.queryable_collections,
                       query.hidden_properties)  # fmt: skip
    plan.columns = cols
    # the caller's access filter first: SQLite evaluates the terms no index answers left to
    # right and stops at the first false one, so no predicate of the user's (an exact spatial
    # test, a filter, free text) runs on a row the caller may not see: its cost would tell
    # the caller something about that row (a timing oracle)
    if extra_filter:
        for compiled in to_where(extra_filter, cols, internal=True):
            plan.add(compiled.sql, compiled.params)
    if query.collections is not None:
        # With a spatial probe, unary + keeps the planner off items_collection_dt: lacking
        # ANALYZE statistics it takes "collection = ?" as selective and scans the collection.
        spatial = query.intersects is not None or query.bbox is not None
        coll = "+i.collection" if spatial else "i.collection"
        plan.add(f"{coll} IN ({','.join('?' * len(query.collections))})", query.collections)
    if query.ids is not None:
        plan.add(f"i.id IN ({','.join('?' * len(query.ids))})", query.ids)
    if query.start is not None:
        plan.add("i.dt_end >= ?", [query.start.timestamp()])
    if query.end is not None:
        plan.add("i.dt_start <= ?", [query.end.timestamp()])

    area = None
    boxes = []
    if query.intersects is not None:
        area = geometry_from_geojson(query.intersects, field="intersects")
        b = area.bounds
        boxes = [(b[0], b[1], b[2], b[3])]
    elif query.bbox is not None:
        area = bbox_geometry(query.bbox)
        boxes = index_boxes(query.bbox)
    if area is not None:
        probe = " UNION ALL ".join(
            "SELECT rid FROM items_rtree WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?"
            for _ in boxes
        )
        params: list[Any] = []
        for w, s, e, n in boxes:
            params += [e, w, n, s]
        plan.add(f"i.rid IN ({probe})", params)
        if query.intersects is None:
            # an item whose bbox lies inside a query box intersects it: skip the exact test
            inside = " OR ".join(
                "(i.minx >= ? AND i.maxx <= ? AND i.miny >= ? AND i.maxy <= ?)" for _ in boxes
            )
            inside_params: list[Any] = []
            for w, s, e, n in boxes:
                inside_params += [w, e, s, n]
            plan.add(
                f"({inside} OR sathub_spatial('s_intersects', i.geom, ?) = 1)",
                [*inside_params, to_wkb(area)],
            )
        else:
            plan.add("sathub_spatial('s_intersects', i.geom, ?) = 1", [to_wkb(area)])

    if query.filter:
        for compiled in to_where(query.filter, cols):
            plan.add(compiled.sql, compiled.params)
    if query.query:
        for compiled in to_where(query_to_cql2(query.query), cols):
            plan.add(compiled.sql, compiled.params)
    if query.q:
        text = (
            "lower(coalesce(json_extract(item_json(c.content), '$.properties.title'), '') || ' ' || "
            "coalesce(json_extract(item_json(c.content), '$.properties.description'), '') || ' ' || "
            "coalesce(json_extract(item_json(c.content), '$.properties.keywords'), '') || ' ' || i.id)"
        )
        terms = [t.strip().lower() for t in query.q if t.strip()]
        if terms:
            plan.add(
                "(" + " OR ".join(f"instr({text}, ?) > 0" for _ in terms) + ")", terms
            )
    return plan


def _sort_exprs(sortby: list[SortKey], cols: Columns) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key in sortby or DEFAULT_SORT:
        name = key.field
        try:
            expr = cols.expr(name)
        except InvalidFilter as exc:
            raise InvalidInput(f"cannot sort by unknown field {name!r}", field="sortby") from exc
        if expr not in NOT_NULL:
            expr = f"ifnull({expr}, {NULL_SORT})"
        out.append((expr, "DESC" if key.direction == "desc" else "ASC"))
    last_dir = out[-1][1]
    out.append(("i.rid", last_dir))
    return out


def _bare(expr: str) -> str:
    """``ifnull(x, NULL_SORT)`` → ``x`` (same order in SQLite, and index-friendly)."""
    tail = f", {NULL_SORT})"
    return expr[len("ifnull(") : -len(tail)] if expr.startswith("ifnull(") and expr.endswith(tail) else expr


def encode_token(values: list[Any], *, before: bool = False) -> str:
    """A paging token: the sort values (and row id) of a page's last item, for the next page;
    with ``before``, of its first item, for the previous page."""
    return base64.urlsafe_b64encode(orjson.dumps({"before": values} if before else values)).decode().rstrip("=")


def decode_token(token: str, n: int) -> tuple[bool, list[Any]]:
    """(is it a previous-page token, the sort values)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("invalid paging token", field="token") from exc
    before = isinstance(values, dict) and list(values) == ["before"]
    if before:
        values = values["before"]
    if not isinstance(values, list) or len(values) != n:
        raise InvalidInput("paging token does not belong to this search", field="token")
    if not all(v is None or isinstance(v, (int, float, str)) for v in values):
        raise InvalidInput("invalid paging token", field="token")
    return before, values


def _reversed(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(e, "ASC" if d == "DESC" else "DESC") for e, d in keys]


def _after(keys: list[tuple[str, str]], values: list[Any]) -> tuple[str, list[Any]]:
    """SQL for 'strictly after these sort values' in the (mixed-direction) order."""
    if len({d for _, d in keys}) == 1:
        op = "<" if keys[0][1] == "DESC" else ">"
        return f"({', '.join(e for e, _ in keys)}) {op} ({', '.join('?' * len(keys))})", values
    ors: list[str] = []
    params: list[Any] = []
    for i, (expr, direction) in enumerate(keys):
        parts = [f"{keys[j][0]} = ?" for j in range(i)]
        params.extend(values[:i])
        parts.append(f"{expr} {'<' if direction == 'DESC' else '>'} ?")
        params.append(values[i])
        ors.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(ors) + ")", params


# count_matches' signature: (conn, where, params, cap, *, table) -> (count, is_estimate)
Counter = Callable[..., tuple[int, bool]]


def fetch_page(
    conn: sqlite3.Connection, plan: Plan, query: SearchQuery, *, count_cap: int,
    counter: Counter | None = None,
) -> SearchResult:
    """One page of the search, and the count of its matches (``count_cap`` > 0) by
    ``counter`` (:func:`count_matches`, or a store's cache of it: the same answer)."""
    assert plan.columns is not None
    keys = _sort_exprs(query.sortby, plan.columns)
    where, params = plan.where_sql(), list(plan.params)
    page_where, page_params = where, list(params)
    backward = False
    if query.token:
        # a previous page is read in the reversed order, from just before its successor's
        # first item, and turned round
        backward, values = decode_token(query.token, len(keys))
        if backward:
            keys = _reversed(keys)
        cond, cparams = _after(keys, values)
        page_where = f"{where} AND {cond}"
        page_params += cparams
    select_keys = ", ".join(e for e, _ in keys)
    if "c.content" in page_where or "c.content" in select_keys:
        order = ", ".join(f"{e} {d}" for e, d in keys)
        sql = (
            f"SELECT item_json(c.content), {select_keys} FROM {FROM} WHERE {page_where} "
            f"ORDER BY {order} LIMIT ?"
        )
    else:
        # Sort and limit on the compact index rows, then join the JSON of the page only (a
        # join before the sort reads every matching item's JSON). ORDER BY the bare columns
        # (SQLite puts NULL first ascending, as ifnull(…, NULL_SORT) does) so that an index
        # can give the order; the keys for the paging token keep the ifnull form.
        inner_keys = ", ".join(f"{e} AS k{n}" for n, (e, _) in enumerate(keys))
        order_raw = ", ".join(f"{_bare(e)} {d}" for e, d in keys)
        outer = ", ".join(f"p.k{n}" for n in range(len(keys)))
        outer_order = ", ".join(f"p.k{n} {d}" for n, (_, d) in enumerate(keys))
        sql = (
            f"SELECT item_json(c.content), {outer} FROM (SELECT i.rid AS rid, {inner_keys} FROM items i "
            f"WHERE {page_where} ORDER BY {order_raw} LIMIT ?) p "
            f"LEFT JOIN items_content c ON c.rid = p.rid ORDER BY {outer_order}"
        )
    try:
        rows = conn.execute(sql, [*page_params, query.limit + 1]).fetchall()
    except sqlite3.OperationalError as exc:
        raise InvalidFilter(f"the filter cannot be evaluated: {exc}", field="filter") from exc
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if backward:
        rows.reverse()
    items = [orjson.loads(r[0]) for r in rows]
    # a page reached with a token has a neighbour on the side it came from
    has_next = (more and not backward) or (backward and bool(query.token))
    has_prev = (more and backward) or (not backward and bool(query.token))
    next_token = encode_token(list(rows[-1][1:])) if has_next and rows else None
    prev_token = encode_token(list(rows[0][1:]), before=True) if has_prev and rows else None

    matched: int | None = None
    estimate = False
    if count_cap > 0:
        table, cwhere = plan.count_from or ("items", where)
        matched, estimate = (counter or count_matches)(conn, cwhere, params, count_cap, table=table)
    return SearchResult(
        items=items,
        next_token=next_token,
        prev_token=prev_token,
        matched=matched,
        matched_is_estimate=estimate,
    )


def count_matches(
    conn: sqlite3.Connection, where: str, params: list[Any], cap: int, *, table: str = "items"
) -> tuple[int, bool]:
    """Exact count up to ``cap``; past it, an estimate from a 1-in-K sample of rows (of
    ``table``: ``items`` or a copy of some of its rows with the same columns)."""
    # the item JSON is joined only when the filter reads it (a lookup per row otherwise)
    source = f"{table} i" + (" LEFT JOIN items_content c ON c.rid = i.rid" if "c.content" in where else "")
    n = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {where} LIMIT ?)", [*params, cap + 1]
    ).fetchone()[0]
    if n <= cap:
        return int(n), False
    # Sample ~4,096 row ids in 32 evenly spaced blocks, each read as a row-id range (CROSS JOIN
    # keeps that order), instead of evaluating ``rid % K`` on every row of the table.
    lo, hi = conn.execute(
        "SELECT (SELECT min(rid) FROM items), (SELECT max(rid) FROM items)"
    ).fetchone()
    span = int(hi) - int(lo) + 1
    blocks = 32
    width = max(min(128, span // blocks), 1)
    sql = (
        f"SELECT count(*) FROM {table} s CROSS JOIN {table} i ON i.rid = s.rid "
        "LEFT JOIN items_content c ON c.rid = i.rid "
        f"WHERE s.rid BETWEEN ? AND ? AND {where}"
    )
    sampled = 0
    for b in range(blocks):
        start = int(lo) + b * span // blocks
        sampled += conn.execute(sql, [start, start + width - 1, *params]).fetchone()[0]
    return max(round(sampled * span / (blocks * width)), cap + 1), True


def referenced_properties(query: SearchQuery) -> set[str]:
    names: set[str] = set()
    for expr in (query.filter, query.query and query_to_cql2(query.query)):
        if expr:
            names |= property_names(expr)
    return names
