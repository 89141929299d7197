"""Links the API adds to collections and items, relative to the public base URL."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request

from sathub.ingest.hrefs import is_local

JSON = "application/json"
GEOJSON = "application/geo+json"


def _keep(doc_links: Any) -> list[dict[str, Any]]:
    return [link for link in doc_links or [] if isinstance(link, dict)]


def _mosaic_links(coll: dict[str, Any], url: str) -> list[dict[str, Any]]:
    """Mosaic tile links for collections of imagery (summaries list bands)."""
    summaries = coll.get("summaries")
    if not isinstance(summaries, dict) or not ({"eo:bands", "raster:bands", "bands"} & set(summaries)):
        return []
    return [
        {"rel": "xyz", "type": "image/png", "title": "Mosaic tiles of the collection",
         "href": f"{url}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png"},
        {"rel": "tilejson", "type": JSON, "title": "TileJSON of the collection mosaic",
         "href": f"{url}/tiles/WebMercatorQuad/tilejson.json"},
    ]  # fmt: skip


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
        *_mosaic_links(coll, url),
        *_keep(coll.get("links")),
    ]  # fmt: skip
    return out


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


def tile_links(item: dict[str, Any], base: str) -> list[dict[str, Any]]:
    """Web-map links (``xyz``, ``tilejson``, ``wmts``, as in the STAC web-map-links extension)
    and the viewer (``alternate``, HTML) of an item with a COG asset in the archive."""
    assets = item.get("assets")
    if not isinstance(assets, dict) or not any(
        isinstance(a, dict) and _is_cog(a) for a in assets.values()
    ):
        return []
    url = f"{base}collections/{item.get('collection')}/items/{item.get('id')}/tiles/WebMercatorQuad"
    return [
        {"rel": "xyz", "type": "image/png", "title": "Map tiles (WebMercatorQuad)",
         "href": url + "/{z}/{x}/{y}.png"},
        {"rel": "tilejson", "type": JSON, "title": "TileJSON", "href": url + "/tilejson.json"},
        {"rel": "wmts", "type": "application/xml", "title": "WMTS GetCapabilities",
         "href": url + "/WMTSCapabilities.xml", "wmts:layer": item.get("id")},
        {"rel": "alternate", "type": "text/html", "title": "Map viewer",
         "href": f"{base}viewer#item={item.get('collection')}/{item.get('id')}"},
    ]  # fmt: skip


def item_links(item: dict[str, Any], base: str) -> dict[str, Any]:
    cid = item.get("collection")
    out = with_proj_epsg(dict(item))
    own = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}collections/{cid}/items/{item['id']}"},
        {"rel": "parent", "type": JSON, "href": f"{base}collections/{cid}"},
        {"rel": "collection", "type": JSON, "href": f"{base}collections/{cid}"},
        {"rel": "root", "type": JSON, "href": base},
    ]
    out["links"] = own + tile_links(item, base) + _keep(item.get("links"))
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
