"""Collection documents for ingest targets: a minimal valid one when missing, and extents
widened to cover newly ingested items."""

from __future__ import annotations

from typing import Any

from sathub.catalog.store import CatalogStore
from sathub.errors import NotFound


def new_collection(
    collection_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    license: str = "other",
    summaries: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": collection_id,
        "title": title or collection_id,
        "description": description or f"Scenes ingested into {collection_id} by sathub.",
        "license": license,
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[None, None]]},
        },
        "summaries": summaries or {},
        "links": [],
    }


def ensure_collection(store: CatalogStore, collection_id: str) -> dict[str, Any]:
    try:
        return store.get_collection(collection_id)
    except NotFound:
        with store.transaction() as tx:
            tx.put_collection(new_collection(collection_id), mode="insert")
        return store.get_collection(collection_id)


def _union_bbox(a: list[float] | None, b: list[float]) -> list[float]:
    if a is None:
        return list(b)
    if a[0] > a[2] or b[0] > b[2]:  # antimeridian: keep it simple and honest
        return [-180.0, min(a[1], b[1]), 180.0, max(a[3], b[3])]
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def widen_extent(store: CatalogStore, collection_id: str, items: list[dict[str, Any]]) -> None:
    """Grow the collection's spatial/temporal extent and summaries to include ``items``."""
    if not items:
        return
    col = store.get_collection(collection_id)
    ext = col.setdefault("extent", {})
    boxes = ext.get("spatial", {}).get("bbox") or [None]
    cur = boxes[0]
    if cur == [-180.0, -90.0, 180.0, 90.0] and ext.get("temporal", {}).get("interval") == [
        [None, None]
    ]:
        cur = None  # placeholder extent of a fresh collection
    interval = (ext.get("temporal", {}).get("interval") or [[None, None]])[0]
    lo, hi = (interval + [None, None])[:2] if cur is not None else (None, None)
    summaries = col.setdefault("summaries", {})
    for it in items:
        cur = _union_bbox(cur, it["bbox"])
        p = it["properties"]
        start = p.get("start_datetime") or p.get("datetime")
        end = p.get("end_datetime") or p.get("datetime")
        lo = start if lo is None or (start and start < lo) else lo
        hi = end if hi is None or (end and end > hi) else hi
        for key in ("platform", "constellation"):
            if p.get(key):
                vals = summaries.setdefault(key, [])
                if p[key] not in vals:
                    vals.append(p[key])
        for inst in p.get("instruments", []):
            vals = summaries.setdefault("instruments", [])
            if inst not in vals:
                vals.append(inst)
        if "eo:cloud_cover" in p:
            cc = summaries.get("eo:cloud_cover") or {
                "minimum": p["eo:cloud_cover"],
                "maximum": p["eo:cloud_cover"],
            }
            cc["minimum"] = min(cc["minimum"], p["eo:cloud_cover"])
            cc["maximum"] = max(cc["maximum"], p["eo:cloud_cover"])
            summaries["eo:cloud_cover"] = cc
    ext["spatial"] = {"bbox": [cur]}
    ext["temporal"] = {"interval": [[lo, hi]]}
    with store.transaction() as tx:
        tx.put_collection(col, mode="upsert")
