"""Asset downloads (GET/HEAD with Range, ETag, conditional requests) and signed links.

THE place where asset access is decided: :func:`resolve_asset` is called by every route that
reads an asset's bytes or pixels (downloads here, tiles in ``tiles.py``). It fetches the item
through the caller's access filter (an invisible item is a 404), checks a signed link when
one is presented, calls the audit hook ``request.app.state.audit(request, event, **fields)``
when the application sets one, and returns the asset's file in the archive.

Downloads call :func:`sathub.api.access.charge_download` before sending ``nbytes`` (the
range length; not for HEAD or 304): the access layer's asset-role and quota check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool

from sathub.api.access import audit_event, charge_download
from sathub.api.client import access_filter
from sathub.errors import NotFound
from sathub.ingest.permissions import require_operator
from sathub.storage import signing
from sathub.storage.base import ObjectInfo
from sathub.storage.http import etag_matches, parse_range
from sathub.storage.local import LocalStore

router = APIRouter(tags=["Assets"])


@dataclass(frozen=True)
class ResolvedAsset:
    item: dict[str, Any]
    key: str
    asset: dict[str, Any]
    info: ObjectInfo

    @property
    def path(self) -> str:
        assert self.info.local_path is not None
        return self.info.local_path


def object_store(request: Request) -> LocalStore:
    state = request.app.state
    store = getattr(state, "object_store", None)
    if store is None:
        store = state.object_store = LocalStore(state.settings.layout.assets)
    return store


def signing_key(request: Request) -> bytes:
    state = request.app.state
    key = getattr(state, "signing_key", None)
    if key is None:
        key = state.signing_key = signing.load_key(state.settings.layout.secrets)
    return key


def audit(request: Request, event: str, **fields: Any) -> None:
    hook = getattr(request.app.state, "audit", None)
    if hook is not None:
        hook(request, event, **fields)


def get_visible_item(request: Request, collection_id: str, item_id: str) -> dict[str, Any]:
    """The item, if the caller may see it (a valid signed link counts as permission)."""
    store = request.app.state.store
    return store.get_item(collection_id, item_id, extra_filter=access_filter(request))  # type: ignore[no-any-return]


def resolve_asset(
    request: Request, collection_id: str, item_id: str, asset_key: str, *, event: str = "download"
) -> ResolvedAsset:
    """Authorise and locate one asset; raises NotFound (404) or Forbidden (403)."""
    qp = request.query_params
    store = request.app.state.store
    if "signature" in qp or "expires" in qp:
        signing.verify(
            signing_key(request), collection_id, item_id, asset_key,
            qp.get("expires", ""), qp.get("signature", ""),
        )  # fmt: skip
        item = store.get_item(collection_id, item_id)  # the signer's grant stands in
    else:
        item = get_visible_item(request, collection_id, item_id)
    return asset_of_item(request, item, asset_key, event=event)


def asset_of_item(
    request: Request, item: dict[str, Any], asset_key: str, *, event: str = "download"
) -> ResolvedAsset:
    """Locate an asset of an item the caller already may see (fetched by :func:`resolve_asset`
    or by a search under the caller's access filter, as mosaics do) and audit the access."""
    asset = (item.get("assets") or {}).get(asset_key)
    if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
        raise NotFound(f"item {item.get('id')} has no asset {asset_key!r}")
    info = object_store(request).stat(asset["href"], asset.get("type"))
    audit(request, event, collection=item.get("collection"), item=item.get("id"), asset=asset_key)
    return ResolvedAsset(item=item, key=asset_key, asset=asset, info=info)


def _headers(info: ObjectInfo, filename: str) -> dict[str, str]:
    return {
        "ETag": info.etag,
        "Last-Modified": formatdate(info.mtime_ns / 1e9, usegmt=True),
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=3600",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
    }


@router.head("/collections/{collection_id}/items/{item_id}/assets/{asset_key}",
             response_class=Response, include_in_schema=False)
@router.get(
    "/collections/{collection_id}/items/{item_id}/assets/{asset_key}",
    name="asset_download",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {}, 304: {}, 416: {}},
)
async def download(collection_id: str, item_id: str, asset_key: str, request: Request) -> Response:
    """Download an asset. Supports ``Range`` (one range → 206), ``If-None-Match`` (304),
    ``If-Range``, ``HEAD``; also accepts a signed link's ``expires`` and ``signature``."""
    from starlette.concurrency import run_in_threadpool

    res = await run_in_threadpool(resolve_asset, request, collection_id, item_id, asset_key)
    info = res.info
    headers = _headers(info, info.key.rsplit("/", 1)[-1])
    if etag_matches(request.headers.get("if-none-match"), info.etag):
        return Response(status_code=304, headers=headers)
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header and if_range and if_range.strip() not in (info.etag, headers["Last-Modified"]):
        range_header = None  # the client's copy is stale: send the whole new file
    rng = parse_range(range_header, info.size)
    status = 200
    start, end = 0, info.size - 1
    if rng is not None:
        status, start, end = 206, rng.start, rng.end
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    nbytes = end - start + 1 if info.size else 0
    headers["Content-Length"] = str(nbytes)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=info.media_type)
    # access control before any byte: asset roles, quota (429), audit
    if "signature" in request.query_params:
        audit_event(request, "signed-link", f"{collection_id}/{item_id}/{asset_key}", nbytes)
    else:
        await run_in_threadpool(charge_download, request, res.item, asset_key, nbytes)
    body: Iterator[bytes] = (
        object_store(request).open_range(info.key, start, end) if info.size else iter(())
    )
    return StreamingResponse(
        iterate_in_threadpool(body), status_code=status, headers=headers, media_type=info.media_type
    )


class SignRequest(BaseModel):
    expires_in: int = Field(
        default=signing.DEFAULT_TTL_S, description="Lifetime of the link in seconds (≤ a week)."
    )


@router.post("/collections/{collection_id}/items/{item_id}/assets/{asset_key}/sign")
def sign_asset(
    collection_id: str, item_id: str, asset_key: str, request: Request, body: SignRequest | None = None
) -> dict[str, Any]:
    """Mint a time-limited download link for one asset (HMAC-SHA256, bound to the asset).

    Requires an authorised caller (today: the operator key, ``Authorization: Bearer …``; the
    access-control issue replaces :func:`require_operator`) who can see the item."""
    require_operator(request)
    body = body or SignRequest()
    resolve_asset(request, collection_id, item_id, asset_key, event="sign")
    expires, sig = signing.sign(
        signing_key(request), collection_id, item_id, asset_key, body.expires_in
    )
    url = request.url_for(
        "asset_download", collection_id=collection_id, item_id=item_id, asset_key=asset_key
    )
    href = f"{url}?{urlencode({'expires': expires, 'signature': sig})}"
    return {"href": href, "expires": expires, "expires_in": body.expires_in}
