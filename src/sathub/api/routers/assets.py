"""Asset downloads (GET/HEAD with Range, ETag, conditional requests) and signed links.

Every byte goes through :mod:`sathub.api.pixels`: the item under the caller's grants (hidden →
404), the asset's roles and the agreement's quota (403, 429), the bytes counted and audited —
for GET, HEAD (0 bytes) and 304 (0 bytes) alike. A signed link is decided, counted and audited
as its signer's own download.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from sathub.api import pixels
from sathub.api.access import installation
from sathub.api.gate import actor_of, requires
from sathub.errors import Forbidden, NotFound
from sathub.storage import signing
from sathub.storage.base import ObjectInfo
from sathub.storage.http import etag_matches, parse_range

router = APIRouter(tags=["Assets"])
ASSET = "/collections/{collection_id}/items/{item_id}/assets/{asset_key}"
SIGNED = ("expires", "signature", "kid")


def _headers(info: ObjectInfo, filename: str) -> dict[str, str]:
    return {
        "ETag": info.etag,
        "Last-Modified": formatdate(info.mtime_ns / 1e9, usegmt=True),
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=3600",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
    }


def _resolve(request: Request, collection_id: str, item_id: str, asset_key: str) -> pixels.AssetAccess:
    qp = request.query_params
    action = "head" if request.method == "HEAD" else "download"
    if any(k in qp for k in SIGNED):
        return pixels.resolve_signed(
            request, collection_id, item_id, asset_key, expires=qp.get("expires", ""),
            signature=qp.get("signature", ""), kid=qp.get("kid", ""), action=action,
        )  # fmt: skip
    return pixels.resolve(request, collection_id, item_id, asset_key, action=action)


@router.head(ASSET, response_class=Response, include_in_schema=False,
             dependencies=[requires("pixels:read")])  # fmt: skip
@router.get(
    ASSET,
    name="asset_download",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {}, 304: {}, 416: {}},
    dependencies=[requires("pixels:read")],
)
async def download(collection_id: str, item_id: str, asset_key: str, request: Request) -> Response:
    """Download an asset. Supports ``Range`` (one range → 206), ``If-None-Match`` (304),
    ``If-Range``, ``HEAD``; also accepts a signed link's ``expires``, ``kid`` and
    ``signature``."""
    res = await run_in_threadpool(_resolve, request, collection_id, item_id, asset_key)
    info = res.info
    name = info.key.rsplit("/", 1)[-1]
    headers = _headers(info, name)
    asked = request.path_params.get("filename", name)  # download_file, below
    if asked != name:
        raise NotFound(f"asset {asset_key!r} of item {item_id} has no file named {asked!r}")
    signed = "signature" in request.query_params

    def charge(nbytes: int, outcome: str = "ok") -> None:
        if signed:
            pixels.charge(request, res, nbytes, outcome=outcome, via="signed-link")
        else:
            pixels.charge(request, res, nbytes, outcome=outcome)

    if etag_matches(request.headers.get("if-none-match"), info.etag):
        await run_in_threadpool(charge, 0, "not modified")
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
        await run_in_threadpool(charge, 0, "head")
        return Response(status_code=status, headers=headers, media_type=info.media_type)
    # the object opened first (off the event loop: an S3 GET waits for its answer), so a store
    # that fails is a 503 with nothing charged or audited (nginx retries it on another worker);
    # then counted and audited before the first byte: 429 when the quota cannot pay for it
    objects = installation(request).objects
    body: Iterator[bytes] = (await run_in_threadpool(objects.open_range, info.key, start, end)
                             if info.size else iter(()))  # fmt: skip
    await run_in_threadpool(charge, nbytes)
    return StreamingResponse(
        iterate_in_threadpool(body), status_code=status, headers=headers, media_type=info.media_type
    )


class SignRequest(BaseModel):
    expires_in: int = Field(
        default=signing.DEFAULT_TTL_S, description="Lifetime of the link in seconds (≤ a week)."
    )


@router.post(ASSET + "/sign", dependencies=[requires("asset:sign")])
def sign_asset(
    collection_id: str, item_id: str, asset_key: str, request: Request, body: SignRequest | None = None
) -> dict[str, Any]:
    """Mint a time-limited download link for one asset (HMAC-SHA256, bound to the asset and to
    the signer's key). Any key holder who may download the asset may sign it; each use of the
    link counts against the signer's agreement and is audited as the signer's."""
    body = body or SignRequest()
    actor = actor_of(request)
    res = pixels.resolve(request, collection_id, item_id, asset_key, action="sign")
    if actor.key_id is None:  # the legacy operator key file has no key id to bind a link to
        raise Forbidden("only an issued API key can sign links (see `sathub keys issue`)")
    kid = str(actor.key_id)
    expires, sig = signing.sign(installation(request).signing_key, collection_id, item_id,
                                asset_key, body.expires_in, kid=kid)  # fmt: skip
    pixels.charge(request, res, 0, outcome="signed", expires=expires)
    url = request.url_for(
        "asset_download_file", collection_id=collection_id, item_id=item_id, asset_key=asset_key,
        filename=res.info.key.rsplit("/", 1)[-1],
    )  # fmt: skip
    href = f"{url}?{urlencode({'expires': expires, 'kid': kid, 'signature': sig})}"
    return {"href": href, "expires": expires, "expires_in": body.expires_in}


# The same download under a URL that ends with the file's name and extension: the href items
# carry (api/links.py), for GDAL with CPL_VSIL_CURL_ALLOWED_EXTENSIONS and downloaders that name
# files after the URL. `download` answers 404 when `filename` is not the stored file's name.
@router.head(ASSET + "/{filename}", response_class=Response, include_in_schema=False,
             dependencies=[requires("pixels:read")])  # fmt: skip
@router.get(
    ASSET + "/{filename}",
    name="asset_download_file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {}, 304: {}, 416: {}},
    dependencies=[requires("pixels:read")],
)
async def download_file(
    collection_id: str, item_id: str, asset_key: str, filename: str, request: Request
) -> Response:
    """Download an asset, as ``GET …/assets/{asset_key}``; ``filename`` is the stored file's
    name (anything else is a 404)."""
    return await download(collection_id, item_id, asset_key, request)
