"""The flood job: select scenes, map the flood, measure it per AOI polygon, publish it."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import numpy as np
from shapely.geometry import mapping

from sathub.analytics.errors import NoData
from sathub.analytics.flood import FLOOD, UNKNOWN, FloodResult, flood_map, flood_polygons
from sathub.analytics.products import Layer, publish
from sathub.analytics.scene import mask_mode, to_crs
from sathub.analytics.select import Zone, find_items, union
from sathub.analytics.zonal import weighted_sum
from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.ingest import staging
from sathub.storage.base import ObjectStore
from sathub.timeutil import parse_datetime

DERIVED_FLOOD = "derived-flood"


def areas_by_zone(result: FloodResult, zones: list[Zone]) -> list[dict[str, Any]]:
    """Flooded and unobserved km² per zone, with exact coverage fractions."""
    grid = result.grid
    local = [to_crs(z.geometry, "EPSG:4326", grid.crs) for z in zones]
    flood = (result.classes == FLOOD).astype(np.float64)
    unknown = (result.classes == UNKNOWN).astype(np.float64)
    cell_km2 = result.cell_area_km2
    f_cells = weighted_sum(flood, grid, local)
    u_cells = weighted_sum(unknown, grid, local)
    rows = []
    for z, g, f, u in zip(zones, local, f_cells, u_cells):
        area_km2 = g.area / 1e6
        rows.append(
            {
                "id": z.id,
                "area_km2": area_km2,
                "flooded_km2": f * cell_km2,
                "unobserved_km2": u * cell_km2,
                "flooded_fraction": (f * cell_km2 / area_km2) if area_km2 else float("nan"),
            }
        )
    return rows


def run_flood(
    settings: Settings,
    store: CatalogStore,
    *,
    collection: str,
    zones: list[Zone],
    before: tuple[datetime, datetime],
    after: tuple[datetime, datetime],
    index: str = "mndwi",
    objects: ObjectStore,
    output_collection: str = DERIVED_FLOOD,
    publish_product: bool = True,
    executor: Any = None,
    mask: str = "auto",
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    mode = mask_mode(mask)
    aoi = union(zones)
    before_items = find_items(store, collection, aoi, *before)
    after_items = find_items(store, collection, aoi, *after)
    if not before_items and not after_items:
        raise NoData(f"no scene of {collection!r} intersects the AOI in either period")
    result = flood_map(
        before_items, after_items, objects, aoi, index=index, executor=executor,
        mask=mode,
    )
    rows = areas_by_zone(result, zones)
    out: dict[str, Any] = {
        "collection": collection,
        "mask": mode,
        "before": [s.__dict__ for s in result.before],
        "after": [s.__dict__ for s in result.after],
        "flooded_km2_total": result.flooded_km2(),
        "zones": rows,
        "item": None,
    }
    if publish_product:
        polys = flood_polygons(result.classes, result.grid)
        fc = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"class": "flood water",
                                                    "area_km2": p.area / 1e6},
                 "geometry": mapping(to_crs(p, result.grid.crs, "EPSG:4326"))}
                for p in polys
            ],
        }  # fmt: skip
        settings.layout.create()
        tmp = staging.new_dir(settings.layout.staging)
        try:
            gj = tmp / "flood_extent.json"
            gj.write_text(json.dumps(fc))
            params = {"index": index, "before": [d.isoformat() for d in before],
                      "after": [d.isoformat() for d in after], **result.parameters}  # fmt: skip
            pub = publish(
                settings,
                store,
                objects=objects,
                collection=output_collection,
                algorithm="flood",
                cancel=cancel,
                parameters=params,
                inputs=before_items + after_items,
                grid=result.grid,
                layers=[
                    Layer(
                        "flood",
                        result.classes,
                        "0 dry, 1 flood water, 2 permanent water, 255 not observed",
                        nodata=255,
                        roles=("data", "classification"),
                    ),
                ],
                when=parse_datetime(after_items[0]["properties"]["datetime"]),
                extra_files={"flood_extent": (gj, "application/geo+json")},
                lineage=(
                    "Water = MNDWI/NDWI above a per-scene Otsu threshold; flood = water after "
                    "the event minus water in most pre-event scenes."
                ),
            )
        finally:
            staging.remove(tmp)
        out["item"] = {"collection": pub.collection, "id": pub.item_id, "status": pub.status}
    return out
