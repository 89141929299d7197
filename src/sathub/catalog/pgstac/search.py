"""A :class:`~sathub.catalog.store.SearchQuery` as the body of pgstac's ``search`` function.

Everything becomes pgstac's own search fields (``collections``, ``ids``, ``datetime``,
``intersects``, ``sortby``, ``token``) plus ONE CQL2-JSON ``filter``: the user's filter, the
Query extension's terms (as CQL2: pgstac takes ``query`` or ``filter``, not both), the free-text
terms (and an ``extra`` filter when given), joined with ``and``. The store gives no ``extra``:
it makes the WHERE clause with the access filter deciding first (``guarded.py``). Property
names are checked against the queryables first, as the SQLite store does (unknown names are a
400, not an empty page).

Names whose meaning differs between the stores are mapped to the pgstac columns that hold the
same values: ``start_datetime`` is pgstac's ``datetime`` column (the start of a range, else the
datetime), ``end_datetime`` its ``end_datetime`` column (the end, else the datetime).

Paging tokens are pgstac's (``next:…``/``prev:…``, naming the boundary item), wrapped with a
MAC over the token and the access filter: a caller cannot forge a token naming an item it may
not see (pgstac would answer differently for an existing and a missing one). A second MAC over
the token alone lets a token made under another filter through when the caller sees its
boundary item now: an embargoed partner's filter carries the clock of its request, so page 2
never has page 1's filter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any

import orjson
import shapely

from sathub.catalog.cql2sql import property_names
from sathub.catalog.queryext import query_to_cql2
from sathub.catalog.geometry import bbox_geometry, geometry_from_geojson
from sathub.catalog.query import COMMON_METADATA, DEFAULT_SORT
from sathub.catalog.store import SearchQuery
from sathub.errors import InvalidFilter, InvalidInput

CORE = {"id", "collection", "datetime", "start_datetime", "end_datetime", "geometry", "eo:cloud_cover"}
RENAMED = {"start_datetime": "datetime"}


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def known_names(collections: list[str] | None, queryables: dict[str, dict[str, str]],
                visible: set[str] | None = None, hidden: frozenset[str] = frozenset()) -> set[str]:  # fmt: skip
    """Names a filter, query or sortby may use: those of the searched collections among the
    ``visible`` ones (None: all), without the ``hidden`` names (as catalog/query.py
    ``columns_for``: a hidden collection's property or a derived item's lineage answers like
    an unknown name)."""
    names: set[str] = set(CORE) | COMMON_METADATA
    for coll, props in queryables.items():
        if (collections is None or coll in collections) and (visible is None or coll in visible):
            names.update(props)
    return names - hidden


def _bare(name: str) -> str:
    return name[len("properties."):] if name.startswith("properties.") else name


def rename(expr: Any) -> Any:
    """CQL2 with property names as pgstac reads them (see the module docstring)."""
    if isinstance(expr, dict):
        if set(expr) == {"property"} and isinstance(expr["property"], str):
            name = _bare(expr["property"])
            return {"property": RENAMED.get(name, name)}
        return {k: rename(v) for k, v in expr.items()}
    if isinstance(expr, list):
        return [rename(v) for v in expr]
    return expr


def _like_term(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def free_text(terms: list[str]) -> dict[str, Any] | None:
    """The free-text terms (OR) as CQL2: a case-insensitive substring of the title, the
    description, the keywords or the id (the SQLite store's rule; pgstac's own ``q`` matches
    English word stems and finds nothing in an item without a description)."""
    words = [t.strip().lower() for t in terms if t.strip()]
    if not words:
        return None
    fields = ["title", "description", "keywords", "id"]
    ors = [{"op": "like", "args": [{"op": "casei", "args": [{"property": f}]},
                                   {"op": "casei", "args": [_like_term(w)]}]}
           for w in words for f in fields]  # fmt: skip
    return ors[0] if len(ors) == 1 else {"op": "or", "args": ors}


def has_nul(value: Any) -> bool:
    """Whether a string anywhere in ``value`` holds U+0000, which PostgreSQL's text and jsonb
    cannot hold (psycopg refuses it, or the server does: a 500 unless caught first). No stored
    id, collection or property can contain it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(v) for v in value)
    return False


def refuse_nul(query: SearchQuery) -> None:
    """InvalidInput naming the search field that holds a NUL character."""
    for field, value in (("collections", query.collections), ("ids", query.ids), ("q", query.q),
                         ("filter", query.filter), ("query", query.query)):  # fmt: skip
        if has_nul(value):
            raise InvalidInput("a NUL character (U+0000) cannot be searched for", field=field)


def check_names(expr: dict[str, Any], known: set[str], field: str = "filter") -> None:
    for name in property_names(expr):
        if _bare(name) not in known:
            raise InvalidFilter(f"unknown queryable {name!r}", field=field)


def search_body(
    query: SearchQuery, extra: dict[str, Any] | None, queryables: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """pgstac's search body for ``query`` AND ``extra`` (without token and conf)."""
    refuse_nul(query)
    body: dict[str, Any] = {"limit": query.limit}
    if query.collections is not None:
        body["collections"] = list(query.collections)
    if query.ids is not None:
        body["ids"] = list(query.ids)
    if query.start is not None or query.end is not None:
        body["datetime"] = (f"{_iso(query.start) if query.start else '..'}/"
                            f"{_iso(query.end) if query.end else '..'}")  # fmt: skip
    if query.intersects is not None:
        shape = geometry_from_geojson(query.intersects, field="intersects")
        body["intersects"] = shapely.geometry.mapping(shape)
    elif query.bbox is not None:
        body["intersects"] = shapely.geometry.mapping(bbox_geometry(query.bbox))
    known = known_names(query.collections, queryables, query.queryable_collections,
                        query.hidden_properties)  # fmt: skip
    # an extra filter first (see catalog/query.py): PostgreSQL orders a row's conditions by
    # their estimated cost, and keeps this order between equal costs (an order, not a
    # guarantee: the store's access filter goes through guarded.py's CASE instead)
    terms: list[dict[str, Any]] = [extra] if extra else []
    if query.filter:
        check_names(query.filter, known)
        terms.append(query.filter)
    if query.query:
        q = query_to_cql2(query.query, portable=True)  # pgstac knows no sathub:num
        check_names(q, known, "query")
        terms.append(q)
    if query.q:
        text = free_text(query.q)
        if text is not None:
            terms.append(text)
    if terms:
        body["filter"] = rename(terms[0] if len(terms) == 1 else {"op": "and", "args": terms})
        body["filter-lang"] = "cql2-json"
    sortby = []
    for key in query.sortby or DEFAULT_SORT:
        name = _bare(key.field)
        if name not in known:
            raise InvalidInput(f"cannot sort by unknown field {key.field!r}", field="sortby")
        sortby.append({"field": RENAMED.get(name, name), "direction": key.direction})
    body["sortby"] = sortby
    return body


def _mac(key: bytes, token: str, extra: dict[str, Any] | None) -> str:
    msg = token.encode() + b"\0" + orjson.dumps(extra, option=orjson.OPT_SORT_KEYS)
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:24]


def _mac_any(key: bytes, token: str) -> str:
    """The MAC of a token this store made, whatever the access filter it was made under."""
    return hmac.new(key, b"any\0" + token.encode(), hashlib.sha256).hexdigest()[:24]


def wrap_token(key: bytes, token: str | None, extra: dict[str, Any] | None) -> str | None:
    if token is None:
        return None
    raw = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    return f"{raw}.{_mac(key, token, extra)}.{_mac_any(key, token)}"


def unwrap_token(key: bytes, wrapped: str, extra: dict[str, Any] | None) -> tuple[str, bool]:
    """pgstac's token inside a token this store made, and whether it was made for the same
    access filter (False: made for another one, e.g. the same grants at another instant, whose
    live embargo part carries its clock; the caller must then see the token's boundary item
    itself, see :func:`boundary`); InvalidInput (field ``token``) otherwise."""
    raw, _, macs = wrapped.partition(".")
    mac, _, mac_any = macs.partition(".")
    try:
        token = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("invalid paging token", field="token") from exc
    if mac and hmac.compare_digest(mac, _mac(key, token, extra)):
        return token, True
    if mac_any and hmac.compare_digest(mac_any, _mac_any(key, token)):
        return token, False
    raise InvalidInput("invalid paging token", field="token")


def boundary(token: str) -> tuple[str, str] | None:
    """The (collection, id) a pgstac token (``next|prev:<hex collection>:<hex id>``) names."""
    parts = token.split(":")
    try:
        coll, iid = (bytes.fromhex(p).decode() for p in parts[1:3])
    except (ValueError, UnicodeDecodeError):
        return None
    return None if len(parts) != 3 or has_nul([coll, iid]) else (coll, iid)
