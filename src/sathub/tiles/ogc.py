"""TileJSON 3.0 and WMTS 1.0 GetCapabilities documents."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import morecantile


def tilejson(
    tile_url: str, bounds: tuple[float, float, float, float], minzoom: int, maxzoom: int,
    name: str, tilesize: int = 256,
) -> dict[str, Any]:  # fmt: skip
    w, s, e, n = bounds
    return {
        "tilejson": "3.0.0",
        "name": name,
        "tiles": [tile_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [w, s, e, n],
        "center": [(w + e) / 2, (s + n) / 2, minzoom],
        "tileSize": tilesize,
    }


def wmts_capabilities(
    title: str, layer: str, tile_url: str, tms: morecantile.TileMatrixSet,
    bounds: tuple[float, float, float, float], minzoom: int, maxzoom: int, media_type: str,
) -> str:  # fmt: skip
    """A WMTS Capabilities document (RESTful) with one layer; QGIS adds it as a WMTS source.
    ``tile_url`` contains ``{TileMatrix}``, ``{TileCol}``, ``{TileRow}``."""
    w, s, e, n = bounds
    tms_id = str(tms.id)
    crs = tms.crs.to_epsg() if hasattr(tms.crs, "to_epsg") else None
    supported = f"urn:ogc:def:crs:EPSG::{crs}" if crs else escape(str(tms.crs))
    matrices = []
    for m in tms.tileMatrices:
        z = int(m.id)
        if not minzoom <= z <= maxzoom:
            continue
        matrices.append(
            f"""<TileMatrix><ows:Identifier>{m.id}</ows:Identifier>
<ScaleDenominator>{m.scaleDenominator!r}</ScaleDenominator>
<TopLeftCorner>{m.pointOfOrigin[0]!r} {m.pointOfOrigin[1]!r}</TopLeftCorner>
<TileWidth>{m.tileWidth}</TileWidth><TileHeight>{m.tileHeight}</TileHeight>
<MatrixWidth>{m.matrixWidth}</MatrixWidth><MatrixHeight>{m.matrixHeight}</MatrixHeight>
</TileMatrix>"""
        )
    url = escape(tile_url)
    fmt = media_type.split(";")[0]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1"
 xmlns:xlink="http://www.w3.org/1999/xlink" version="1.0.0">
<ows:ServiceIdentification><ows:Title>{escape(title)}</ows:Title>
<ows:ServiceType>OGC WMTS</ows:ServiceType><ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>
</ows:ServiceIdentification>
<Contents>
<Layer><ows:Title>{escape(layer)}</ows:Title><ows:Identifier>{escape(layer)}</ows:Identifier>
<ows:WGS84BoundingBox crs="urn:ogc:def:crs:OGC:2:84"><ows:LowerCorner>{w} {s}</ows:LowerCorner>
<ows:UpperCorner>{e} {n}</ows:UpperCorner></ows:WGS84BoundingBox>
<Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>
<Format>{fmt}</Format>
<TileMatrixSetLink><TileMatrixSet>{escape(tms_id)}</TileMatrixSet></TileMatrixSetLink>
<ResourceURL format="{fmt}" resourceType="tile" template="{url}"/>
</Layer>
<TileMatrixSet><ows:Identifier>{escape(tms_id)}</ows:Identifier>
<ows:SupportedCRS>{supported}</ows:SupportedCRS>
{"".join(matrices)}
</TileMatrixSet>
</Contents>
</Capabilities>
"""
