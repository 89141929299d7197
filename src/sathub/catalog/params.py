"""Turn search parameters (GET query strings or POST bodies) into a validated SearchQuery."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson

from sathub.catalog.cql2input import DEFAULT_LIMITS, FilterLimits, parse_filter
from sathub.catalog.geometry import validate_bbox
from sathub.catalog.store import SearchQuery, SortKey
from sathub.catalog.validate import parse_datetime
from sathub.errors import InvalidDatetime, InvalidInput


def _to_list(value: Any, field: str) -> list[str] | None:
    """Accept a list or a comma-separated string (lenient, as the spec allows)."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [v.strip() for v in value.split(",") if v.strip()]
        return parts or None
    if isinstance(value, (list, tuple)):
        out = [str(v) for v in value]
        return out or None
    raise InvalidInput(f"{field} must be a list of strings", field=field)


def parse_instant(text: str, *, field: str = "datetime") -> datetime:
    """An RFC 3339 date-time (with a timezone) as an aware UTC datetime."""
    return datetime.fromtimestamp(parse_datetime(text, field=field), tz=timezone.utc)


def parse_interval(value: Any) -> tuple[datetime | None, datetime | None]:
    """A datetime or interval ('a/b', '../b', 'a/..', 'a/') → (start, end), inclusive."""
    if value is None or value == "":
        return None, None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return dt, dt
    if not isinstance(value, str):
        raise InvalidDatetime("datetime must be a string", field="datetime")
    if "/" not in value:
        dt = parse_instant(value)
        return dt, dt
    parts = value.split("/")
    if len(parts) != 2:
        raise InvalidDatetime(f"datetime interval {value!r} must have one '/'", field="datetime")
    lo, hi = (p.strip() for p in parts)
    start = None if lo in ("", "..") else parse_instant(lo)
    end = None if hi in ("", "..") else parse_instant(hi)
    if start is None and end is None:
        raise InvalidDatetime("datetime interval '../..' is open at both ends", field="datetime")
    if start and end and start > end:
        raise InvalidDatetime(f"datetime interval {value!r} ends before it starts", field="datetime")
    return start, end


def parse_sortby(value: Any) -> list[SortKey]:
    if not value:
        return []
    keys: list[SortKey] = []
    entries = value.split(",") if isinstance(value, str) else value
    for entry in entries:
        if isinstance(entry, str):
            s = entry.strip()
            if not s:
                continue
            if s[0] in "+-":
                keys.append(SortKey(s[1:].strip(), "desc" if s[0] == "-" else "asc"))
            else:
                keys.append(SortKey(s, "asc"))
        elif isinstance(entry, dict):
            direction = str(entry.get("direction", "asc")).lower()
            if direction not in ("asc", "desc"):
                raise InvalidInput("sortby direction must be 'asc' or 'desc'", field="sortby")
            keys.append(SortKey(str(entry.get("field", "")), direction))  # type: ignore[arg-type]
        else:
            field_name = getattr(entry, "field", None)
            direction = getattr(entry, "direction", "asc")
            direction = getattr(direction, "value", direction)
            keys.append(SortKey(str(field_name), str(direction)))  # type: ignore[arg-type]
    for k in keys:
        if not k.field:
            raise InvalidInput("sortby needs a field name", field="sortby")
        if k.field.startswith("properties."):
            object.__setattr__(k, "field", k.field[len("properties.") :])
    return keys


def parse_fields(value: Any) -> tuple[set[str] | None, set[str] | None]:
    if value is None:
        return None, None
    include: set[str] = set()
    exclude: set[str] = set()
    if isinstance(value, dict):
        include = set(value.get("include") or [])
        exclude = set(value.get("exclude") or [])
    else:
        entries = value.split(",") if isinstance(value, str) else list(value)
        for e in entries:
            e = str(e).strip()
            if not e:
                continue
            if e.startswith("-"):
                exclude.add(e[1:])
            else:
                include.add(e[1:] if e.startswith("+") else e)
    return (include or None), (exclude or None)


def parse_limit(value: Any, *, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"limit must be an integer, got {value!r}", field="limit") from exc
    if isinstance(value, float) and value != n:
        raise InvalidInput(f"limit must be an integer, got {value!r}", field="limit")
    if n < 1:
        raise InvalidInput(f"limit must be at least 1, got {n}", field="limit")
    # OGC API Features: a limit above the maximum is not an error; the maximum is used.
    return min(n, maximum)


def parse_geojson_param(value: Any, field: str) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{field} is not valid JSON: {exc}", field=field) from exc
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a GeoJSON geometry", field=field)
    if value.get("type") == "Feature":
        value = value.get("geometry")
    return value  # type: ignore[no-any-return]


def build_query(params: dict[str, Any], *, default_limit: int, max_limit: int,
                filter_limits: FilterLimits = DEFAULT_LIMITS) -> SearchQuery:  # fmt: skip
    """Validate raw search parameters (GET or POST) into a :class:`SearchQuery`. A filter is
    bounded by ``filter_limits`` before any parser sees it (``FilterLimits.of(settings)``)."""
    bbox_raw = params.get("bbox")
    intersects = parse_geojson_param(params.get("intersects"), "intersects")
    if bbox_raw is not None and intersects is not None:
        raise InvalidInput("bbox and intersects are mutually exclusive", field="bbox")
    bbox = None
    if bbox_raw is not None and bbox_raw != "":
        if isinstance(bbox_raw, str):
            try:
                bbox_raw = [float(v) for v in bbox_raw.split(",")]
            except ValueError as exc:
                raise InvalidInput(f"bbox must be numbers: {bbox_raw!r}", field="bbox") from exc
        bbox = validate_bbox(list(bbox_raw))
    start, end = parse_interval(params.get("datetime"))

    filt = params.get("filter")
    lang = params.get("filter-lang") or params.get("filter_lang")
    if lang not in (None, "cql2-text", "cql2-json"):
        raise InvalidInput(f"filter-lang must be cql2-text or cql2-json, got {lang!r}", field="filter-lang")
    crs = params.get("filter-crs") or params.get("filter_crs")
    if crs not in (None, "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise InvalidInput("filter-crs must be CRS84", field="filter-crs")
    cql = parse_filter(filt, lang, filter_limits) if filt not in (None, "", {}) else None

    query = params.get("query")
    if isinstance(query, str) and query:
        try:
            query = orjson.loads(query)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"query is not valid JSON: {exc}", field="query") from exc

    q = params.get("q")
    if isinstance(q, str):
        q = [t for t in q.split(",") if t.strip()]

    include, exclude = parse_fields(params.get("fields"))
    token = params.get("token")
    if token is not None and not isinstance(token, str):
        raise InvalidInput("token must be a string", field="token")
    return SearchQuery(
        collections=_to_list(params.get("collections"), "collections"),
        ids=_to_list(params.get("ids"), "ids"),
        bbox=bbox,
        intersects=intersects,
        start=start,
        end=end,
        filter=cql,
        query=query or None,
        q=q or None,
        sortby=parse_sortby(params.get("sortby")),
        limit=parse_limit(params.get("limit"), default=default_limit, maximum=max_limit),
        token=token or None,
        fields_include=include,
        fields_exclude=exclude,
    )


def apply_fields(item: dict[str, Any], include: set[str] | None, exclude: set[str] | None) -> dict[str, Any]:
    """The Fields extension: keep included paths, drop excluded ones (dotted paths)."""
    if not include and not exclude:
        return item
    out: dict[str, Any]
    if include:
        keep = set(include) | {"id", "type", "links"}
        if "collection" not in (exclude or set()):
            keep.add("collection")
        out = {}
        for path in sorted(keep):
            _copy_path(item, out, path.split("."))
    else:
        out = orjson.loads(orjson.dumps(item))
    for path in sorted(exclude or ()):
        if path in ("id", "links", "type"):
            continue
        if include and any(i == path or i.startswith(path + ".") for i in include):
            continue  # an include of the same or a more specific path wins over the exclude
        _drop_path(out, path.split("."))
    return out


def _copy_path(src: dict[str, Any], dst: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if head not in src:
        return
    if len(parts) == 1:
        dst[head] = src[head]
        return
    if isinstance(src[head], dict):
        child = dst.setdefault(head, {})
        if isinstance(child, dict):
            _copy_path(src[head], child, parts[1:])


def _drop_path(doc: dict[str, Any], parts: list[str]) -> None:
    node: Any = doc
    for p in parts[:-1]:
        if not isinstance(node, dict) or p not in node:
            return
        node = node[p]
    if isinstance(node, dict):
        node.pop(parts[-1], None)
