"""Dynamic tiles of items and mosaics of searches: a thin HTTP shell over
:mod:`sathub.tiles`. Every asset goes through :mod:`sathub.api.pixels`, as downloads do: the
item under the caller's grants (hidden → 404), the asset's roles (403) and the agreement's quota
(429) decided before reading, the bytes of the answer counted and audited before it is sent.

A tile that does not touch the data answers **204 No Content** (items and mosaics alike).
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Annotated, Any

import morecantile
import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from stac_fastapi.types.requests import get_base_url

from sathub.api import pixels
from sathub.api.access import access_filter, installation, require_collection_visible, visible_item
from sathub.api.gate import requires
from sathub.api.responses import json_response
from sathub.api.scope import scoped
from sathub.catalog.cql2input import FilterLimits
from sathub.catalog.params import build_query
from sathub.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, QuotaExceeded
from sathub.tiles import ogc
from sathub.tiles.searches import SearchStore
from sathub.tiles.params import (
    MAX_ITEMS_PER_TILE,
    MIN_ZOOM,
    RenderLimits,
    RenderParams,
    check_tile,
    image_format,
    tile_matrix_set,
)



class _Lazy:
    """A module imported on first use: rio-tiler and rasterio (~110 MB with xarray and
    pandas) load with the first tile request, not with every server."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)  # sys.modules after the first


render: Any = _Lazy("sathub.tiles.render")
mosaic_mod: Any = _Lazy("sathub.tiles.mosaic")
rio_crs: Any = _Lazy("rasterio.crs")
rio_errors: Any = _Lazy("rasterio.errors")

router = APIRouter(tags=["Tiles"], dependencies=[requires("pixels:read")])
ITEM = "/collections/{collection_id}/items/{item_id}"
CACHE = {"Cache-Control": "private, max-age=3600"}


def render_params(
    request: Request,
    bidx: Annotated[list[int] | None, Query(description="Band numbers (1-based), e.g. bidx=3&bidx=2&bidx=1")] = None,
    expression: Annotated[str | None, Query(description="Band math, e.g. (nir08-red)/(nir08+red) or (b4-b3)/(b4+b3); ';' separates outputs")] = None,
    rescale: Annotated[list[str] | None, Query(description="min,max per band (repeat per band)")] = None,
    colormap_name: Annotated[str | None, Query(description="rio-tiler colormap name (viridis, rdylgn, …)")] = None,
    colormap: Annotated[str | None, Query(description='JSON {"value": [r,g,b,a]}')] = None,
    nodata: Annotated[str | None, Query(description="Override the asset's nodata value")] = None,
    resampling: Annotated[str | None, Query(description="nearest (default), bilinear, cubic, …")] = None,
) -> RenderParams:  # fmt: skip
    return RenderParams.parse(bidx, expression, rescale, colormap_name, colormap, nodata, resampling,
                              RenderLimits.from_settings(installation(request).settings))  # fmt: skip


def default_asset(item: dict[str, Any]) -> str:
    """The asset tiles read when none is named: the first COG with role ``data``."""
    cogs = [
        k for k, a in (item.get("assets") or {}).items()
        if isinstance(a, dict) and "geotiff" in str(a.get("type", "")).lower()
    ]  # fmt: skip
    data = [k for k in cogs if "data" in (item["assets"][k].get("roles") or [])]
    if not (data or cogs):
        raise NotFound(f"item {item.get('id')} has no GeoTIFF asset to render")
    return (data or cogs)[0]


def _resolve(request: Request, c: str, i: str, asset: str | None, action: str) -> pixels.AssetAccess:
    if asset is None:
        item = visible_item(request, c, i)
        return pixels.resolve_in_item(request, item, default_asset(item), action=action)
    return pixels.resolve(request, c, i, asset, action=action)


def _raster(res: pixels.AssetAccess) -> str:
    """The asset's GDAL path, if it is a raster GDAL can render (a 400 naming it otherwise)."""
    media = str(res.asset.get("type") or res.info.media_type).lower()
    if "tiff" not in media and "jp2" not in media:
        raise InvalidInput(f"asset {res.key!r} is not a raster that can be rendered ({media})",
                           field="asset")  # fmt: skip
    return res.gdal_path


def _send(request: Request, res: pixels.AssetAccess, resp: Response) -> Response:
    """Count the bytes of the answer against the agreement and audit them, then send it."""
    pixels.charge(request, res, len(resp.body))
    return resp


def _image(img: Any, params: RenderParams, fmt: str | None) -> Response:
    driver, media = image_format(fmt)
    out = render.encode(img, params, driver, media)
    return Response(out.content, media_type=out.media_type, headers=CACHE)


def _tile_response(img: Any, params: RenderParams, fmt: str | None) -> Response:
    if img is None:
        return Response(status_code=204, headers=CACHE)
    return _image(img, params, fmt)


def _query_string(request: Request, drop: tuple[str, ...] = ()) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
    from urllib.parse import urlencode

    return ("?" + urlencode(items)) if items else ""


# ------------------------------------------------------------------ item tiles
Params = Annotated[RenderParams, Depends(render_params)]
AssetQ = Annotated[str | None, Query(description="Asset key (default: the first COG with role data)")]


@router.get(ITEM + "/tiles/{tms_id}/{z}/{x}/{y}.{fmt}", name="item_tile", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 204: {"description": "no data here"}})
@router.get(ITEM + "/tiles/{tms_id}/{z:int}/{x:int}/{y:int}", response_class=Response, include_in_schema=False)
def item_tile(
    request: Request, collection_id: str, item_id: str, tms_id: str, z: int, x: int, y: int,
    params: Params, asset: AssetQ = None, tilesize: int = 256, fmt: str = "png",
) -> Response:  # fmt: skip
    """One map tile of an item in any OGC TileMatrixSet (PNG, JPEG, WEBP or GeoTIFF)."""
    tms = tile_matrix_set(tms_id)
    check_tile(tms, z, x, y)
    image_format(fmt)
    res = _resolve(request, collection_id, item_id, asset, "tiles")
    with render.open_reader(_raster(res), tms) as src:
        p = render.prepare(src, params, res.asset.get("eo:bands"))
        img = render.read_tile(src, p, z, x, y, tilesize)
        return _send(request, res, _tile_response(img, p, fmt))


@router.get(ITEM + "/tiles/{tms_id}/tilejson.json", name="item_tilejson")
def item_tilejson(
    request: Request, collection_id: str, item_id: str, tms_id: str, params: Params,
    asset: AssetQ = None, tilesize: int = 256, fmt: str = "png",
) -> Response:  # fmt: skip
    """TileJSON 3.0 of an item; the tile URL carries the same query parameters."""
    tms = tile_matrix_set(tms_id)
    image_format(fmt)
    res = _resolve(request, collection_id, item_id, asset, "tilejson")
    with render.open_reader(_raster(res), tms) as src:
        render.prepare(src, params, res.asset.get("eo:bands"))
        bounds = src.get_geographic_bounds(tms.rasterio_geographic_crs)
        minzoom, maxzoom = src.minzoom, src.maxzoom
    base = get_base_url(request)
    url = (f"{base}collections/{collection_id}/items/{item_id}/tiles/{tms_id}/{{z}}/{{x}}/{{y}}.{fmt}"
           + _query_string(request, ("fmt",)))  # fmt: skip
    return _send(request, res, json_response(ogc.tilejson(url, bounds, minzoom, maxzoom, item_id, tilesize)))


@router.get(ITEM + "/tiles/{tms_id}/WMTSCapabilities.xml", name="item_wmts", response_class=Response)
def item_wmts(
    request: Request, collection_id: str, item_id: str, tms_id: str, params: Params,
    asset: AssetQ = None, fmt: str = "png",
) -> Response:  # fmt: skip
    """WMTS 1.0 GetCapabilities (RESTful) of an item: add this URL in QGIS as a WMTS source."""
    tms = tile_matrix_set(tms_id)
    _, media = image_format(fmt)
    res = _resolve(request, collection_id, item_id, asset, "wmts")
    with render.open_reader(_raster(res), tms) as src:
        render.prepare(src, params, res.asset.get("eo:bands"))
        bounds = src.get_geographic_bounds(rio_crs.CRS.from_epsg(4326))
        minzoom, maxzoom = src.minzoom, src.maxzoom
    base = get_base_url(request)
    url = (f"{base}collections/{collection_id}/items/{item_id}/tiles/{tms_id}/"
           "{TileMatrix}/{TileCol}/{TileRow}." + fmt + _query_string(request, ("fmt",)))  # fmt: skip
    xml = ogc.wmts_capabilities(installation(request).settings.title, item_id, url, tms, bounds,
                                minzoom, maxzoom, media)  # fmt: skip
    return _send(request, res, Response(xml, media_type="application/xml"))


@router.get(ITEM + "/preview.{fmt}", response_class=Response, name="item_preview")
@router.get(ITEM + "/preview", response_class=Response, include_in_schema=False)
def item_preview(
    request: Request, collection_id: str, item_id: str, params: Params, asset: AssetQ = None,
    max_size: int = 1024, width: int | None = None, height: int | None = None, fmt: str = "png",
) -> Response:  # fmt: skip
    """The whole asset, at most ``max_size`` px (limit 4096) on the longest side."""
    image_format(fmt)
    res = _resolve(request, collection_id, item_id, asset, "preview")
    with render.open_reader(_raster(res)) as src:
        p = render.prepare(src, params, res.asset.get("eo:bands"))
        return _send(request, res, _image(render.read_preview(src, p, max_size, width, height), p, fmt))


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput(f"bbox {text!r} is not minx,miny,maxx,maxy", field="bbox") from None
    return w, s, e, n


@router.get(ITEM + "/bbox/{bbox}.{fmt}", response_class=Response, name="item_bbox")
def item_bbox(
    request: Request, collection_id: str, item_id: str, bbox: str, fmt: str, params: Params,
    asset: AssetQ = None, max_size: int = 1024, width: int | None = None,
    height: int | None = None, dst_crs: str | None = None,
) -> Response:  # fmt: skip
    """A crop by a WGS84 bbox (``minx,miny,maxx,maxy``); GeoTIFF keeps the georeferencing."""
    image_format(fmt)
    crs = _crs(dst_crs)
    box = _bbox(bbox)
    res = _resolve(request, collection_id, item_id, asset, "crop")
    with render.open_reader(_raster(res)) as src:
        p = render.prepare(src, params, res.asset.get("eo:bands"))
        return _send(request, res, _image(render.read_bbox(src, p, box, max_size, width, height, crs), p, fmt))


def _crs(text: str | None) -> Any:
    if not text:
        return None
    try:
        return rio_crs.CRS.from_user_input(text)
    except rio_errors.CRSError:
        raise InvalidInput(f"unknown CRS {text!r}", field="dst_crs") from None


@router.post(ITEM + "/feature.{fmt}", response_class=Response, name="item_feature")
def item_feature(
    request: Request, collection_id: str, item_id: str, fmt: str, params: Params,
    feature: Annotated[dict[str, Any], Body(description="GeoJSON Polygon/MultiPolygon or Feature (WGS84)")],
    asset: AssetQ = None, max_size: int = 1024, dst_crs: str | None = None,
) -> Response:  # fmt: skip
    """A crop by a GeoJSON polygon: pixels outside it are transparent."""
    image_format(fmt)
    crs = _crs(dst_crs)
    res = _resolve(request, collection_id, item_id, asset, "crop")
    with render.open_reader(_raster(res)) as src:
        p = render.prepare(src, params, res.asset.get("eo:bands"))
        return _send(request, res, _image(render.read_feature(src, p, feature, max_size, crs), p, fmt))


@router.get(ITEM + "/point/{lon},{lat}", name="item_point")
def item_point(
    request: Request, collection_id: str, item_id: str, lon: float, lat: float, params: Params,
    asset: AssetQ = None,
) -> Response:  # fmt: skip
    """Pixel values at a WGS84 point (null where nodata)."""
    res = _resolve(request, collection_id, item_id, asset, "point")
    with render.open_reader(_raster(res)) as src:
        p = render.prepare(src, params, res.asset.get("eo:bands"), image=False)
        return _send(request, res, json_response(render.read_point(src, p, lon, lat)))


@router.get(ITEM + "/statistics", name="item_statistics")
def item_statistics(
    request: Request, collection_id: str, item_id: str, params: Params, asset: AssetQ = None,
    max_size: int = 1024,
) -> Response:  # fmt: skip
    """Per-band (or per-expression) statistics and histogram, from a ≤ max_size px read."""
    res = _resolve(request, collection_id, item_id, asset, "statistics")
    with render.open_reader(_raster(res)) as src:
        p = render.prepare(src, params, res.asset.get("eo:bands"), image=False)
        return _send(request, res, json_response(render.read_statistics(src, p, max_size)))


@router.get(ITEM + "/info", name="item_info")
def item_info(request: Request, collection_id: str, item_id: str, asset: AssetQ = None) -> Response:
    """Raster metadata of the asset (bands, dtype, nodata, overviews, bounds)."""
    res = _resolve(request, collection_id, item_id, asset, "info")
    with render.open_reader(_raster(res)) as src:
        return _send(request, res, json_response(render.info(src)))


# Routes that read no pixels: the tile matrix sets, and registering a search (its mosaic's
# tiles are read, and decided, per item and per caller).
public = APIRouter(tags=["Tiles"], dependencies=[requires("public")])
searches = APIRouter(tags=["Tiles"], dependencies=[requires("catalog:read")])
routers = [router, public, searches]


@public.get("/tileMatrixSets", name="tile_matrix_sets")
def tile_matrix_sets(request: Request) -> Response:
    """The TileMatrixSets tiles can be requested in."""
    return json_response({"tileMatrixSets": [{"id": t} for t in morecantile.tms.list()]})


# --------------------------------------------------------------------- mosaics
def _registry(request: Request) -> SearchStore:
    return installation(request).mosaic_searches


SEARCH_KEYS = ("collections", "ids", "bbox", "intersects", "datetime", "filter", "filter-lang",
               "query", "sortby", "q")  # fmt: skip


@searches.post("/mosaic/register", name="mosaic_register")
def mosaic_register(
    request: Request,
    search: Annotated[dict[str, Any], Body(description="A STAC search body (collections, bbox, datetime, filter, query, sortby)")],
) -> Response:  # fmt: skip
    """Register a search; its mosaic is served at ``/mosaic/{id}/tiles/…``."""
    body = {k: v for k, v in search.items() if k in SEARCH_KEYS}
    unknown = sorted(set(search) - set(SEARCH_KEYS) - {"limit", "token", "fields"})
    if unknown:
        raise InvalidInput(f"unknown search field {unknown[0]!r}", field=unknown[0])
    settings = installation(request).settings
    size = len(orjson.dumps(body))
    if size > settings.mosaic_search_max_bytes:  # registered searches are kept: bounded
        raise PayloadTooLarge(f"a registered search may be at most {settings.mosaic_search_max_bytes} "
                              f"bytes of JSON (this one: {size}); SATHUB_MOSAIC_SEARCH_MAX_BYTES",
                              field="search")  # fmt: skip
    query = build_query(dict(body), default_limit=1, max_limit=settings.max_limit,  # validate now
                        filter_limits=FilterLimits.of(settings))  # fmt: skip
    if query.intersects is not None:  # a Feature or a JSON string becomes the checked geometry
        _tile_part(query.intersects, (-180.0, -90.0, 180.0, 90.0))
        body["intersects"] = query.intersects
    search_id = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]
    _registry(request).put(search_id, body)
    base = get_base_url(request)
    url = f"{base}mosaic/{search_id}/tiles/WebMercatorQuad"
    return json_response({
        "id": search_id, "search": body,
        "links": [
            {"rel": "tilejson", "type": "application/json", "href": url + "/tilejson.json"},
            {"rel": "xyz", "type": "image/png", "href": url + "/{z}/{x}/{y}.png"},
        ],
    })  # fmt: skip


def _mosaic(
    request: Request, body: dict[str, Any], tms_id: str, z: int, x: int, y: int,
    params: RenderParams, fmt: str, tilesize: int, max_items: int,
) -> Response:  # fmt: skip
    tms = tile_matrix_set(tms_id)
    check_tile(tms, z, x, y)
    image_format(fmt)
    if not 1 <= max_items <= MAX_ITEMS_PER_TILE:
        raise InvalidInput(f"max_items must be 1…{MAX_ITEMS_PER_TILE}", field="max_items")
    if z < MIN_ZOOM:
        return Response(status_code=204, headers=CACHE)
    inst = installation(request)
    w, s, e, n = tms.bounds(morecantile.Tile(x, y, z))
    q = dict(body)
    if q.get("intersects") is not None:  # items meeting the geometry within this tile
        area = _tile_part(q["intersects"], (w, s, e, n))
        if area is None:
            return Response(status_code=204, headers=CACHE)
        q["intersects"] = area
    elif q.get("bbox"):
        bw, bs, be, bn = _clip_bbox(q["bbox"], (w, s, e, n))
        if bw >= be or bs >= bn:
            return Response(status_code=204, headers=CACHE)
        q["bbox"] = [bw, bs, be, bn]
    else:
        q["bbox"] = [w, s, e, n]
    q["limit"] = max_items
    query = build_query(q, default_limit=max_items, max_limit=inst.settings.max_limit,
                        filter_limits=FilterLimits.of(inst.settings))  # fmt: skip
    # property names as in /search: a hidden collection's or lineage's is unknown (400)
    result = inst.catalog.search(scoped(request, query), extra_filter=access_filter(request))
    by_path: dict[str, pixels.AssetAccess] = {}
    over_quota: QuotaExceeded | None = None
    for item in result.items:  # each item decided for the caller, as a tile of it would be
        try:
            res = pixels.resolve_in_item(request, item, default_asset(item), action="tiles")
            path = _raster(res)
        except QuotaExceeded as exc:
            over_quota = exc
            continue
        except (NotFound, Forbidden, InvalidInput):
            continue
        by_path.setdefault(path, res)
    if not by_path and over_quota is not None:
        raise over_quota
    sources = [(path, res.asset.get("eo:bands")) for path, res in by_path.items()]
    out = mosaic_mod.mosaic_tile(sources, params, tms, z, x, y, tilesize)
    if out is None:
        return Response(status_code=204, headers=CACHE)
    img, used = out
    resp = _image(img, params, fmt)
    resp.headers["X-Mosaic-Items"] = str(len(used))
    counted: set[int | None] = set()
    for u in used:  # each grant drawn from pays for the tile once; each item is audited
        res = by_path[u if isinstance(u, str) else u[0]]
        pixels.charge(request, res, len(resp.body), count=res.agreement_id not in counted)
        counted.add(res.agreement_id)
    return resp


def _tile_part(geojson: Any, tile: tuple[float, float, float, float]) -> dict[str, Any] | None:
    """The part of a search's ``intersects`` geometry inside a tile (GeoJSON), or None."""
    import shapely

    from sathub.catalog.geometry import geometry_from_geojson

    part = geometry_from_geojson(geojson, field="intersects").intersection(shapely.box(*tile))
    return None if part.is_empty else shapely.geometry.mapping(part)  # type: ignore[no-any-return]


def _clip_bbox(bbox: Any, tile: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    vals = [float(v) for v in (bbox.split(",") if isinstance(bbox, str) else bbox)]
    if len(vals) == 6:
        vals = [vals[0], vals[1], vals[3], vals[4]]
    w, s, e, n = vals
    return max(w, tile[0]), max(s, tile[1]), min(e, tile[2]), min(n, tile[3])


def _search_body(request: Request, search_id: str) -> dict[str, Any]:
    body = _registry(request).get(search_id)
    if body is None:
        raise NotFound(f"no registered search {search_id!r} (register it again: POST /mosaic/register)")
    return body


MaxItems = Annotated[int, Query(description="At most this many items per tile (≤ 50)")]


@router.get("/mosaic/{search_id}/tiles/{tms_id}/{z}/{x}/{y}.{fmt}", response_class=Response, name="mosaic_tile")
@router.get("/mosaic/{search_id}/tiles/{tms_id}/{z:int}/{x:int}/{y:int}", response_class=Response, include_in_schema=False)
def mosaic_tile(
    request: Request, search_id: str, tms_id: str, z: int, x: int, y: int, params: Params,
    fmt: str = "png", tilesize: int = 256, max_items: MaxItems = MAX_ITEMS_PER_TILE,
) -> Response:  # fmt: skip
    """A mosaic tile of a registered search (newest first; first valid pixel wins)."""
    return _mosaic(request, _search_body(request, search_id), tms_id, z, x, y, params, fmt,
                   tilesize, max_items)  # fmt: skip


@router.get("/collections/{collection_id}/tiles/{tms_id}/{z}/{x}/{y}.{fmt}", response_class=Response, name="collection_tile")
def collection_tile(
    request: Request, collection_id: str, tms_id: str, z: int, x: int, y: int, params: Params,
    fmt: str = "png", tilesize: int = 256, max_items: MaxItems = MAX_ITEMS_PER_TILE,
) -> Response:  # fmt: skip
    """A mosaic tile of a whole collection."""
    require_collection_visible(request, collection_id)
    installation(request).catalog.get_collection(collection_id)
    return _mosaic(request, {"collections": [collection_id]}, tms_id, z, x, y, params, fmt,
                   tilesize, max_items)  # fmt: skip


def _mosaic_tilejson(request: Request, prefix: str, body: dict[str, Any], tms_id: str, name: str) -> Response:
    tms = tile_matrix_set(tms_id)
    base = get_base_url(request)
    bbox = body.get("bbox")
    if body.get("intersects") is not None:
        from sathub.catalog.geometry import geometry_from_geojson

        bbox = list(geometry_from_geojson(body["intersects"], field="intersects").bounds)
    bounds = tuple(_clip_bbox(bbox, (-180, -85.05, 180, 85.05))) if bbox else (-180.0, -85.05, 180.0, 85.05)
    url = f"{base}{prefix}/tiles/{tms_id}/{{z}}/{{x}}/{{y}}.png" + _query_string(request)
    return json_response(ogc.tilejson(url, bounds, max(MIN_ZOOM, tms.minzoom),  # type: ignore[arg-type]
                                      min(18, tms.maxzoom), name))  # fmt: skip


@router.get("/mosaic/{search_id}/tiles/{tms_id}/tilejson.json", name="mosaic_tilejson")
def mosaic_tilejson(request: Request, search_id: str, tms_id: str, params: Params) -> Response:
    """TileJSON of a registered search's mosaic."""
    return _mosaic_tilejson(request, f"mosaic/{search_id}", _search_body(request, search_id), tms_id, search_id)


@router.get("/collections/{collection_id}/tiles/{tms_id}/tilejson.json", name="collection_tilejson")
def collection_tilejson(request: Request, collection_id: str, tms_id: str, params: Params) -> Response:
    """TileJSON of a collection's mosaic."""
    require_collection_visible(request, collection_id)
    coll = installation(request).catalog.get_collection(collection_id)
    try:
        bbox = coll["extent"]["spatial"]["bbox"][0]
    except (KeyError, IndexError, TypeError):
        bbox = None
    return _mosaic_tilejson(request, f"collections/{collection_id}", {"bbox": bbox} if bbox else {},
                            tms_id, collection_id)  # fmt: skip
