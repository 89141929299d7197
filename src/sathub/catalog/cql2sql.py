"""Translate CQL2-JSON into an SQLite ``WHERE`` clause with bound parameters.

Text filters are parsed to CQL2-JSON by the ``cql2`` package first (:func:`parse_filter`),
so this module sees JSON only. Every literal becomes a bound parameter: user input never
reaches the SQL text. Property names are resolved by a :class:`Columns` mapping, and a name
that is not a queryable raises :class:`~sathub.errors.InvalidFilter`.

Supported: basic CQL2 (and/or/not, comparisons, isNull), advanced comparison (like, between,
in, casei, accenti), spatial (all ``s_*`` operators, evaluated exactly with shapely through
SQLite functions registered by :mod:`sathub.catalog.sqlfuncs`), temporal (all ``t_*``
operators on instants and intervals), array (``a_*``) operators, arithmetic and
property-property comparisons.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

import cql2

import orjson
import shapely

from sathub.catalog.geometry import geometry_from_geojson, to_wkb
from sathub.errors import InvalidFilter, InvalidGeometry

# Timestamps are stored as float seconds since the epoch (UTC); open interval ends map to these.
NEG_INF = -1e300
POS_INF = 1e300

COMPARISON = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%", "div": "/"}
SPATIAL = {
    "s_intersects",
    "s_equals",
    "s_disjoint",
    "s_touches",
    "s_within",
    "s_overlaps",
    "s_crosses",
    "s_contains",
}
TEMPORAL = {
    "t_after",
    "t_before",
    "t_contains",
    "t_disjoint",
    "t_during",
    "t_equals",
    "t_finishedby",
    "t_finishes",
    "t_intersects",
    "t_meets",
    "t_metby",
    "t_overlappedby",
    "t_overlaps",
    "t_startedby",
    "t_starts",
}
ARRAY = {"a_equals", "a_contains", "a_containedby", "a_overlaps"}


def parse_filter(value: str | dict[str, Any], lang: str | None = None) -> dict[str, Any]:
    """Parse a CQL2 filter (text or JSON) into validated CQL2-JSON.

    Parsing and validating with cql2 costs about a millisecond; clients repeat the same filter
    (paging, map tiles, dashboards), so results are kept by their text (LRU, 512 filters). Each
    call returns a fresh copy."""
    if isinstance(value, dict):
        text, kind = orjson.dumps(value).decode(), "cql2-json"
    elif lang == "cql2-json" or (lang is None and value.lstrip().startswith("{")):
        text, kind = value, "cql2-json"
    else:
        text, kind = value, "cql2-text"
    return orjson.loads(_parse_cached(text, kind))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str, kind: str) -> bytes:
    try:
        expr = cql2.parse_json(text) if kind == "cql2-json" else cql2.parse_text(text)
        expr.validate()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        raise InvalidFilter(f"invalid CQL2 filter: {exc}", field="filter") from exc
    out = expr.to_json()
    assert isinstance(out, dict)
    return orjson.dumps(out)


def parse_timestamp(value: str) -> float:
    """An RFC 3339 timestamp (or date) as float seconds since the epoch, UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            dt = datetime.combine(d, time(0, 0), tzinfo=timezone.utc)
        else:
            dt = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise InvalidFilter(f"invalid timestamp {value!r}: {exc}", field="filter") from exc
    return dt.timestamp()


@dataclass
class Columns:
    """How property names map to SQL expressions for one query.

    ``columns`` are direct SQL expressions for the well-known queryables; any other name
    is read from the item JSON when ``is_known(name)`` says it is a queryable.
    """

    columns: dict[str, str]
    timestamps: set[str]  # names whose column holds epoch seconds
    geometry: str
    json_column: str
    is_known: Callable[[str], bool]

    def json_path(self, name: str) -> str | None:
        """The JSON path of a property inside the item document (None for core columns)."""
        if name.startswith("properties."):
            name = name[len("properties.") :]
        if name in self.columns:
            return None
        if not self.is_known(name):
            raise InvalidFilter(f"unknown queryable {name!r}", field="filter")
        return '$.properties."' + name.replace('"', '""') + '"'

    def expr(self, name: str) -> str:
        if name.startswith("properties."):
            name = name[len("properties.") :]
        if name in self.columns:
            return self.columns[name]
        path = self.json_path(name)
        assert path is not None
        return f"json_extract({self.json_column}, '{path.replace(chr(39), chr(39) * 2)}')"


@dataclass
class Compiled:
    sql: str
    params: list[Any] = field(default_factory=list)


class _Translator:
    def __init__(self, columns: Columns, internal: bool = False) -> None:
        self.cols = columns
        self.params: list[Any] = []
        self.internal = internal  # sathub's own operators (never in a user's filter)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    # ----------------------------------------------------------------- dispatch
    def node(self, n: Any) -> str:
        if isinstance(n, bool):
            return "1" if n else "0"
        if isinstance(n, dict) and "op" in n:
            return self.op(str(n["op"]).lower(), list(n.get("args", [])))
        return self.value(n)

    def op(self, op: str, args: list[Any]) -> str:
        if op in ("and", "or"):
            if not args:
                raise InvalidFilter(f"'{op}' needs arguments", field="filter")
            parts = [self.node(a) for a in args]  # in order: parameters bind left to right
            if len(parts) == 1:
                return parts[0]
            # CASE, not AND/OR: SQLite evaluates both sides of AND/OR in a value context (the
            # whole filter sits in coalesce()), CASE stops at the first deciding term, so cheap
            # tests spare the costly ones (spatial functions). NULL counts as false either way,
            # as it does at the top of the filter and under NOT.
            if op == "or":
                return "(CASE " + " ".join(f"WHEN {p} THEN 1" for p in parts) + " ELSE 0 END)"
            out = parts[-1]
            for p in reversed(parts[:-1]):
                out = f"(CASE WHEN {p} THEN {out} ELSE 0 END)"
            return out
        if op == "not":
            return f"(NOT coalesce({self.node(args[0])}, 0))"
        if op == "sathub:rid_in" and self.internal:
            # a store-made temporary table of row ids (see SQLiteStore._materialized)
            name = str(args[0])
            if not re.fullmatch(r"m_[0-9a-f]{20}", name):
                raise InvalidFilter(f"bad materialised set name {name!r}", field="filter")
            # unary +: a probe per row, never the loop that drives the search (from the set,
            # SQLite would read every kept row and sort them)
            return f"(+i.rid IN temp.{name})"
        if op in COMPARISON:
            left, right = self.comparable(args[0], args[1])
            return f"({left} {COMPARISON[op]} {right})"
        if op == "isnull":
            return f"({self.value(args[0])} IS NULL)"
        if op == "like":
            return f"({self.value(args[0])} LIKE {self.value(args[1])} ESCAPE '\\')"
        if op == "between":
            lo, hi = (args[1], args[2]) if len(args) == 3 else tuple(args[1])
            v = self.value(args[0])
            return f"({v} BETWEEN {self.value(lo)} AND {self.value(hi)})"
        if op == "in":
            values = args[1]
            if not isinstance(values, list) or not values:
                raise InvalidFilter("'in' needs a non-empty list", field="filter")
            return f"({self.value(args[0])} IN ({', '.join(self.value(v) for v in values)}))"
        if op in SPATIAL:
            return self.spatial(op, args)
        if op in TEMPORAL:
            return self.temporal(op, args)
        if op in ARRAY:
            return self.array(op, args)
        if op in ARITHMETIC or op in ("casei", "accenti", "^"):
            return self.value({"op": op, "args": args})
        raise InvalidFilter(f"unsupported CQL2 operator {op!r}", field="filter")

    # ------------------------------------------------------------------- values
    def comparable(self, a: Any, b: Any) -> tuple[str, str]:
        """Both sides of a comparison; timestamps compare as epoch seconds."""
        a_ts, b_ts = self.is_timestamp(a), self.is_timestamp(b)
        if a_ts or b_ts:
            return self.time_value(a), self.time_value(b)
        return self.value(a), self.value(b)

    def is_timestamp(self, n: Any) -> bool:
        if isinstance(n, dict):
            if "timestamp" in n or "date" in n:
                return True
            prop = n.get("property")
            return isinstance(prop, str) and prop in self.cols.timestamps
        return False

    def time_value(self, n: Any) -> str:
        if isinstance(n, dict):
            if "timestamp" in n:
                return self.bind(parse_timestamp(str(n["timestamp"])))
            if "date" in n:
                return self.bind(parse_timestamp(str(n["date"])))
            if "property" in n:
                name = str(n["property"])
                if name in self.cols.timestamps:
                    return self.cols.expr(name)
                return f"sathub_epoch({self.cols.expr(name)})"
        if isinstance(n, str):
            return self.bind(parse_timestamp(n))
        raise InvalidFilter(f"expected a timestamp, got {n!r}", field="filter")

    def value(self, n: Any) -> str:
        if n is None:
            return "NULL"
        if isinstance(n, bool):
            return "1" if n else "0"
        if isinstance(n, (int, float, str)):
            return self.bind(n)
        if isinstance(n, list):
            return self.bind(orjson.dumps(n).decode())
        if isinstance(n, dict):
            if "property" in n:
                return self.cols.expr(str(n["property"]))
            if "timestamp" in n or "date" in n:
                return self.time_value(n)
            if "op" in n:
                op = str(n["op"]).lower()
                args = list(n.get("args", []))
                if op == "casei":
                    return f"lower({self.value(args[0])})"
                if op == "accenti":
                    return f"sathub_unaccent({self.value(args[0])})"
                if op in ARITHMETIC:
                    left, right = self.value(args[0]), self.value(args[1])
                    if op == "div":
                        return f"(CAST({left} AS INTEGER) / CAST({right} AS INTEGER))"
                    return f"({left} {ARITHMETIC[op]} {right})"
                if op == "^":
                    return f"sathub_pow({self.value(args[0])}, {self.value(args[1])})"
                return self.node(n)
            if "type" in n or "bbox" in n:
                return self.bind(self.geometry_literal(n))
        raise InvalidFilter(f"unsupported CQL2 value {n!r}", field="filter")

    # ------------------------------------------------------------------ spatial
    def geometry_literal(self, n: dict[str, Any]) -> bytes:
        try:
            if "bbox" in n:
                b = n["bbox"]
                geom = shapely.box(b[0], b[1], b[-2] if len(b) == 6 else b[2], b[-1])
            else:
                geom = geometry_from_geojson(n, field="filter")
        except InvalidGeometry as exc:
            raise InvalidFilter(str(exc), field="filter") from exc
        return to_wkb(geom)

    def geometry_operand(self, n: Any) -> str:
        if isinstance(n, dict) and "property" in n:
            name = str(n["property"])
            if name in ("geometry", "geom", "properties.geometry"):
                return self.cols.geometry
            raise InvalidFilter(f"{name!r} is not a spatial queryable", field="filter")
        if isinstance(n, dict):
            return self.bind(self.geometry_literal(n))
        raise InvalidFilter(f"expected a geometry, got {n!r}", field="filter")

    def spatial(self, op: str, args: list[Any]) -> str:
        first, second = args[0], args[1]
        if not _is_property(first) and _is_property(second):
            # keep the row's geometry first: the SQL function prepares the literal once
            first, second = second, first
            op = {"s_within": "s_contains", "s_contains": "s_within"}.get(op, op)
        a, b = self.geometry_operand(first), self.geometry_operand(second)
        return f"coalesce(sathub_spatial('{op}', {a}, {b}), 0)"

    # ----------------------------------------------------------------- temporal
    def interval(self, n: Any) -> tuple[str, str]:
        if isinstance(n, dict) and "interval" in n:
            lo, hi = n["interval"]
            return self.interval_end(lo, NEG_INF), self.interval_end(hi, POS_INF)
        if isinstance(n, dict) and n.get("property") == "datetime":
            # An item's datetime is its instant, or its [start, end] range when it has one.
            return self.cols.expr("start_datetime"), self.cols.expr("end_datetime")
        v = self.time_value(n)
        return v, v

    def interval_end(self, n: Any, open_value: float) -> str:
        if n == "..":
            return self.bind(open_value)
        return self.time_value(n)

    def temporal(self, op: str, args: list[Any]) -> str:
        (s1, e1), (s2, e2) = self.interval(args[0]), self.interval(args[1])
        rel = {
            "t_after": f"{s1} > {e2}",
            "t_before": f"{e1} < {s2}",
            "t_contains": f"{s1} < {s2} AND {e1} > {e2}",
            "t_disjoint": f"NOT ({s1} <= {e2} AND {e1} >= {s2})",
            "t_during": f"{s1} > {s2} AND {e1} < {e2}",
            "t_equals": f"{s1} = {s2} AND {e1} = {e2}",
            "t_finishedby": f"{s1} < {s2} AND {e1} = {e2}",
            "t_finishes": f"{s1} > {s2} AND {e1} = {e2}",
            "t_intersects": f"{s1} <= {e2} AND {e1} >= {s2}",
            "t_meets": f"{e1} = {s2}",
            "t_metby": f"{s1} = {e2}",
            "t_overlappedby": f"{s1} > {s2} AND {s1} < {e2} AND {e1} > {e2}",
            "t_overlaps": f"{s1} < {s2} AND {e1} > {s2} AND {e1} < {e2}",
            "t_startedby": f"{s1} = {s2} AND {e1} > {e2}",
            "t_starts": f"{s1} = {s2} AND {e1} < {e2}",
        }[op]
        return f"coalesce(({rel}), 0)"

    # -------------------------------------------------------------------- array
    def each(self, n: Any) -> tuple[str, str]:
        """A ``json_each`` table source for an array operand, and a NULL test for it.

        The source is repeated in the SQL, so it holds quoted literals, not ``?`` parameters.
        """
        if isinstance(n, dict) and "property" in n:
            path = self.cols.json_path(str(n["property"]))
            if path is not None:
                col, lit = self.cols.json_column, sql_string(path)
                return f"json_each({col}, {lit})", f"json_type({col}, {lit}) IS NOT NULL"
            expr = self.cols.expr(str(n["property"]))
            return f"json_each(json_array({expr}))", f"{expr} IS NOT NULL"
        if isinstance(n, list):
            lit = sql_string(orjson.dumps(n).decode())
            return f"json_each({lit})", "1"
        raise InvalidFilter(f"array operators need a property or an array, got {n!r}", field="filter")

    def array(self, op: str, args: list[Any]) -> str:
        (a, a_ok), (b, b_ok) = self.each(args[0]), self.each(args[1])
        in_a = f"(SELECT value FROM {a})"
        in_b = f"(SELECT value FROM {b})"
        if op == "a_equals":
            sql = (
                f"{a_ok} AND {b_ok} AND (SELECT count(*) FROM {a}) = (SELECT count(*) FROM {b}) "
                f"AND NOT EXISTS (SELECT 1 FROM {a} x WHERE x.value NOT IN {in_b}) "
                f"AND NOT EXISTS (SELECT 1 FROM {b} y WHERE y.value NOT IN {in_a})"
            )
        elif op == "a_contains":
            sql = f"{a_ok} AND NOT EXISTS (SELECT 1 FROM {b} y WHERE y.value NOT IN {in_a})"
        elif op == "a_containedby":
            sql = f"{a_ok} AND NOT EXISTS (SELECT 1 FROM {a} x WHERE x.value NOT IN {in_b})"
        else:
            sql = f"EXISTS (SELECT 1 FROM {a} x WHERE x.value IN {in_b})"
        return f"coalesce(({sql}), 0)"


def sql_string(text: str) -> str:
    """A quoted SQL string literal (for values that must appear more than once)."""
    if "\x00" in text:
        raise InvalidFilter("NUL characters are not allowed", field="filter")
    return "'" + text.replace("'", "''") + "'"


def _is_property(n: Any) -> bool:
    return isinstance(n, dict) and "property" in n


def to_sql(expr: dict[str, Any], columns: Columns, *, internal: bool = False) -> Compiled:
    """Translate validated CQL2-JSON into SQL with ``?`` parameters. ``internal`` admits
    ``sathub:rid_in`` (a probe of a kept row-id set, see ``materialize.py``), which only the
    store's resolved access-control filter holds."""
    t = _Translator(columns, internal)
    sql = t.node(expr)
    return Compiled(sql=f"coalesce({sql}, 0)", params=t.params)


# Operators whose SQL is true, false or NULL and needs no coalesce() as a WHERE term: WHERE
# takes NULL as false, exactly as the coalesce(…, 0) of to_sql does.
_PLAIN_TERMS = set(COMPARISON) | SPATIAL | TEMPORAL | ARRAY | {
    "in", "between", "like", "isnull", "sathub:rid_in"}


def to_where(expr: dict[str, Any], columns: Columns, *, internal: bool = False) -> list[Compiled]:
    """The expression as WHERE terms ANDed by the caller: a top-level ``and`` is split into its
    terms and plain predicates are left bare, so that SQLite can use an index for them (a term
    inside coalesce() or CASE cannot) and stops at the first false term of a row."""
    op = str(expr.get("op", "")).lower() if isinstance(expr, dict) else ""
    if op == "and" and expr.get("args"):
        return [c for a in expr["args"] for c in to_where(a, columns, internal=internal)]
    if op in _PLAIN_TERMS and (op != "sathub:rid_in" or internal):
        t = _Translator(columns, internal)
        return [Compiled(sql=t.node(expr), params=t.params)]
    return [to_sql(expr, columns, internal=internal)]


def property_names(expr: Any) -> set[str]:
    """Every property name an expression refers to."""
    out: set[str] = set()
    if isinstance(expr, dict):
        if "property" in expr and isinstance(expr["property"], str):
            out.add(expr["property"])
        for v in expr.values():
            out |= property_names(v)
    elif isinstance(expr, list):
        for v in expr:
            out |= property_names(v)
    return out


def query_to_cql2(query: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Translate a STAC Query-extension object into CQL2-JSON."""
    ops = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
    conds: list[dict[str, Any]] = []
    if not isinstance(query, dict):
        raise InvalidFilter("query must be an object", field="query")
    for name, tests in query.items():
        if not isinstance(tests, dict):
            raise InvalidFilter(f"query.{name} must be an object of operators", field="query")
        prop = {"property": name}
        for op, value in tests.items():
            if op in ops:
                conds.append({"op": ops[op], "args": [prop, value]})
            elif op == "startsWith":
                conds.append({"op": "like", "args": [prop, _like_escape(str(value)) + "%"]})
            elif op == "endsWith":
                conds.append({"op": "like", "args": [prop, "%" + _like_escape(str(value))]})
            elif op == "contains":
                conds.append({"op": "like", "args": [prop, "%" + _like_escape(str(value)) + "%"]})
            elif op == "in":
                if not isinstance(value, list) or not value:
                    raise InvalidFilter(f"query.{name}.in needs a non-empty list", field="query")
                # a scalar property equal to one of the values, or an array sharing one
                conds.append({"op": "a_overlaps", "args": [prop, value]})
            else:
                raise InvalidFilter(f"unknown query operator {op!r} on {name!r}", field="query")
    if not conds:
        return {"op": "=", "args": [1, 1]}
    return conds[0] if len(conds) == 1 else {"op": "and", "args": conds}


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
