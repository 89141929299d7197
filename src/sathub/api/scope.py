"""Which property names a caller's search may use.

A filter, ``sortby`` or ``query`` naming a property must answer the same whether the property
exists nowhere or only where the caller may not look (issue 11, "existence is never leaked"):

- properties of collections the caller cannot see are unknown (400 "unknown queryable");
- the lineage of derived items (``sathub:inputs``, ``sathub:inputs_hidden``,
  ``sathub:parameters``, written by analytics/products.py) is unknown to every caller without
  unrestricted access. Those properties are redacted in the items such a caller receives
  (api/access.py ``redact_lineage``), but a filter runs on the stored document: ``sathub:inputs
  LIKE 'S2B_2021%'`` would read hidden input ids out one character at a time.

``/queryables`` lists neither, so a name is known exactly when the caller's queryables list it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from sathub.api.access import installation, visible_collection_ids
from sathub.api.gate import actor_of
from sathub.catalog.store import SearchQuery

LINEAGE_PROPERTIES = frozenset({"sathub:inputs", "sathub:inputs_hidden", "sathub:parameters"})


def hidden_properties(request: Request) -> frozenset[str]:
    """Property names the caller may not search on although items hold them."""
    return frozenset() if actor_of(request).unrestricted else LINEAGE_PROPERTIES


def scoped(request: Request, query: SearchQuery) -> SearchQuery:
    """The query with the caller's visible collections as the only source of property names,
    and without the names hidden from the caller."""
    store: Any = installation(request).catalog  # the SQLite store's queryables (per collection)
    ids = list(store.queryables())
    visible = visible_collection_ids(request, ids)
    query.queryable_collections = None if visible >= set(ids) else visible
    query.hidden_properties = hidden_properties(request)
    return query


def visible_queryables(request: Request, props: dict[str, Any]) -> dict[str, Any]:
    """``props`` (name → type) without the names hidden from the caller."""
    hidden = hidden_properties(request)
    return {k: v for k, v in props.items() if k not in hidden}
