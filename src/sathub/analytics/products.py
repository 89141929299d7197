"""Derived products → COG assets of a new STAC item in a derived collection, atomically.

Arrays are written as GeoTIFFs into a private staging directory, then go through ingest's own
path: :func:`sathub.ingest.prepare.prepare_scene` (rio-cogeo COGs, statistics, footprint,
thumbnail, STAC item) and :func:`sathub.ingest.commit.commit` (one catalog transaction,
atomic renames into ``assets/``). A crash leaves at worst a staging directory or orphan
files, never an item whose files are missing.

Lineage, in the item's properties:

* ``processing:lineage`` — one sentence, ``processing:software`` — ``{"sathub": version}``
* ``sathub:algorithm``, ``sathub:algorithm_version``, ``sathub:parameters``
* ``sathub:inputs`` — ``[{"collection": …, "id": …}]``; and one ``derived_from`` link per
  input item (``../../<collection>/items/<id>``, relative to the derived item).

The item id is a hash of (algorithm, version, parameters, inputs): re-running the same job
finds the item already there (``unchanged``) instead of writing a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from sathub import __version__
from sathub.analytics import ALGORITHM_VERSION
from sathub.analytics.bands import Grid
from sathub.analytics.executor import Cancelled
from sathub.catalog.store import CatalogStore
from sathub.config import Settings
from sathub.errors import NotFound
from sathub.ingest import staging
from sathub.ingest.collections import new_collection, widen_extent
from sathub.ingest.commit import commit
from sathub.ingest.prepare import prepare_scene
from sathub.ingest.readers.base import BandInfo, Scene, SceneFile
from sathub.storage.base import ObjectStore


# Products in the default derived collections keep the ids they always had.
DEFAULT_DERIVED = frozenset({"derived-flood", "derived-change", "derived-composite"})


@dataclass
class Layer:
    """One raster asset of a product."""

    key: str
    data: np.ndarray  # 2-D
    description: str
    nodata: float | int | None = None
    unit: str | None = None
    roles: tuple[str, ...] = ("data",)


@dataclass
class Published:
    collection: str
    item_id: str
    status: str  # ingested | replaced | unchanged
    item: dict[str, Any]


def product_id(algorithm: str, parameters: dict[str, Any], inputs: list[dict[str, Any]],
               collection: str = "") -> str:  # fmt: skip
    """A product's id: the same job into the same collection finds its item again; into
    another collection (e.g. the restricted one of a source restricted since) it is another
    product, with another id (item ids are unique across the catalog)."""
    blob = json.dumps(
        [
            algorithm,
            ALGORITHM_VERSION,
            parameters,
            sorted(f"{i['collection']}/{i['id']}" for i in inputs),
        ] + ([collection] if collection else []),
        sort_keys=True,
        default=str,
    )
    return f"{algorithm}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _write_tif(path: Path, layer: Layer, grid: Grid) -> None:
    data = layer.data
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype=data.dtype,
        crs=grid.crs,
        transform=grid.transform,
        nodata=layer.nodata,
        tiled=True,
        compress="deflate",
    ) as dst:
        dst.write(data, 1)


def ensure_derived_collection(store: CatalogStore, collection: str, algorithm: str) -> None:
    try:
        store.get_collection(collection)
    except NotFound:
        doc = new_collection(
            collection,
            title=f"Derived: {algorithm}",
            description=(
                f"Products of sathub analytics ({algorithm}); every item records its input "
                "items, algorithm, version and parameters (sathub:* and processing:*)."
            ),
            license="other",
        )
        doc["keywords"] = ["derived", "analytics", algorithm]
        with store.transaction() as tx:
            tx.put_collection(doc, mode="insert")


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the job was cancelled")


def publish(
    settings: Settings,
    store: CatalogStore,
    *,
    objects: ObjectStore,
    collection: str,
    algorithm: str,
    parameters: dict[str, Any],
    inputs: list[dict[str, Any]],
    grid: Grid,
    layers: list[Layer],
    when: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    extra_files: dict[str, tuple[Path, str]] | None = None,
    lineage: str = "",
    replace: bool = False,
    cancel: threading.Event | None = None,
) -> Published:
    """Write ``layers`` (+ ``extra_files``: key → (file, media type)) as a new item.

    A set ``cancel`` is honoured up to the commit: a job cancelled while it ran publishes
    nothing (after the commit the product exists and the job has succeeded)."""
    _check(cancel)
    layout = settings.layout
    layout.create()
    refs = [{"collection": i["collection"], "id": i["id"]} for i in inputs]
    item_id = product_id(algorithm, parameters, refs,
                         "" if collection in DEFAULT_DERIVED else collection)  # fmt: skip
    ensure_derived_collection(store, collection, algorithm)
    sdir = staging.new_dir(layout.staging)
    try:
        src_dir = sdir / "src"
        src_dir.mkdir()
        files = []
        for layer in layers:
            p = src_dir / f"{layer.key}.tif"
            _write_tif(p, layer, grid)
            files.append(
                SceneFile(
                    path=p,
                    asset_key=layer.key,
                    bands=[
                        BandInfo(
                            name=layer.key,
                            description=layer.description,
                            unit=layer.unit,
                            nodata=layer.nodata,
                        )
                    ],
                    title=layer.description,
                    roles=list(layer.roles),
                )
            )
        props: dict[str, Any] = {
            "processing:lineage": lineage or f"sathub analytics {algorithm}",
            "processing:software": {"sathub": __version__},
            "processing:level": "L3",
            "sathub:algorithm": algorithm,
            "sathub:algorithm_version": ALGORITHM_VERSION,
            "sathub:parameters": parameters,
            "sathub:inputs": refs,
        }
        meta = {k: p for k, (p, _t) in (extra_files or {}).items()}
        scene = Scene(
            id=item_id,
            files=files,
            datetime=when or end or datetime.now(UTC),
            start_datetime=start,
            end_datetime=end,
            properties=props,
            metadata_files=meta,
            reader="sathub.analytics",
        )
        prep = prepare_scene(scene, collection, sdir)
        for key, (_p, media_type) in (extra_files or {}).items():
            asset = prep.item["assets"][key]
            asset["type"] = media_type
            asset["roles"] = ["data"]
        prep.item["links"] = [
            {"rel": "derived_from", "href": f"../../{r['collection']}/items/{r['id']}",
             "type": "application/geo+json"}
            for r in refs
        ]  # fmt: skip
        _check(cancel)
        status = commit(store, prep, objects, replace=replace, source=algorithm)
    finally:
        staging.remove(sdir)
    item = store.get_item(collection, item_id)
    if status != "unchanged":
        widen_extent(store, collection, [item])
    return Published(collection=collection, item_id=item_id, status=status, item=item)
