"""sathub's stac-fastapi backend: the core, filter, aggregation and collection-search clients.

The clients are thin: they turn requests into :class:`SearchQuery` objects, call the store,
and add links. They never touch SQL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import attr
from stac_fastapi.extensions.aggregation.client import BaseAggregationClient
from stac_fastapi.extensions.filter.client import BaseFiltersClient
from stac_fastapi.types.core import BaseCoreClient
from stac_fastapi.types.requests import get_base_url
from starlette.requests import Request
from starlette.responses import Response

from sathub.api import landing, links
from sathub.api.access import (access_filter, audit_search, collections_filter, installation,
                               redact_lineage, require_collection_visible, visible_collection_ids)
from sathub.api.collections import search_collections
from sathub.api.responses import json_response
from sathub.api.scope import scoped, visible_queryables
from sathub.catalog.cql2input import FilterLimits
from sathub.catalog.params import apply_fields, build_query
from sathub.catalog.aggregate import AVAILABLE
from sathub.catalog.store import CatalogStore, SearchQuery, SearchResult
from sathub.config import Settings
from sathub.errors import InvalidInput, NotFound

GEOJSON = "application/geo+json"


def _state(request: Request) -> tuple[CatalogStore, Settings]:
    inst = installation(request)
    return inst.catalog, inst.settings


def _search_params_from_get(kwargs: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in kwargs.items() if k != "request" and v is not None}
    if "filter_expr" in params:
        params["filter"] = params.pop("filter_expr")
    return params


def _search_params_from_post(search_request: Any) -> dict[str, Any]:
    # the filter is taken as it came (it is bounded before anything walks it: a deeply nested
    # one must be a 400 naming the limit, not a serialiser's recursion error)
    body = search_request.model_dump(by_alias=True, exclude_none=True, mode="json",
                                     exclude={"filter_expr"})  # fmt: skip
    filt = getattr(search_request, "filter_expr", None)
    if filt is not None:
        body["filter"] = filt
    return dict(body)


def _page_link(request: Request, rel: str, token: str | None, method: str,
               body: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """A link to another page of the same search (``token`` None: the first page)."""
    if method == "GET":
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        if token is not None:
            params.append(("token", token))
        return {"rel": rel, "type": GEOJSON, "href": str(request.url.replace(query=urlencode(params)))}
    page_body = {k: v for k, v in (body or {}).items() if k != "token"}
    if token is not None:
        page_body["token"] = token
    return {"rel": rel, "type": GEOJSON, "method": "POST", "href": str(request.url),
            "body": page_body, "merge": False}  # fmt: skip


def _build(params: dict[str, Any], settings: Settings) -> SearchQuery:
    return build_query(params, default_limit=settings.default_limit, max_limit=settings.max_limit,
                       filter_limits=FilterLimits.of(settings))  # fmt: skip


def _visible_count(request: Request, collection_id: str) -> int | None:
    """How many items of a collection the caller may see."""
    store, _ = _state(request)
    result = store.search(SearchQuery(collections=[collection_id], limit=1), extra_filter=access_filter(request))
    return result.matched


def _newest_item(request: Request, collection_id: str) -> dict[str, Any] | None:
    """The newest item of a collection the caller may see (its metadata gives the default
    rendering of the collection's mosaic links), or None."""
    store, _ = _state(request)
    query = SearchQuery(collections=[collection_id], limit=1)
    items = store.search(query, extra_filter=access_filter(request), count=False).items
    return items[0] if items else None


@attr.s
class CoreClient(BaseCoreClient):
    """Core STAC API over a :class:`~sathub.catalog.store.CatalogStore`."""

    def landing_page(self, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        page = super().landing_page(**kwargs)
        store, settings = _state(request)
        page["title"] = settings.title
        page["description"] = settings.title + ": STAC API of the archive"
        base = get_base_url(request)
        colls = store.list_collections(extra_filter=collections_filter(request))
        if landing.wants_html(request):  # a browser: the HTML page (landing.py)
            return landing.page(request, base, page["title"], page["description"], colls,
                                lambda cid: _visible_count(request, cid))  # fmt: skip
        for coll in colls:
            page["links"].append(
                {"rel": "child", "type": "application/json", "title": coll.get("title", coll["id"]),
                 "href": f"{base}collections/{coll['id']}"}
            )  # fmt: skip
        return json_response(page, headers={"Vary": "Accept"})

    # ----------------------------------------------------------- collections
    def all_collections(self, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        store, settings = _state(request)
        base = get_base_url(request)
        cols = store.list_collections(extra_filter=collections_filter(request))
        cols, matched, next_offset = search_collections(cols, kwargs, settings)
        out = [links.collection_links(c, base, _newest_item(request, c["id"])) for c in cols]
        page_links = [
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "parent", "type": "application/json", "href": base},
            {"rel": "self", "type": "application/json", "href": str(request.url)},
        ]
        if next_offset is not None:
            page_links.append(links.with_query(request, "next", {"offset": str(next_offset)}))
        return {"collections": out, "links": page_links, "numberMatched": matched,
                "numberReturned": len(out)}  # fmt: skip

    def get_collection(self, collection_id: str, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        store, _ = _state(request)
        require_collection_visible(request, collection_id)
        coll = store.get_collection(collection_id)
        return links.collection_links(coll, get_base_url(request), _newest_item(request, collection_id))

    # ----------------------------------------------------------------- items
    def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        store, _ = _state(request)
        require_collection_visible(request, collection_id)
        item = store.get_item(collection_id, item_id, extra_filter=access_filter(request))
        (item,) = redact_lineage(request, [item])
        return json_response(links.item_links(item, get_base_url(request)), media_type=GEOJSON)

    # stac-fastapi calls these with its request models' fields as keyword arguments; the
    # signatures take them as **kwargs (the parameters are read in one place, params.py)
    def item_collection(self, collection_id: str, **kwargs: Any) -> Any:  # type: ignore[override]
        request: Request = kwargs["request"]
        store, settings = _state(request)
        store.get_collection(collection_id)  # 404 for an unknown collection
        require_collection_visible(request, collection_id)
        params = _search_params_from_get(kwargs)
        params["collections"] = [collection_id]
        return self._search(request, _build(params, settings), method="GET")

    # ---------------------------------------------------------------- search
    def get_search(self, **kwargs: Any) -> Any:  # type: ignore[override]
        request: Request = kwargs["request"]
        _, settings = _state(request)
        params = _search_params_from_get(kwargs)
        return self._search(request, _build(params, settings), method="GET")

    def post_search(self, search_request: Any, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        _, settings = _state(request)
        params = _search_params_from_post(search_request)
        return self._search(request, _build(params, settings), method="POST", body=params)

    def _search(
        self, request: Request, query: SearchQuery, *, method: str, body: dict[str, Any] | None = None
    ) -> Response:
        store, _ = _state(request)
        result: SearchResult = store.search(scoped(request, query), extra_filter=access_filter(request))
        base = get_base_url(request)
        features = [
            apply_fields(links.item_links(it, base), query.fields_include, query.fields_exclude)
            for it in redact_lineage(request, result.items)
        ]
        page_links: list[dict[str, Any]] = [
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "self", "type": GEOJSON, "href": str(request.url)},
        ]
        # first (when not on it), prev and next: a GET link carries the token in its query
        # string, a POST link the body with the token (STAC API, Item Search "Pagination")
        for rel, token, show in (("first", None, query.token is not None),
                                 ("prev", result.prev_token, result.prev_token is not None),
                                 ("next", result.next_token, result.next_token is not None)):  # fmt: skip
            if show:
                page_links.append(_page_link(request, rel, token, method, body))
        out: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": features,
            "links": page_links,
            "numberReturned": len(features),
        }
        if result.matched is not None:
            out["numberMatched"] = result.matched
            out["context"] = {"returned": len(features), "limit": query.limit, "matched": result.matched}
            if result.matched_is_estimate:
                out["sathub:matched_is_estimate"] = True
        # rendered here with orjson: FastAPI's generic encoder costs more than the search
        response = json_response(out, media_type=GEOJSON)
        audit_search(request, response.status_code)  # a partner's record, before the answer
        return response


@attr.s
class FiltersClient(BaseFiltersClient):
    """Queryables: the core fields plus the properties seen in each collection."""

    def get_queryables(self, collection_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        request: Request = kwargs["request"]
        store, _ = _state(request)
        base = get_base_url(request)
        per_collection = store.queryables()
        visible = visible_collection_ids(request, list(per_collection))
        per_collection = {c: visible_queryables(request, p) for c, p in per_collection.items() if c in visible}
        if collection_id is not None:
            store.get_collection(collection_id)
            require_collection_visible(request, collection_id)
            props = dict(per_collection.get(collection_id, {}))
            url = f"{base}collections/{collection_id}/queryables"
        else:
            props = {}
            for p in per_collection.values():
                props.update(p)
            url = f"{base}queryables"
        schema_props: dict[str, Any] = {
            "id": {"description": "Item id", "type": "string"},
            "collection": {"description": "Collection id", "type": "string"},
            # OGC API Features part 3 form, not a $ref to geojson.org that browsers would fetch
            "geometry": {"description": "Footprint", "format": "geometry-any", "x-ogc-role": "primary-geometry"},
            "datetime": {"description": "Acquisition time", "type": "string", "format": "date-time"},
        }  # fmt: skip
        for name, typ in sorted(props.items()):
            if name in schema_props:
                continue
            entry: dict[str, Any] = {"title": name}
            if typ != "null":
                entry["type"] = typ
            if name.endswith("datetime") or name in ("created", "updated"):
                entry["format"] = "date-time"
            schema_props[name] = entry
        return {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": url,
            "type": "object",
            "title": "Queryables",
            "properties": schema_props,
            "additionalProperties": False,
        }


@attr.s
class AggregationClient(BaseAggregationClient):
    """The Aggregation extension, computed in SQL over the same WHERE as search."""

    def get_aggregations(self, collection_id: str | None = None, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        collection_id = collection_id or request.path_params.get("collection_id")
        if collection_id is not None:  # hidden answers like missing
            require_collection_visible(request, collection_id)
            _state(request)[0].get_collection(collection_id)
        base = get_base_url(request)
        href = f"{base}aggregate" if collection_id is None else f"{base}collections/{collection_id}/aggregate"
        return {
            "type": "AggregationCollection",
            "aggregations": [{"name": k, "data_type": v["data_type"]} for k, v in AVAILABLE.items()],
            "links": [{"rel": "root", "type": "application/json", "href": base},
                      {"rel": "self", "type": "application/json", "href": str(request.url)},
                      {"rel": "aggregate", "type": "application/json", "href": href}],
        }  # fmt: skip

    def aggregate(
        self,
        collection_id: str | None = None,
        aggregations: Any = None,
        **kwargs: Any,
    ) -> Any:
        request: Request = kwargs["request"]
        store, settings = _state(request)
        search_request = kwargs.get("search_request")
        if collection_id is not None and not isinstance(collection_id, str):
            # POST /aggregate: stac-fastapi passes the body model as the first argument
            search_request, collection_id = collection_id, None
        if collection_id is None:  # the per-collection routes carry it only as a path parameter
            collection_id = request.path_params.get("collection_id")
        if search_request is not None:
            params = _search_params_from_post(search_request)
        else:
            # every search parameter (filter, query, q… included) straight from the query string
            params = dict(request.query_params)
        if collection_id is not None:
            store.get_collection(collection_id)
            require_collection_visible(request, collection_id)
            params["collections"] = [collection_id]
        names = params.pop("aggregations", None) or aggregations or ["total_count"]
        if isinstance(names, str):
            names = [n for n in names.split(",") if n]
        query = scoped(request, _build(params, settings))
        qp = request.query_params
        options: dict[str, Any] = {
            "datetime_frequency_interval": params.get("datetime_frequency_interval")
            or qp.get("datetime_frequency_interval", "month"),
            "geohash_precision": _int_param(params, qp, "geohash_grid_frequency_precision", 1),
            "geotile_precision": _int_param(params, qp, "geotile_grid_frequency_precision", 0),
        }
        aggs = store.aggregate(query, list(names), extra_filter=access_filter(request), **options)
        return {
            "type": "AggregationCollection",
            "aggregations": aggs,
            "links": [{"rel": "root", "type": "application/json", "href": get_base_url(request)},
                      {"rel": "self", "type": "application/json", "href": str(request.url)}],
        }  # fmt: skip


def _int_param(params: dict[str, Any], qp: Any, name: str, default: int) -> int:
    raw = params.get(name, qp.get(name, default))
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be an integer", field=name) from exc


__all__ = ["AggregationClient", "CoreClient", "FiltersClient", "NotFound"]
