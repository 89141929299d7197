"""Links the API adds to collections and items, relative to the public base URL."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request

from sathub.ingest.hrefs import is_local
from sathub.tiles import defaults

JSON = "application/json"
GEOJSON = "application/geo+json"


def _keep(doc_links: Any) -> list[dict[str, Any]]:
    return [link for link in doc_links or [] if isinstance(link, dict)]


def _mosaic_links(coll: dict[str, Any], url: str, render: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Mosaic tile links for collections of imagery (summaries list bands, or an item showed
    what the mosaic draws: ``render``, whose parameters the links carry)."""
    summaries = coll.get("summaries")
    has_bands = isinstance(summaries, dict) and bool({"eo:bands", "raster:bands", "bands"} & set(summaries))
    if not (has_bands or render):
        return []
    query, extra = "", {}
    if render:
        query = "?" + urlencode(defaults.query_params(render, asset=False), safe=",")
        extra = {"render": "default"}
    return [
        {"rel": "xyz", "type": "image/png", "title": "Mosaic tiles of the collection",
         "href": f"{url}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png{query}", **extra},
        {"rel": "tilejson", "type": JSON, "title": "TileJSON of the collection mosaic",
         "href": f"{url}/tiles/WebMercatorQuad/tilejson.json{query}", **extra},
    ]  # fmt: skip


def collection_links(
    coll: dict[str, Any], base: str, sample: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Links of a collection; ``sample`` (its newest item the caller may see, if any) gives
    the default rendering of the mosaic (:func:`collection_render`)."""
    cid = coll["id"]
    url = f"{base}collections/{cid}"
    out = dict(coll)
    out.setdefault("type", "Collection")
    render = collection_render(sample) if sample else None
    out["links"] = [
        {"rel": "self", "type": JSON, "href": url},
        {"rel": "root", "type": JSON, "href": base},
        {"rel": "parent", "type": JSON, "href": base},
        {"rel": "items", "type": GEOJSON, "href": f"{url}/items"},
        {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
         "type": "application/schema+json", "href": f"{url}/queryables"},
        {"rel": "aggregate", "type": JSON, "href": f"{url}/aggregate"},
        *_mosaic_links(coll, url, render),
        *_keep(coll.get("links")),
    ]  # fmt: skip
    if render and sample:
        _declare_renders(out, {"default": render})
        _describe_item_asset(out, sample, render["assets"][0])
    return out


def _describe_item_asset(coll: dict[str, Any], sample: dict[str, Any], key: str) -> None:
    """A collection's renders name item assets; without ``item_assets`` (or ``assets``) the
    render extension's schema has nothing to refer to, so describe the one the mosaic reads."""
    if coll.get("item_assets") or coll.get("assets"):
        return
    asset = sample["assets"][key]
    coll["item_assets"] = {key: {k: asset[k] for k in ("type", "roles", "eo:bands") if k in asset}}
    if defaults.ITEM_ASSETS_EXTENSION not in coll["stac_extensions"]:
        coll["stac_extensions"].append(defaults.ITEM_ASSETS_EXTENSION)


def _is_local(href: Any) -> bool:
    return isinstance(href, str) and is_local(href)


def _is_cog(asset: dict[str, Any]) -> bool:
    return _is_local(asset.get("href")) and "geotiff" in str(asset.get("type", "")).lower()


def asset_urls(item: dict[str, Any], base: str) -> dict[str, Any]:
    """Local asset hrefs (relative to DATA/assets/) become download URLs served by sathub that
    end with the file's name (``/collections/{c}/items/{i}/assets/{key}/{file name}``), so
    clients that look at the extension (GDAL with ``CPL_VSIL_CURL_ALLOWED_EXTENSIONS``,
    downloaders that name files after the URL) see it. The stored path is not published: it is
    relative to the data directory, which no client can resolve. URLs are left as they are."""
    assets = item.get("assets")
    if not isinstance(assets, dict):
        return {}
    url = f"{base}collections/{item.get('collection')}/items/{item.get('id')}/assets/"
    out: dict[str, Any] = {}
    for key, asset in assets.items():
        if isinstance(asset, dict) and _is_local(asset.get("href")):
            name = PurePosixPath(asset["href"]).name
            asset = {**asset, "href": f"{url}{quote(str(key), safe='')}/{quote(name, safe='')}"}
        out[key] = asset
    return out


_EPSG = re.compile(r"EPSG:(\d+)", re.IGNORECASE)
_PROJ = "https://stac-extensions.github.io/projection/v"
# ingest.metadata.PROJ_V1_2 (not imported: it loads rasterio, which catalog requests never need)
PROJ_V1_2 = _PROJ + "1.2.0/schema.json"


def _add_epsg(fields: dict[str, Any]) -> dict[str, Any]:
    if "proj:code" not in fields or "proj:epsg" in fields:
        return fields
    m = _EPSG.fullmatch(str(fields["proj:code"] or ""))
    return {**fields, "proj:epsg": int(m.group(1)) if m else None}


def with_proj_epsg(item: dict[str, Any]) -> dict[str, Any]:
    """``proj:epsg`` beside every ``proj:code`` (null for a code that is not EPSG's), for the
    clients that read only the former (stackstac 0.5, GDAL's STACIT driver). Items that declare
    projection v2 (which forbids ``proj:epsg``) are declared as v1.2.0, whose schema accepts
    both fields; nothing else changes. Done on output so that items ingested before, or loaded
    from elsewhere, are served the same way as new ones (see docs/interoperability.md)."""
    exts = item.get("stac_extensions")
    if not isinstance(exts, list):
        return item
    versions = [e[len(_PROJ):] for e in exts if isinstance(e, str) and e.startswith(_PROJ)]
    if not any(v.startswith(("1.2.", "2.")) for v in versions):
        return item
    out = dict(item)
    if isinstance(item.get("properties"), dict):
        out["properties"] = _add_epsg(item["properties"])
    if isinstance(item.get("assets"), dict):
        out["assets"] = {k: _add_epsg(a) if isinstance(a, dict) else a
                         for k, a in item["assets"].items()}  # fmt: skip
    out["stac_extensions"] = list(dict.fromkeys(
        PROJ_V1_2 if isinstance(e, str) and e.startswith(_PROJ + "2.") else e for e in exts
    ))  # fmt: skip
    return out


def _raster_keys(item: dict[str, Any]) -> list[str]:
    """Keys of the item's COG assets in the archive the tiler can draw (role ``data`` first)."""
    assets = item.get("assets")
    if not isinstance(assets, dict):
        return []
    cogs = [k for k, a in assets.items() if isinstance(a, dict) and _is_cog(a)]
    data = [k for k in cogs if "data" in (assets[k].get("roles") or [])]
    return data or cogs


def collection_render(sample: dict[str, Any]) -> dict[str, Any] | None:
    """What a collection mosaic draws, from one of its items: the asset the mosaic reads
    (the first COG with role ``data``, as ``routers/tiles.default_asset``) rendered by default."""
    keys = _raster_keys(sample)
    if not keys:
        return None
    return defaults.asset_render(keys[0], sample["assets"][keys[0]])


def _declare_renders(doc: dict[str, Any], renders: dict[str, Any]) -> None:
    """Add ``renders`` (in an item's properties, or a collection) and declare the render and
    web-map-links extensions."""
    if doc.get("type") == "Feature":
        props = doc.get("properties") or {}
        doc["properties"] = {**props, "renders": {**renders, **(props.get("renders") or {})}}
    else:
        doc["renders"] = {**renders, **(doc.get("renders") or {})}
    exts = list(doc.get("stac_extensions") or [])
    for ext in (defaults.RENDER_EXTENSION, defaults.WEB_MAP_LINKS_EXTENSION):
        if ext not in exts:
            exts.append(ext)
    doc["stac_extensions"] = exts


def tile_links(item: dict[str, Any], base: str, render: tuple[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Web-map links (``xyz``, ``tilejson``, ``wmts``, as in the STAC web-map-links extension)
    and the viewer (``alternate``, HTML) of an item with a COG asset in the archive. With
    ``render`` (key, render object) the tile links carry its parameters and name it."""
    if not _raster_keys(item):
        return []
    url = f"{base}collections/{item.get('collection')}/items/{item.get('id')}/tiles/WebMercatorQuad"
    query, wmts_query, extra = "", "", {}
    if render:
        params = defaults.query_params(render[1])
        query = "?" + urlencode(params, safe=",")
        # GDAL's WMTS connection string ("WMTS:url,layer=…", what QGIS uses) splits on commas:
        # the WMTS link spells them %2C (the server reads both)
        wmts_query = "?" + urlencode(params)
        extra = {"render": render[0]}
    return [
        {"rel": "xyz", "type": "image/png", "title": "Map tiles (WebMercatorQuad)",
         "href": url + "/{z}/{x}/{y}.png" + query, **extra},
        {"rel": "tilejson", "type": JSON, "title": "TileJSON", "href": url + "/tilejson.json" + query, **extra},
        {"rel": "wmts", "type": "application/xml", "title": "WMTS GetCapabilities",
         "href": url + "/WMTSCapabilities.xml" + wmts_query, "wmts:layer": item.get("id"), **extra},
        {"rel": "alternate", "type": "text/html", "title": "Map viewer",
         "href": f"{base}viewer#item={item.get('collection')}/{item.get('id')}"},
    ]  # fmt: skip


def item_renders(item: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The item's default renderings (STAC render extension) and the key of the one its
    web-map links draw."""
    return defaults.item_renders(item, _raster_keys(item))


def item_links(item: dict[str, Any], base: str) -> dict[str, Any]:
    cid = item.get("collection")
    out = with_proj_epsg(dict(item))
    own = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}collections/{cid}/items/{item['id']}"},
        {"rel": "parent", "type": JSON, "href": f"{base}collections/{cid}"},
        {"rel": "collection", "type": JSON, "href": f"{base}collections/{cid}"},
        {"rel": "root", "type": JSON, "href": base},
    ]
    renders, default = item_renders(item)
    render = (default, renders[default]) if default else None
    out["links"] = own + tile_links(item, base, render) + _keep(item.get("links"))
    if renders:
        _declare_renders(out, renders)
    if "assets" in out:
        out["assets"] = asset_urls(out, base)
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
