"""CQL2's temporal operators: each relation defined once, for SQL and for Python.

A temporal operand is a closed interval ``[start, end]`` in float seconds since the epoch (UTC),
as CQL2 (OGC 21-065r2, 7.5) and ISO 8601 define intervals:

- an instant (a ``TIMESTAMP``, or an item with only ``datetime``) is ``[t, t]``;
- a ``DATE`` names a whole day: ``[00:00:00, 23:59:59.999999]`` (timestamps have microsecond
  resolution, so the day's last microsecond is its end);
- an ``INTERVAL`` includes both bounding instants; a date as its end includes that whole day;
  ``'..'`` is an open end (:data:`NEG_INF` / :data:`POS_INF`);
- an item's ``datetime`` is ``[start_datetime, end_datetime]`` when it has them, else its instant.

The relations follow the W3C/OGC Time Ontology that CQL2 cites (``before``, ``after``,
``intervalMeets``…). CQL2 lets a server reject instants in the interval-only operators
(T_CONTAINS…T_STARTS); sathub instead reads an instant as a zero-length interval, as cql2-rs and
pgstac do, because an item's ``datetime`` is an instant for some items and an interval for others.

Each relation is a conjunction of endpoint comparisons (:data:`RELATIONS`); ``t_disjoint`` is
the negation of ``t_intersects``. :mod:`sathub.catalog.cql2sql` writes them as SQL and
:func:`holds` evaluates them in Python, from the same table.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from typing import Any

from sathub.errors import InvalidFilter

# Timestamps are float seconds since the epoch (UTC); open interval ends map to these.
NEG_INF = -1e300
POS_INF = 1e300
DAY_S = 86_400.0
RESOLUTION_S = 1e-6  # the last instant of a day is its next midnight minus this

Endpoint = str  # "s1", "e1", "s2", "e2": start/end of the first/second operand
# op → (negated, [(left endpoint, comparison, right endpoint), …]) — a conjunction
RELATIONS: dict[str, tuple[bool, tuple[tuple[Endpoint, str, Endpoint], ...]]] = {
    "t_before": (False, (("e1", "<", "s2"),)),
    "t_after": (False, (("s1", ">", "e2"),)),
    "t_meets": (False, (("e1", "=", "s2"),)),
    "t_metby": (False, (("s1", "=", "e2"),)),
    "t_overlaps": (False, (("s1", "<", "s2"), ("s2", "<", "e1"), ("e1", "<", "e2"))),
    "t_overlappedby": (False, (("s2", "<", "s1"), ("s1", "<", "e2"), ("e2", "<", "e1"))),
    "t_starts": (False, (("s1", "=", "s2"), ("e1", "<", "e2"))),
    "t_startedby": (False, (("s1", "=", "s2"), ("e1", ">", "e2"))),
    "t_during": (False, (("s1", ">", "s2"), ("e1", "<", "e2"))),
    "t_contains": (False, (("s1", "<", "s2"), ("e1", ">", "e2"))),
    "t_finishes": (False, (("s1", ">", "s2"), ("e1", "=", "e2"))),
    "t_finishedby": (False, (("s1", "<", "s2"), ("e1", "=", "e2"))),
    "t_equals": (False, (("s1", "=", "s2"), ("e1", "=", "e2"))),
    "t_intersects": (False, (("s1", "<=", "e2"), ("e1", ">=", "s2"))),
    "t_disjoint": (True, (("s1", "<=", "e2"), ("e1", ">=", "s2"))),
}
TEMPORAL = frozenset(RELATIONS)
_PY: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, "=": operator.eq, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def parse_timestamp(value: str) -> float:
    """An RFC 3339 timestamp (or a date: its midnight) as float seconds since the epoch, UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            dt = datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=timezone.utc)
        else:
            dt = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise InvalidFilter(f"invalid timestamp {value!r}: {exc}", field="filter") from exc
    return dt.timestamp()


def day(value: str) -> tuple[float, float]:
    """A date as the interval of its day. The end is computed from whole microseconds, as
    ``datetime.timestamp()`` computes an item's ``23:59:59.999999``, so the two are equal."""
    start = parse_timestamp(value)
    end_us = round(start) * 1_000_000 + round(DAY_S / RESOLUTION_S) - 1
    return start, end_us / 1_000_000


def is_date(value: Any) -> bool:
    return isinstance(value, str) and len(value.strip()) == 10


def literal_interval(n: Any) -> tuple[float, float] | None:
    """The interval of a temporal literal (timestamp, date or interval of literals); None when
    ``n`` is not a literal (a property, a function, an interval with a property end)."""
    if isinstance(n, dict):
        if "timestamp" in n:
            t = parse_timestamp(str(n["timestamp"]))
            return t, t
        if "date" in n:
            return day(str(n["date"]))
        if "interval" in n:
            lo, hi = interval_ends(n["interval"])
            start, end = literal_end(lo, first=True), literal_end(hi, first=False)
            if start is None or end is None:
                return None
            check_order(start, end)
            return start, end
    return None


def interval_ends(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidFilter("an interval needs exactly two ends", field="filter")
    return value[0], value[1]


def literal_end(n: Any, *, first: bool) -> float | None:
    """One end of an interval as seconds (None: not a literal). A date as the first end is the
    start of its day, as the second end the end of its day; '..' is open."""
    if n == "..":
        return NEG_INF if first else POS_INF
    if isinstance(n, dict) and "timestamp" in n:
        n = n["timestamp"]
    elif isinstance(n, dict) and "date" in n:
        n = str(n["date"])
        return day(n)[0 if first else 1]
    if isinstance(n, str):
        return day(n)[0 if first else 1] if is_date(n) else parse_timestamp(n)
    return None


def check_order(start: float, end: float) -> None:
    if start > end:
        raise InvalidFilter("a temporal interval ends before it starts", field="filter")


def holds(op: str, a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool | None:
    """Does relation ``op`` hold between intervals ``a`` and ``b``? None when either is NULL."""
    if a is None or b is None:
        return None
    ends = {"s1": a[0], "e1": a[1], "s2": b[0], "e2": b[1]}
    negated, conds = RELATIONS[op.lower()]
    out = all(_PY[c](ends[x], ends[y]) for x, c, y in conds)
    return not out if negated else out


def item_interval(item: dict[str, Any], name: str) -> tuple[float, float] | None:
    """A property of an item as a temporal operand, as the SQL path reads it: ``datetime`` is
    the item's range; ``start_datetime``/``end_datetime`` fall back to ``datetime``."""
    props = item.get("properties") or {}
    if name.startswith("properties."):
        name = name[len("properties.") :]

    def ts(key: str) -> float | None:
        v = props.get(key)
        return parse_timestamp(v) if isinstance(v, str) and v else None

    dt = ts("datetime")
    start = ts("start_datetime")
    end = ts("end_datetime")
    if name == "datetime":
        lo = start if start is not None else dt
        hi = end if end is not None else dt
        return None if lo is None or hi is None else (lo, hi)
    if name == "start_datetime":
        v = start if start is not None else dt
    elif name == "end_datetime":
        v = end if end is not None else dt
    else:
        v = ts(name)
    return None if v is None else (v, v)


def evaluate(expr: Any, interval_of: Callable[[str], tuple[float, float] | None]) -> Any:
    """Replace every temporal predicate of a CQL2-JSON expression by its truth value (``False``
    for NULL, as the SQL path reads it), reading properties through ``interval_of``. What is left
    is plain CQL2 (for ``cql2``'s own evaluator)."""
    if isinstance(expr, list):
        return [evaluate(v, interval_of) for v in expr]
    if not isinstance(expr, dict):
        return expr
    op = str(expr.get("op", "")).lower()
    if op in RELATIONS:
        args = expr.get("args") or []
        if len(args) != 2:
            raise InvalidFilter(f"{op} needs two arguments", field="filter")
        return bool(holds(op, _operand(args[0], interval_of), _operand(args[1], interval_of)))
    return {k: evaluate(v, interval_of) for k, v in expr.items()}


def _operand(n: Any, interval_of: Callable[[str], tuple[float, float] | None]) -> tuple[float, float] | None:
    if isinstance(n, dict) and "property" in n:
        return interval_of(str(n["property"]))
    if isinstance(n, dict) and "interval" in n:
        lo, hi = interval_ends(n["interval"])
        start = _end(lo, interval_of, first=True)
        end = _end(hi, interval_of, first=False)
        if start is None or end is None:
            return None
        return start, end
    got = literal_interval(n)
    if got is None:
        raise InvalidFilter(f"expected a temporal value, got {n!r}", field="filter")
    return got


def _end(n: Any, interval_of: Callable[[str], tuple[float, float] | None], *, first: bool) -> float | None:
    if isinstance(n, dict) and "property" in n:
        iv = interval_of(str(n["property"]))
        return None if iv is None else iv[0 if first else 1]
    v = literal_end(n, first=first)
    if v is None:
        raise InvalidFilter(f"expected an interval end, got {n!r}", field="filter")
    return v
