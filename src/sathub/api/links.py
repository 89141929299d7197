"""Links the API adds to collections and items, relative to the public base URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

JSON = "application/json"
GEOJSON = "application/geo+json"


def _keep(doc_links: Any) -> list[dict[str, Any]]:
    return [link for link in doc_links or [] if isinstance(link, dict)]


def collection_links(coll: dict[str, Any], base: str) -> dict[str, Any]:
    cid = coll["id"]
    url = f"{base}collections/{cid}"
    out = dict(coll)
    out.setdefault("type", "Collection")
    out["links"] = [
        {"rel": "self", "type": JSON, "href": url},
        {"rel": "root", "type": JSON, "href": base},
        {"rel": "parent", "type": JSON, "href": base},
        {"rel": "items", "type": GEOJSON, "href": f"{url}/items"},
        {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
         "type": "application/schema+json", "href": f"{url}/queryables"},
        {"rel": "aggregate", "type": JSON, "href": f"{url}/aggregate"},
        *_keep(coll.get("links")),
    ]  # fmt: skip
    return out


def item_links(item: dict[str, Any], base: str) -> dict[str, Any]:
    cid = item.get("collection")
    out = dict(item)
    own = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}collections/{cid}/items/{item['id']}"},
        {"rel": "parent", "type": JSON, "href": f"{base}collections/{cid}"},
        {"rel": "collection", "type": JSON, "href": f"{base}collections/{cid}"},
        {"rel": "root", "type": JSON, "href": base},
    ]
    out["links"] = own + _keep(item.get("links"))
    out.setdefault("stac_version", "1.0.0")
    out.setdefault("stac_extensions", [])
    out.setdefault("assets", {})
    return out


def with_query(
    request: Request, rel: str, updates: dict[str, str], media_type: str = JSON
) -> dict[str, Any]:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in updates]
    params += list(updates.items())
    href = str(request.url.replace(query=urlencode(params)))
    return {"rel": rel, "type": media_type, "href": href}
