"""Collection Search: filter, sort, page and project the (few) collection documents."""

from __future__ import annotations

from typing import Any

import cql2

from sathub.catalog import temporal
from sathub.catalog.cql2input import FilterLimits, parse_filter
from sathub.catalog.params import apply_fields, parse_fields, parse_interval, parse_limit, parse_sortby
from sathub.catalog.geometry import bbox_geometry, validate_bbox
from sathub.catalog.validate import collection_bbox_geometry, parse_datetime
from sathub.config import Settings
from sathub.errors import InvalidInput


def _text(coll: dict[str, Any]) -> str:
    parts = [coll.get("id", ""), coll.get("title", ""), coll.get("description", "")]
    parts += [str(k) for k in coll.get("keywords") or []]
    return " ".join(str(p) for p in parts).lower()


def _interval(coll: dict[str, Any]) -> tuple[float, float]:
    try:
        lo, hi = coll["extent"]["temporal"]["interval"][0]
    except (KeyError, IndexError, TypeError, ValueError):
        return -1e300, 1e300
    start = parse_datetime(lo, field="extent") if lo else -1e300
    end = parse_datetime(hi, field="extent") if hi else 1e300
    return start, end


def _matches(expr: dict[str, Any], coll: dict[str, Any]) -> bool:
    """A collection filter on one collection, in Python: temporal predicates by
    :func:`sathub.catalog.temporal.evaluate` (a collection's ``datetime`` is its temporal
    extent), the rest by ``cql2``'s evaluator. A property the collection lacks is NULL: no
    match (as in item search), not an error."""
    doc = {**coll, "properties": {**coll, **(coll.get("properties") or {})}}
    lo, hi = _interval(coll)

    def interval_of(name: str) -> tuple[float, float] | None:
        if name == "datetime":
            return lo, hi
        if name in ("start_datetime", "end_datetime"):
            end = lo if name == "start_datetime" else hi
            return end, end
        v = doc["properties"].get(name)
        try:
            t = temporal.parse_timestamp(v) if isinstance(v, str) else None
        except InvalidInput:
            return None
        return None if t is None else (t, t)

    reduced = temporal.evaluate(expr, interval_of)
    if isinstance(reduced, bool):
        return reduced
    try:
        return bool(cql2.Expr(reduced).matches(doc))
    except Exception:  # cql2 raises a bare Exception for what it cannot reduce (NULL)
        return False


def search_collections(
    cols: list[dict[str, Any]], params: dict[str, Any], settings: Settings
) -> tuple[list[dict[str, Any]], int, int | None]:
    """Apply bbox, datetime, q, filter, sortby, fields, limit and offset to collections."""
    out = cols
    bbox = params.get("bbox")
    if bbox:
        area = bbox_geometry(validate_bbox(list(bbox)))
        out = [c for c in out if (g := collection_bbox_geometry(c)) is None or g.intersects(area)]
    if params.get("datetime"):
        start, end = parse_interval(params["datetime"])
        s = start.timestamp() if start else -1e300
        e = end.timestamp() if end else 1e300
        out = [c for c in out if (iv := _interval(c))[0] <= e and iv[1] >= s]
    q = params.get("q")
    if q:
        terms = [t.strip().lower() for t in (q if isinstance(q, list) else str(q).split(",")) if t.strip()]
        out = [c for c in out if any(t in _text(c) for t in terms)]
    filt = params.get("filter_expr") or params.get("filter")
    if filt:
        expr = parse_filter(filt, params.get("filter_lang") or params.get("filter-lang"),
                            FilterLimits.of(settings))  # fmt: skip
        out = [c for c in out if _matches(expr, c)]
    for key in reversed(parse_sortby(params.get("sortby"))):
        out = sorted(out, key=lambda c: (c.get(key.field) is None, str(c.get(key.field, ""))),
                     reverse=key.direction == "desc")  # fmt: skip
    matched = len(out)
    limit = parse_limit(params.get("limit"), default=100, maximum=settings.max_limit)
    try:
        offset = int(params.get("offset") or 0)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("offset must be an integer", field="offset") from exc
    if offset < 0:
        raise InvalidInput("offset must be >= 0", field="offset")
    page = out[offset : offset + limit]
    include, exclude = parse_fields(params.get("fields"))
    if include or exclude:
        page = [apply_fields(c, include, exclude) for c in page]
    next_offset = offset + limit if offset + limit < matched else None
    return page, matched, next_offset
