"""Fixtures for the distribution tests: a tiny archive with real COGs, built in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from sathub.catalog.sqlite import SQLiteStore
from sathub.config import Settings

CID = "scenes"
EO_BANDS = [
    {"name": "B02", "common_name": "blue"},
    {"name": "B03", "common_name": "green"},
    {"name": "B04", "common_name": "red"},
    {"name": "B8A", "common_name": "nir08"},
]


def write_cog(
    path: Path, width: int, height: int, count: int = 4, dtype: str = "uint16",
    origin: tuple[float, float] = (600000.0, 2400000.0), res: float = 20.0,
    nodata: float | None = 0, noise: bool = False, seed: int = 0,
) -> Path:  # fmt: skip
    """A COG in UTM 47N: smooth gradients per band, a nodata triangle in the lower left."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    bands = []
    for b in range(count):
        if noise:
            arr = rng.integers(1, 250, size=(height, width))
        else:
            arr = 200 + (xx * (b + 1) * 7 + yy * 3) % 3000 + b * 500
        bands.append(arr)
    data = np.stack(bands).astype(dtype)
    if nodata is not None:
        data[:, (height - yy) < xx // 2] = nodata  # wedge of nodata
    tmp = path.with_suffix(".src.tif")
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
               "crs": "EPSG:32647", "transform": from_origin(*origin, res, res), "nodata": nodata}
    with rasterio.open(tmp, "w", **profile) as ds:
        ds.write(data)
    cog_translate(tmp, path, cog_profiles.get("deflate"), quiet=True, overview_resampling="nearest")
    tmp.unlink()
    return path


def item_for(cog: Path, assets_root: Path, item_id: str, dt: str = "2024-09-04T04:05:31Z",
             cloud: float = 10.0) -> dict[str, Any]:  # fmt: skip
    with rasterio.open(cog) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    href = cog.relative_to(assets_root).as_posix()
    return {
        "type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": item_id,
        "collection": CID, "bbox": [w, s, e, n],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": dt, "eo:cloud_cover": cloud},
        "assets": {
            "data": {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                     "roles": ["data"], "eo:bands": EO_BANDS},
            "metadata": {"href": cog.with_name("meta.json").relative_to(assets_root).as_posix(),
                         "type": "application/json", "roles": ["metadata"]},
        },
        "links": [],
    }  # fmt: skip


def build_archive(data: Path, n_items: int = 1, size: int = 600) -> dict[str, Any]:
    """A data directory with ``n_items`` items (each a 4-band uint16 COG) in collection CID.
    Items are laid out side by side, 0.5 tile apart, so mosaics overlap."""
    settings = Settings(data=data)
    settings.layout.create()
    store = SQLiteStore(settings.layout.catalog_db)
    store.create_collection({
        "type": "Collection", "stac_version": "1.0.0", "stac_extensions": [], "id": CID,
        "title": "Test scenes", "description": "d", "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
                   "temporal": {"interval": [[None, None]]}},
        "summaries": {"eo:bands": EO_BANDS}, "links": [],
    })  # fmt: skip
    items = []
    for k in range(n_items):
        cog = settings.layout.assets / CID / f"s{k}" / "v1" / "data.tif"
        origin = (600000.0 + (k % 10) * size * 10, 2400000.0 - (k // 10) * size * 10)
        write_cog(cog, size, size, origin=origin, seed=k)
        cog.with_name("meta.json").write_text('{"hello": "world"}')
        item = item_for(cog, settings.layout.assets, f"s{k}", dt=f"2024-09-{1 + k % 28:02d}T04:05:31Z")
        store.create_item(item)
        items.append(item)
    store.close()
    return {"settings": settings, "items": items}
