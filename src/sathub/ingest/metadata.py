"""Build the STAC item of an ingested scene (STAC 1.0.0 + proj, raster, eo, file, view, sat,
processing extensions). Pure: it takes what the pipeline measured and returns plain JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sathub.ingest.rasterinfo import Grid
from sathub.timeutil import format_datetime
from sathub.ingest.readers.base import BandInfo, Scene

STAC_VERSION = "1.0.0"
# Projection v1.2.0: the one version whose schema accepts both ``proj:code`` (what projection
# v2 and pystac ≥ 1.12 read) and ``proj:epsg`` (what stackstac 0.5 and GDAL's STACIT driver
# read; v2.0.0's schema rejects it). See docs/interoperability.md.
PROJ_V1_2 = "https://stac-extensions.github.io/projection/v1.2.0/schema.json"
EXT = {
    "proj": PROJ_V1_2,
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
}
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_EO_COMMON = {
    "coastal",
    "blue",
    "green",
    "red",
    "rededge",
    "yellow",
    "pan",
    "nir",
    "nir08",
    "nir09",
    "cirrus",
    "swir16",
    "swir22",
    "lwir",
    "lwir11",
    "lwir12",
}


@dataclass
class BuiltAsset:
    """One file of the item as written: href relative to the assets root."""

    key: str
    href: str
    size: int
    checksum: str
    media_type: str
    roles: list[str]
    title: str | None = None
    bands: list[BandInfo] = field(default_factory=list)
    raster_bands: list[dict[str, Any]] = field(default_factory=list)
    grid: Grid | None = None


def iso(dt: datetime) -> str:
    return format_datetime(dt)


def proj_fields(grid: Grid) -> dict[str, Any]:
    """Projection fields of a grid: ``proj:code`` and ``proj:epsg`` (both null, with
    ``proj:wkt2``, for a CRS without an EPSG code: GDAL's STACIT driver then reads the WKT)."""
    t = grid.transform
    out: dict[str, Any] = {
        "proj:shape": [grid.height, grid.width],
        "proj:transform": [t.a, t.b, t.c, t.d, t.e, t.f],
        "proj:bbox": list(grid.bounds),
    }
    if grid.epsg:
        out["proj:code"] = f"EPSG:{grid.epsg}"
        out["proj:epsg"] = grid.epsg
    else:
        out["proj:code"] = None
        out["proj:epsg"] = None
        out["proj:wkt2"] = grid.crs_wkt
    return out


def eo_band(b: BandInfo) -> dict[str, Any]:
    d: dict[str, Any] = {"name": b.name}
    if b.common_name in _EO_COMMON:
        d["common_name"] = b.common_name
    if b.description:
        d["description"] = b.description
    if b.center_wavelength is not None:
        d["center_wavelength"] = b.center_wavelength
    if b.full_width_half_max is not None:
        d["full_width_half_max"] = b.full_width_half_max
    return d


def raster_band(measured: dict[str, Any], b: BandInfo | None) -> dict[str, Any]:
    d = dict(measured)
    if b is not None:
        if b.scale is not None:
            d["scale"] = b.scale
        if b.offset is not None:
            d["offset"] = b.offset
        if b.unit:
            d["unit"] = b.unit
        d.update(b.extra)
    return d


def build_item(
    scene: Scene,
    collection_id: str,
    assets: list[BuiltAsset],
    geometry: dict[str, Any],
    bbox: tuple[float, float, float, float],
    created: datetime | None = None,
) -> dict[str, Any]:
    """The STAC item for ``scene`` whose files were written as ``assets``."""
    props: dict[str, Any] = {k: v for k, v in scene.properties.items() if v is not None}
    props["datetime"] = iso(scene.datetime) if scene.datetime else None
    if scene.start_datetime:
        props["start_datetime"] = iso(scene.start_datetime)
    if scene.end_datetime:
        props["end_datetime"] = iso(scene.end_datetime)
    now = iso(created or datetime.now(UTC))
    props.setdefault("created", now)
    props["updated"] = now
    data_assets = [a for a in assets if a.grid is not None]
    ref = data_assets[0].grid if data_assets else None
    if ref is not None:
        props.update(proj_fields(ref))
    all_bands = [b for a in data_assets for b in a.bands]
    if any(b.common_name or b.center_wavelength for b in all_bands):
        props["eo:bands"] = [eo_band(b) for b in all_bands]
    props["sathub:reader"] = scene.reader
    out_assets: dict[str, Any] = {}
    for a in assets:
        d: dict[str, Any] = {"href": a.href, "type": a.media_type, "roles": a.roles}
        if a.title:
            d["title"] = a.title
        d["file:size"] = a.size
        d["file:checksum"] = a.checksum
        if a.grid is not None:
            own = proj_fields(a.grid)
            for k, v in own.items():
                if props.get(k) != v:
                    d[k] = v
            d["raster:bands"] = [
                raster_band(m, b)
                for m, b in zip(a.raster_bands, a.bands + [None] * len(a.raster_bands))
            ]
            if "eo:bands" in props:
                d["eo:bands"] = [eo_band(b) for b in a.bands]
        out_assets[a.key] = d
    used = {"proj", "raster", "file"}
    if "eo:bands" in props or "eo:cloud_cover" in props:
        used.add("eo")
    for prefix in ("view", "sat", "processing"):
        if any(k.startswith(prefix + ":") for k in props):
            used.add(prefix)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXT[k] for k in EXT if k in used],
        "id": scene.id,
        "collection": collection_id,
        "geometry": geometry,
        "bbox": list(bbox),
        "properties": props,
        "links": [],
        "assets": out_assets,
    }
