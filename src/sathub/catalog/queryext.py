"""The STAC Query extension, translated into CQL2-JSON for :mod:`sathub.catalog.cql2sql`.

Clients send numbers as strings (``{"gsd": {"eq": "0.6"}}``: the STAC API validator among
them) and items store numbers as strings too (``"s2:processing_baseline": "05.10"``), so a value
that spells a number compares numerically with a property value that spells a number
(``sathub:num``: a number or a numeric string, else NULL, so no match), and as given otherwise.
"""

from __future__ import annotations

from typing import Any

from sathub.catalog.cql2sql import NUMBER
from sathub.catalog.sqlfuncs import number
from sathub.errors import InvalidFilter

QUERY_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# Core columns whose values are text: a numeric string given for them is compared as text.
TEXT_PROPERTIES = frozenset({"id", "collection"})
TIMESTAMP_PROPERTIES = frozenset({"datetime", "start_datetime", "end_datetime"})


def _number(value: Any) -> float | None:
    """The number a Query-extension value stands for: a number, or a string that spells one."""
    return None if isinstance(value, bool) else number(value)


def _query_comparison(name: str, op: str, value: Any, portable: bool) -> dict[str, Any]:
    """One comparison: numerically when the value spells a number (see the module docstring)."""
    prop = {"property": name}
    n = _number(value)
    if n is None or name in TEXT_PROPERTIES or name in TIMESTAMP_PROPERTIES:
        return {"op": QUERY_OPS[op], "args": [prop, value]}
    if portable:  # standard CQL2 only: the number against the property as stored
        return {"op": QUERY_OPS[op], "args": [prop, n]}
    return {"op": QUERY_OPS[op], "args": [{"op": NUMBER, "args": [prop]}, n]}


def query_to_cql2(query: dict[str, dict[str, Any]], *, portable: bool = False) -> dict[str, Any]:
    """Translate a STAC Query-extension object into CQL2-JSON (with ``sathub:num``, see
    :func:`_query_comparison`). Values are JSON scalars (lists of them for ``in``).

    ``portable``: standard CQL2 only, for a backend that evaluates CQL2 itself (pgstac): a
    value that spells a number compares as that number with the property as stored, so a
    property stored as a numeric string does not match it there."""
    conds: list[dict[str, Any]] = []
    if not isinstance(query, dict):
        raise InvalidFilter("query must be an object", field="query")
    for name, tests in query.items():
        if not isinstance(tests, dict):
            raise InvalidFilter(f"query.{name} must be an object of operators", field="query")
        prop = {"property": name}
        for op, value in tests.items():
            scalar = value is None or isinstance(value, (str, int, float, bool))
            if op != "in" and not scalar:
                raise InvalidFilter(f"query.{name}.{op} must be a string, number or boolean",
                                    field="query")  # fmt: skip
            if op in QUERY_OPS:
                conds.append(_query_comparison(name, op, value, portable))
            elif op == "startsWith":
                conds.append({"op": "like", "args": [prop, _like_escape(str(value)) + "%"]})
            elif op == "endsWith":
                conds.append({"op": "like", "args": [prop, "%" + _like_escape(str(value))]})
            elif op == "contains":
                conds.append({"op": "like", "args": [prop, "%" + _like_escape(str(value)) + "%"]})
            elif op == "in":
                if not isinstance(value, list) or not value:
                    raise InvalidFilter(f"query.{name}.in needs a non-empty list", field="query")
                if not all(v is None or isinstance(v, (str, int, float, bool)) for v in value):
                    raise InvalidFilter(f"query.{name}.in must list strings, numbers or booleans",
                                        field="query")  # fmt: skip
                # a scalar property equal to one of the values, or an array sharing one; and a
                # value that spells a number matches a property that spells the same number
                cond: dict[str, Any] = {"op": "a_overlaps", "args": [prop, value]}
                nums = sorted({n for v in value if (n := _number(v)) is not None})
                if nums and not portable and name not in (TEXT_PROPERTIES | TIMESTAMP_PROPERTIES):
                    numeric = {"op": "in", "args": [{"op": NUMBER, "args": [prop]}, nums]}
                    cond = {"op": "or", "args": [cond, numeric]}
                conds.append(cond)
            else:
                raise InvalidFilter(f"unknown query operator {op!r} on {name!r}", field="query")
    if not conds:
        return {"op": "=", "args": [1, 1]}
    return conds[0] if len(conds) == 1 else {"op": "and", "args": conds}


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
