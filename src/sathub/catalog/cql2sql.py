"""Translate CQL2-JSON into an SQLite ``WHERE`` clause with bound parameters.

Filters arrive through :func:`~sathub.catalog.cql2input.parse_filter` (bounded, parsed and
validated by ``cql2``), so this module sees CQL2-JSON only. Every literal becomes a bound
parameter: user input never reaches the SQL text. SQL is built as :class:`Sql` pieces, each
holding its text and the values of its ``?`` parameters in the order they appear, and combined
only with :func:`sql`: text and parameters cannot fall out of step, even where a piece is used
twice or in another order than it was made (the temporal relations). Property names are
resolved by a :class:`Columns` mapping, and a name that is not a queryable raises
:class:`~sathub.errors.InvalidFilter`.

Supported: basic CQL2 (and/or/not, comparisons, isNull), advanced comparison (like, between,
in, casei, accenti), spatial (all ``s_*`` operators, evaluated exactly with shapely through
SQLite functions registered by :mod:`sathub.catalog.sqlfuncs`), temporal (all ``t_*``
operators, defined in :mod:`sathub.catalog.temporal`), array (``a_*``) operators, arithmetic
and property-property comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import shapely

from sathub.catalog import temporal
from sathub.catalog.cql2input import parse_filter
from sathub.catalog.geometry import geometry_from_geojson, to_wkb
from sathub.catalog.temporal import NEG_INF, POS_INF, TEMPORAL, parse_timestamp
from sathub.errors import InvalidFilter, InvalidGeometry

__all__ = ["NEG_INF", "NUMBER", "POS_INF", "Columns", "Compiled", "Sql", "parse_filter", "parse_timestamp",
           "property_names", "sql", "to_sql", "to_where"]  # fmt: skip

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
ARRAY = {"a_equals", "a_contains", "a_containedby", "a_overlaps"}
NUMBER = "sathub:num"  # a property's numeric reading (the Query extension's, see queryext.py)


@dataclass(frozen=True, slots=True)
class Sql:
    """A piece of SQL and the values of its ``?`` parameters, in the order they appear."""

    text: str
    params: tuple[Any, ...] = ()


def sql(template: str, *parts: Sql | str) -> Sql:
    """Fill each ``{}`` of ``template`` with a part, in order. A ``str`` part is SQL written in
    this module (an operator, a column); values only ever enter as :func:`param`."""
    chunks = template.split("{}")
    if len(chunks) != len(parts) + 1:
        raise ValueError(f"{len(parts)} parts for {len(chunks) - 1} holes in {template!r}")
    text = [chunks[0]]
    params: list[Any] = []
    for part, chunk in zip(parts, chunks[1:]):
        if isinstance(part, Sql):
            text.append(part.text)
            params.extend(part.params)
        else:
            text.append(part)
        text.append(chunk)
    return Sql("".join(text), tuple(params))


def param(value: Any) -> Sql:
    return Sql("?", (value,))


def join(sep: str, parts: Iterable[Sql]) -> Sql:
    items = list(parts)
    return sql(sep.join("{}" for _ in items), *items)


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


def _args(n: dict[str, Any], count: int | None = None) -> list[Any]:
    args = n.get("args")
    if not isinstance(args, list) or (count is not None and len(args) != count):
        want = "a list of arguments" if count is None else f"{count} arguments"
        raise InvalidFilter(f"{n.get('op')!r} needs {want}", field="filter")
    return args


class _Translator:
    def __init__(self, columns: Columns, internal: bool = False) -> None:
        self.cols = columns
        self.internal = internal  # sathub's own operators (never in a user's filter)

    def column(self, name: str) -> Sql:
        return Sql(self.cols.expr(name))

    # ----------------------------------------------------------------- dispatch
    def node(self, n: Any) -> Sql:
        if isinstance(n, bool):
            return Sql("1" if n else "0")
        if isinstance(n, dict) and "op" in n:
            return self.op(str(n["op"]).lower(), n)
        return self.value(n)

    def op(self, op: str, n: dict[str, Any]) -> Sql:
        if op in ("and", "or"):
            args = _args(n)
            if not args:
                raise InvalidFilter(f"'{op}' needs arguments", field="filter")
            parts = [self.node(a) for a in args]
            if len(parts) == 1:
                return parts[0]
            # CASE, not AND/OR: SQLite evaluates both sides of AND/OR in a value context (the
            # whole filter sits in coalesce()), CASE stops at the first deciding term, so cheap
            # tests spare the costly ones (spatial functions). NULL counts as false either way,
            # as it does at the top of the filter and under NOT.
            if op == "or":
                return sql("(CASE " + " ".join("WHEN {} THEN 1" for _ in parts) + " ELSE 0 END)",
                           *parts)  # fmt: skip
            return _conjunction(parts)
        if op == "not":
            return sql("(NOT coalesce({}, 0))", self.node(_args(n, 1)[0]))
        if op == "sathub:rid_in" and self.internal:
            # a store-made temporary table of row ids (see SQLiteStore._materialized)
            name = str(_args(n, 1)[0])
            if not re.fullmatch(r"m_[0-9a-f]{20}", name):
                raise InvalidFilter(f"bad materialised set name {name!r}", field="filter")
            # unary +: a probe per row, never the loop that drives the search (from the set,
            # SQLite would read every kept row and sort them)
            return Sql(f"(+i.rid IN temp.{name})")
        if op in COMPARISON:
            a, b = _args(n, 2)
            left, right = self.comparable(a, b)
            return sql("({} {} {})", left, COMPARISON[op], right)
        if op == "isnull":
            return sql("({} IS NULL)", self.value(_args(n, 1)[0]))
        if op == "like":
            a, b = _args(n, 2)
            return sql("({} LIKE {} ESCAPE '\\')", self.value(a), self.value(b))
        if op == "between":
            args = _args(n)
            lo, hi = (args[1], args[2]) if len(args) == 3 else tuple(args[1])
            return sql("({} BETWEEN {} AND {})", self.value(args[0]), self.value(lo), self.value(hi))
        if op == "in":
            a, values = _args(n, 2)
            if not isinstance(values, list) or not values:
                raise InvalidFilter("'in' needs a non-empty list", field="filter")
            return sql("({} IN ({}))", self.value(a), join(", ", (self.value(v) for v in values)))
        if op in SPATIAL:
            return self.spatial(op, _args(n, 2))
        if op in TEMPORAL:
            return self.temporal(op, _args(n, 2))
        if op in ARRAY:
            return self.array(op, _args(n, 2))
        if op in ARITHMETIC or op in ("casei", "accenti", "^", NUMBER):
            return self.value(n)
        raise InvalidFilter(f"unsupported CQL2 operator {op!r}", field="filter")

    # ------------------------------------------------------------------- values
    def comparable(self, a: Any, b: Any) -> tuple[Sql, Sql]:
        """Both sides of a comparison; timestamps compare as epoch seconds."""
        if self.is_timestamp(a) or self.is_timestamp(b):
            return self.time_value(a), self.time_value(b)
        return self.value(a), self.value(b)

    def is_timestamp(self, n: Any) -> bool:
        if isinstance(n, dict):
            if "timestamp" in n or "date" in n:
                return True
            prop = n.get("property")
            return isinstance(prop, str) and prop in self.cols.timestamps
        return False

    def time_value(self, n: Any) -> Sql:
        if isinstance(n, dict):
            if "timestamp" in n:
                return param(parse_timestamp(str(n["timestamp"])))
            if "date" in n:
                return param(parse_timestamp(str(n["date"])))
            if "property" in n:
                name = str(n["property"])
                if name in self.cols.timestamps:
                    return self.column(name)
                return sql("sathub_epoch({})", self.column(name))
        if isinstance(n, str):
            return param(parse_timestamp(n))
        raise InvalidFilter(f"expected a timestamp, got {n!r}", field="filter")

    def value(self, n: Any) -> Sql:
        if n is None:
            return Sql("NULL")
        if isinstance(n, bool):
            return Sql("1" if n else "0")
        if isinstance(n, (int, float, str)):
            return param(n)
        if isinstance(n, list):
            return param(orjson.dumps(n).decode())
        if isinstance(n, dict):
            if "property" in n:
                return self.column(str(n["property"]))
            if "timestamp" in n or "date" in n:
                return self.time_value(n)
            if "op" in n:
                op = str(n["op"]).lower()
                if op == "casei":
                    return sql("lower({})", self.value(_args(n, 1)[0]))
                if op == "accenti":
                    return sql("sathub_unaccent({})", self.value(_args(n, 1)[0]))
                if op == NUMBER:
                    (a,) = _args(n, 1)
                    if _is_property(a) and str(a["property"]) in self.cols.columns:
                        return self.column(str(a["property"]))  # a numeric core column
                    return sql("sathub_num({})", self.value(a))
                if op in ARITHMETIC:
                    a, b = _args(n, 2)
                    left, right = self.value(a), self.value(b)
                    if op == "div":
                        return sql("(CAST({} AS INTEGER) / CAST({} AS INTEGER))", left, right)
                    return sql("({} {} {})", left, ARITHMETIC[op], right)
                if op == "^":
                    a, b = _args(n, 2)
                    return sql("sathub_pow({}, {})", self.value(a), self.value(b))
                return self.node(n)
            if "type" in n or "bbox" in n:
                return param(self.geometry_literal(n))
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

    def geometry_operand(self, n: Any) -> Sql:
        if isinstance(n, dict) and "property" in n:
            name = str(n["property"])
            if name in ("geometry", "geom", "properties.geometry"):
                return Sql(self.cols.geometry)
            raise InvalidFilter(f"{name!r} is not a spatial queryable", field="filter")
        if isinstance(n, dict):
            return param(self.geometry_literal(n))
        raise InvalidFilter(f"expected a geometry, got {n!r}", field="filter")

    def spatial(self, op: str, args: list[Any]) -> Sql:
        first, second = args
        if not _is_property(first) and _is_property(second):
            # keep the row's geometry first: the SQL function prepares the literal once
            first, second = second, first
            op = {"s_within": "s_contains", "s_contains": "s_within"}.get(op, op)
        a, b = self.geometry_operand(first), self.geometry_operand(second)
        return sql("coalesce(sathub_spatial({}, {}, {}), 0)", f"'{op}'", a, b)  # op: one of SPATIAL

    # ----------------------------------------------------------------- temporal
    def interval(self, n: Any) -> tuple[Sql, Sql]:
        """A temporal operand as its (start, end), as temporal.py defines them."""
        if isinstance(n, dict) and str(n.get("property", "")).removeprefix("properties.") == "datetime":
            # An item's datetime is its instant, or its [start, end] range when it has one.
            return self.column("start_datetime"), self.column("end_datetime")
        if isinstance(n, dict) and "interval" in n:
            literal = temporal.literal_interval(n)  # checks the order of two literal ends
            if literal is not None:
                return param(literal[0]), param(literal[1])
            lo, hi = temporal.interval_ends(n["interval"])
            return self.interval_end(lo, first=True), self.interval_end(hi, first=False)
        literal = temporal.literal_interval(n)
        if literal is not None:
            return param(literal[0]), param(literal[1])
        v = self.time_value(n)
        return v, v

    def interval_end(self, n: Any, *, first: bool) -> Sql:
        literal = temporal.literal_end(n, first=first)
        return param(literal) if literal is not None else self.time_value(n)

    def temporal(self, op: str, args: list[Any]) -> Sql:
        (s1, e1), (s2, e2) = self.interval(args[0]), self.interval(args[1])
        ends = {"s1": s1, "e1": e1, "s2": s2, "e2": e2}
        negated, conds = temporal.RELATIONS[op]
        rel = join(" AND ", (sql("{} {} {}", ends[x], c, ends[y]) for x, c, y in conds))
        return sql("coalesce(NOT ({}), 0)" if negated else "coalesce(({}), 0)", rel)

    # -------------------------------------------------------------------- array
    def each(self, n: Any) -> tuple[Sql, Sql]:
        """A ``json_each`` table source for an array operand, and a NOT NULL test for it."""
        if isinstance(n, dict) and "property" in n:
            path = self.cols.json_path(str(n["property"]))
            if path is not None:
                col = self.cols.json_column
                return (sql(f"json_each({col}, {{}})", param(path)),
                        sql(f"json_type({col}, {{}}) IS NOT NULL", param(path)))  # fmt: skip
            expr = self.column(str(n["property"]))
            return sql("json_each(json_array({}))", expr), sql("{} IS NOT NULL", expr)
        if isinstance(n, list):
            return sql("json_each({})", param(orjson.dumps(n).decode())), Sql("1")
        raise InvalidFilter(f"array operators need a property or an array, got {n!r}", field="filter")

    def array(self, op: str, args: list[Any]) -> Sql:
        (a, a_ok), (b, b_ok) = self.each(args[0]), self.each(args[1])
        in_a = sql("(SELECT value FROM {})", a)
        in_b = sql("(SELECT value FROM {})", b)
        if op == "a_equals":
            out = sql(
                "{} AND {} AND (SELECT count(*) FROM {}) = (SELECT count(*) FROM {}) "
                "AND NOT EXISTS (SELECT 1 FROM {} x WHERE x.value NOT IN {}) "
                "AND NOT EXISTS (SELECT 1 FROM {} y WHERE y.value NOT IN {})",
                a_ok, b_ok, a, b, a, in_b, b, in_a,
            )  # fmt: skip
        elif op == "a_contains":
            out = sql("{} AND NOT EXISTS (SELECT 1 FROM {} y WHERE y.value NOT IN {})", a_ok, b, in_a)
        elif op == "a_containedby":
            out = sql("{} AND NOT EXISTS (SELECT 1 FROM {} x WHERE x.value NOT IN {})", a_ok, a, in_b)
        else:
            out = sql("EXISTS (SELECT 1 FROM {} x WHERE x.value IN {})", a, in_b)
        return sql("coalesce(({}), 0)", out)


def _is_property(n: Any) -> bool:
    return isinstance(n, dict) and "property" in n


def to_sql(expr: dict[str, Any], columns: Columns, *, internal: bool = False) -> Compiled:
    """Translate validated CQL2-JSON into SQL with ``?`` parameters. ``internal`` admits
    ``sathub:rid_in`` (a probe of a kept row-id set, see ``materialize.py``), which only the
    store's resolved access-control filter holds."""
    out = sql("coalesce({}, 0)", _Translator(columns, internal).node(expr))
    return Compiled(sql=out.text, params=list(out.params))


# Operators whose SQL is true, false or NULL and needs no coalesce() as a WHERE term: WHERE
# takes NULL as false, exactly as the coalesce(…, 0) of to_sql does.
_PLAIN_TERMS = set(COMPARISON) | SPATIAL | TEMPORAL | ARRAY | {
    "in", "between", "like", "isnull", "sathub:rid_in"}


def _conjunction(parts: list[Sql]) -> Sql:
    """``parts`` ANDed, left to right, as CASEs nested as a balanced tree: SQLite refuses an
    expression tree deeper than 1,000, and a chain of n terms would be n deep (log₂ n here)."""
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    return sql("(CASE WHEN {} THEN {} ELSE 0 END)", _conjunction(parts[:mid]), _conjunction(parts[mid:]))


def balanced_and(terms: list[str]) -> str:
    """SQL terms ANDed as a balanced tree of parentheses (SQLite still splits it into its
    terms for index use; a flat chain of n terms is an expression tree n deep)."""
    if len(terms) <= 16:
        return " AND ".join(terms)
    mid = len(terms) // 2
    return f"({balanced_and(terms[:mid])}) AND ({balanced_and(terms[mid:])})"


def to_where(expr: dict[str, Any], columns: Columns, *, internal: bool = False) -> list[Compiled]:
    """The expression as WHERE terms ANDed by the caller: a top-level ``and`` is split into its
    terms and plain predicates are left bare, so that SQLite can use an index for them (a term
    inside coalesce() or CASE cannot) and stops at the first false term of a row."""
    op = str(expr.get("op", "")).lower() if isinstance(expr, dict) else ""
    if op == "and" and expr.get("args"):
        return [c for a in expr["args"] for c in to_where(a, columns, internal=internal)]
    if op in _PLAIN_TERMS and (op != "sathub:rid_in" or internal):
        out = _Translator(columns, internal).node(expr)
        return [Compiled(sql=out.text, params=list(out.params))]
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
