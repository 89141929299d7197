"""Change detection between two periods: difference of median index composites.

``before`` and ``after`` are each reduced to a cloud-free median composite of the index
(:mod:`sathub.analytics.composite`) on the same grid (the after period's first scene,
cropped to the AOI). difference = after − before; classes with threshold ``t`` (default
0.2 index units, a common NDVI change threshold): 1 decrease (difference < −t), 2 increase
(difference > t), 0 no significant change, 255 not observed in one of the periods.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from sathub.analytics.composite import median_composite
from sathub.analytics.errors import NoData
from sathub.analytics.executor import Executor
from sathub.analytics.indices import index_spec
from sathub.analytics.products import Layer, publish
from sathub.analytics.scene import mask_mode, to_crs
from sathub.analytics.select import Zone, find_items, union
from sathub.analytics.zonal import weighted_sum

NO_CHANGE, DECREASE, INCREASE, UNKNOWN = 0, 1, 2, 255
DEFAULT_THRESHOLD = 0.2
DERIVED_CHANGE = "derived-change"


def classify(difference: np.ndarray, threshold: float) -> np.ndarray:
    out = np.full(difference.shape, UNKNOWN, np.uint8)
    ok = ~np.isnan(difference)
    out[ok] = NO_CHANGE
    out[ok & (difference < -threshold)] = DECREASE
    out[ok & (difference > threshold)] = INCREASE
    return out


def run_change(
    settings: Any,
    store: Any,
    executor: Executor,
    *,
    collection: str,
    zones: list[Zone],
    before: tuple[datetime, datetime],
    after: tuple[datetime, datetime],
    index: str = "ndvi",
    threshold: float = DEFAULT_THRESHOLD,
    output_collection: str = DERIVED_CHANGE,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    mask: str = "auto",
) -> dict[str, Any]:
    spec = index_spec(index)
    mode = mask_mode(mask)
    aoi: BaseGeometry = union(zones)
    b_items = find_items(store, collection, aoi, *before)
    a_items = find_items(store, collection, aoi, *after)
    if not b_items or not a_items:
        raise NoData(
            f"no scene of {collection!r} intersects the AOI in the "
            f"{'before' if not b_items else 'after'} period"
        )
    root = settings.layout.assets
    a = median_composite(
        a_items, root, aoi, (spec.name,), executor, progress=progress, cancel=cancel, mask=mode
    )
    b = median_composite(b_items, root, aoi, (spec.name,), executor, grid=a.grid, cancel=cancel,
                         mask=mode)  # fmt: skip
    diff = a.layers[spec.name] - b.layers[spec.name]
    classes = classify(diff, threshold)
    grid = a.grid
    local = [to_crs(z.geometry, "EPSG:4326", grid.crs) for z in zones]
    cell_km2 = abs(grid.transform.a * grid.transform.e) / 1e6
    dec = weighted_sum((classes == DECREASE).astype(float), grid, local)
    inc = weighted_sum((classes == INCREASE).astype(float), grid, local)
    unk = weighted_sum((classes == UNKNOWN).astype(float), grid, local)
    rows = [
        {"id": z.id, "decrease_km2": d * cell_km2, "increase_km2": i * cell_km2,
         "unobserved_km2": u * cell_km2}
        for z, d, i, u in zip(zones, dec, inc, unk)
    ]  # fmt: skip
    params = {"index": spec.name, "threshold": threshold, "mask": mode,
              "before": [d.isoformat() for d in before], "after": [d.isoformat() for d in after]}  # fmt: skip
    pub = publish(
        settings, store, collection=output_collection, algorithm="change", parameters=params,
        inputs=b.items + a.items, grid=grid,
        layers=[
            Layer("difference", diff.astype(np.float32), f"{spec.name} after − before",
                  nodata=float("nan")),
            Layer("change", classes, "0 no change, 1 decrease, 2 increase, 255 not observed",
                  nodata=255, roles=("data", "classification")),
        ],
        start=before[0], end=after[1],
        lineage=f"Difference of median {spec.name} composites, threshold ±{threshold}.",
    )  # fmt: skip
    return {
        "collection": collection,
        "index": spec.name,
        "threshold": threshold,
        "mask": mode,
        "masks": b.masks + a.masks,
        "zones": rows,
        "skipped": a.skipped + b.skipped,
        "item": {"collection": pub.collection, "id": pub.item_id, "status": pub.status},
    }
