"""Transaction and bulk-item endpoints, on the raw JSON body.

stac-fastapi's TransactionExtension parses bodies into stac-pydantic models, which rewrites
values (datetimes, numbers) and rejects items the spec lets a server accept leniently (an
item without ``links``). sathub stores what it was given, so these routes read the body as
JSON themselves and advertise the same conformance classes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attr
import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from stac_fastapi.types.extension import ApiExtension
from stac_fastapi.types.requests import get_base_url
from starlette.concurrency import run_in_threadpool

from sathub.api import links
from sathub.api.access import installation
from sathub.api.gate import requires
from sathub.api.responses import json_response
from sathub.catalog.patch import apply_patch
from sathub.catalog.store import CatalogStore
from sathub.errors import InvalidInput, PayloadTooLarge

TRANSACTION_CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction",
    "https://api.stacspec.org/v1.0.0/collections/extensions/transaction",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/simpletx",
]
BULK_CONFORMANCE = ["https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/bulk-transaction"]


async def read_json(request: Request) -> Any:
    max_bytes = installation(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes", field="body")
    body = await request.body()
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes", field="body")
    if not body:
        raise InvalidInput("request body is empty; expected JSON", field="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}", field="body") from exc


async def read_object(request: Request, what: str) -> dict[str, Any]:
    """The JSON body, which must be an object (an item or a collection)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be a JSON object (the {what})", field="body")
    return body


def _store(request: Request) -> CatalogStore:
    return installation(request).catalog


def _updated(request: Request, doc: dict[str, Any], media_type: str) -> Response:
    """204 after an update, or 200 with the document if the client sent
    ``Prefer: return=representation`` (OGC API Features Part 4 allows either)."""
    if "return=representation" in request.headers.get("prefer", ""):
        return json_response(doc, media_type=media_type)
    return Response(status_code=204)


# The routes read the raw body (above), so FastAPI cannot see it: these put it in the OpenAPI
# document (a client generator, or schemathesis, saw operations without a body).
_ID = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,256}$"}
_COLLECTION = {
    "type": "object", "required": ["type", "id", "description", "license", "extent"],
    "properties": {
        "type": {"const": "Collection"}, "stac_version": {"type": "string"}, "id": _ID,
        "description": {"type": "string"}, "license": {"type": "string"},
        "extent": {"type": "object", "required": ["spatial", "temporal"], "properties": {
            "spatial": {"type": "object", "properties": {"bbox": {"type": "array", "items": {
                "type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}}}},
            "temporal": {"type": "object", "properties": {"interval": {"type": "array"}}}}},
        "links": {"type": "array"},
    },
}
_ITEM = {
    "type": "object", "required": ["type", "id", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"}, "stac_version": {"type": "string"}, "id": _ID,
        "collection": {"type": "string"}, "bbox": {"type": "array", "items": {"type": "number"}},
        "geometry": {"type": ["object", "null"]},
        "properties": {"type": "object", "properties": {"datetime": {"type": ["string", "null"]}}},
        "assets": {"type": "object"}, "links": {"type": "array"},
    },
}
_FEATURES = {"type": "object", "required": ["type", "features"], "properties": {
    "type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": _ITEM}}}
_BULK = {"type": "object", "required": ["items"], "properties": {
    "items": {"type": "object", "additionalProperties": _ITEM}, "method": {"enum": ["insert", "upsert"]}}}
_PATCH = {"application/merge-patch+json": {"schema": {"type": "object"}},
          "application/json-patch+json": {"schema": {"type": "array", "items": {"type": "object"}}}}


def _body(content: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": content}}


def _json(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return _body({media: {"schema": schema}})


def build_router() -> APIRouter:
    router = APIRouter(tags=["Transaction Extension"], dependencies=[requires("catalog:write")])

    @router.post("/collections/{collection_id}/items", status_code=201, summary="Create Item(s)",
                 openapi_extra=_json({"anyOf": [_ITEM, _FEATURES]}))
    async def create_item(collection_id: str, request: Request) -> Response:
        body = await read_json(request)
        store = _store(request)
        store.get_collection(collection_id)
        if isinstance(body, dict) and body.get("type") == "FeatureCollection":
            features = body.get("features")
            if not isinstance(features, list):
                raise InvalidInput("FeatureCollection needs a 'features' array", field="features")
            n = await run_in_threadpool(
                store.bulk_upsert, features, mode="insert", collection_id=collection_id
            )
            return json_response({"type": "FeatureCollection", "numberCreated": n}, status=201)
        item = await run_in_threadpool(store.create_item, body, collection_id)
        base = get_base_url(request)
        return json_response(
            links.item_links(item, base), status=201,
            headers={"Location": f"{base}collections/{quote(collection_id, safe='')}/items/"
                              f"{quote(item['id'], safe='')}"},
            media_type="application/geo+json",
        )  # fmt: skip

    @router.put("/collections/{collection_id}/items/{item_id}", summary="Update Item",
                 openapi_extra=_json(_ITEM))
    async def update_item(collection_id: str, item_id: str, request: Request) -> Response:
        body = await read_object(request, "item")
        if body.get("collection", collection_id) != collection_id:
            raise InvalidInput("item collection does not match the path", field="collection")
        item = await run_in_threadpool(_store(request).update_item, collection_id, item_id, body)
        return _updated(request, links.item_links(item, get_base_url(request)), "application/geo+json")

    @router.patch("/collections/{collection_id}/items/{item_id}", summary="Patch Item",
                 openapi_extra=_body(_PATCH))
    async def patch_item(collection_id: str, item_id: str, request: Request) -> Response:
        body = await read_json(request)
        store = _store(request)
        current = store.get_item(collection_id, item_id)
        patched = apply_patch(current, body, request.headers.get("content-type", ""))
        item = await run_in_threadpool(store.update_item, collection_id, item_id, patched)
        return _updated(request, links.item_links(item, get_base_url(request)), "application/geo+json")

    @router.delete("/collections/{collection_id}/items/{item_id}", summary="Delete Item")
    async def delete_item(collection_id: str, item_id: str, request: Request) -> Response:
        await run_in_threadpool(_store(request).delete_item, collection_id, item_id)
        return Response(status_code=204)

    @router.post("/collections", status_code=201, summary="Create Collection",
                 openapi_extra=_json(_COLLECTION))
    async def create_collection(request: Request) -> Response:
        body = await read_json(request)
        coll = await run_in_threadpool(_store(request).create_collection, body)
        base = get_base_url(request)
        return json_response(
            links.collection_links(coll, base), status=201,
            headers={"Location": f"{base}collections/{quote(coll['id'], safe='')}"},
        )  # fmt: skip

    @router.put("/collections/{collection_id}", summary="Update Collection", openapi_extra=_json(_COLLECTION))
    async def update_collection(collection_id: str, request: Request) -> Response:
        body = await read_object(request, "collection")
        coll = await run_in_threadpool(_store(request).update_collection, collection_id, body)
        return _updated(request, links.collection_links(coll, get_base_url(request)), "application/json")

    @router.patch("/collections/{collection_id}", summary="Patch Collection", openapi_extra=_body(_PATCH))
    async def patch_collection(collection_id: str, request: Request) -> Response:
        body = await read_json(request)
        store = _store(request)
        current = store.get_collection(collection_id)
        patched = apply_patch(current, body, request.headers.get("content-type", ""))
        coll = await run_in_threadpool(store.update_collection, collection_id, patched)
        return _updated(request, links.collection_links(coll, get_base_url(request)), "application/json")

    @router.delete("/collections/{collection_id}", summary="Delete Collection")
    async def delete_collection(collection_id: str, request: Request) -> Response:
        await run_in_threadpool(_store(request).delete_collection, collection_id)
        return Response(status_code=204)

    @router.post("/collections/{collection_id}/bulk_items", summary="Bulk Item Insert",
                 openapi_extra=_json(_BULK))
    async def bulk_items(collection_id: str, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("items"), dict):
            raise InvalidInput("body must be {'items': {id: item, ...}, 'method': ...}", field="items")
        method = body.get("method", "insert")
        if method not in ("insert", "upsert"):
            raise InvalidInput("method must be 'insert' or 'upsert'", field="method")
        items = list(body["items"].values())
        store = _store(request)
        store.get_collection(collection_id)
        n = await run_in_threadpool(store.bulk_upsert, items, mode=method, collection_id=collection_id)
        return json_response(f"Successfully added {n} items.")

    return router


@attr.s
class TransactionExtension(ApiExtension):
    """Transaction (items and collections) and bulk items, lossless and lenient."""

    conformance_classes: list[str] = attr.ib(factory=lambda: TRANSACTION_CONFORMANCE + BULK_CONFORMANCE)
    schema_href: str | None = attr.ib(default=None)

    def register(self, app: FastAPI) -> None:
        app.include_router(build_router())
