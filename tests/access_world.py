"""The world the route × role × state table (docs/access-matrix.toml) is checked against, built
in code: an open and a restricted collection whose items carry real small COGs (so every route
that reads pixels really reads them), partners in every situation the table names, keys of
every role, and the values each request template needs.

Actors: ``anonymous``; ``partner_in`` (an agreement covering the restricted item, every asset
role); ``partner_thumb`` (an agreement covering it for ``thumbnail`` assets only);
``partner_out`` (an agreement on the collection whose AOI misses the item); ``partner_quota``
(covering it, with its monthly quota used up); ``analyst``, ``operator``, ``admin``.

States: ``open`` (an item of an open collection), ``res_in`` (the restricted item),
``missing`` (an item that does not exist in the restricted collection).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sathub.access import keys
from sathub.app import Installation
from sathub.config import Settings

ACTORS = ("anonymous", "partner_in", "partner_thumb", "partner_out", "partner_quota",
          "analyst", "operator", "admin")  # fmt: skip
STAFF = ("analyst", "operator", "admin")
STATES = ("open", "res_in", "missing")
DAY = 86400.0


def box(w: float, s: float, e: float, n: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _collection(cid: str) -> dict[str, Any]:
    return {"type": "Collection", "id": cid, "stac_version": "1.0.0", "description": cid,
            "license": "CC-BY-4.0", "links": [],
            "extent": {"spatial": {"bbox": [[95.0, 20.0, 97.0, 22.0]]},
                       "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}}}  # fmt: skip


def _write_cog(path: Path, w: float, s: float, e: float, n: float, seed: int) -> None:
    import rasterio
    from rasterio.transform import from_bounds

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 250, size=(3, 64, 64), dtype=np.uint8)
    with rasterio.open(path, "w", driver="COG", width=64, height=64, count=3, dtype="uint8",
                       crs="EPSG:4326", transform=from_bounds(w, s, e, n, 64, 64),
                       nodata=0) as dst:  # fmt: skip
        dst.write(data)


def _item(iid: str, coll: str, bounds: tuple[float, float, float, float], ts: float) -> dict[str, Any]:
    from datetime import UTC, datetime

    w, s, e, n = bounds
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": iid, "collection": coll,
        "geometry": box(w, s, e, n), "bbox": [w, s, e, n],
        "properties": {"datetime": datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")},
        "assets": {
            "data": {"href": f"{coll}/{iid}/data.tif", "type": cog, "roles": ["data"]},
            "thumbnail": {"href": f"{coll}/{iid}/thumb.png", "type": "image/png", "roles": ["thumbnail"]},
        },
        "links": [],
    }  # fmt: skip


@dataclass
class PixelWorld:
    data: Path
    inst: Installation
    keys: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # state → placeholder values
    org_ids: dict[str, int] = field(default_factory=dict)

    def headers(self, actor: str) -> dict[str, str]:
        return {} if actor == "anonymous" else {"Authorization": f"Bearer {self.keys[actor]}"}


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def build(data: Path, backend: str = "sqlite") -> PixelWorld:
    now = time.time()
    if backend == "pgstac":
        from pg_support import pg_settings

        inst = Installation.create(pg_settings(data))
    else:
        inst = Installation.create(Settings(data=data))
    store = inst.catalog
    store.create_collection(_collection("open"))
    store.create_collection(_collection("res"))
    b_open, b_in = (95.1, 20.1, 95.3, 20.3), (96.1, 21.1, 96.3, 21.3)
    items = {"o1": _item("o1", "open", b_open, now - 400 * DAY),
             "in": _item("in", "res", b_in, now - 100 * DAY)}  # fmt: skip
    for seed, it in enumerate(items.values()):
        base = inst.settings.layout.assets / it["collection"] / it["id"]
        _write_cog(base / "data.tif", *it["bbox"], seed=seed)
        (base / "thumb.png").write_bytes(_png())
    store.bulk_upsert(items.values())
    s = inst.access.store
    s.set_collection_level("res", "restricted")
    w = PixelWorld(data, inst)
    for org in ("in", "thumb", "out", "quota"):
        w.org_ids[org] = s.add_org(f"org-{org}", "university").id
    s.add_agreement(w.org_ids["in"], title="in", collections=("res",), aoi=box(96, 21, 97, 22))
    s.add_agreement(w.org_ids["thumb"], title="thumb", collections=("res",),
                    asset_roles=("thumbnail",))  # fmt: skip
    s.add_agreement(w.org_ids["out"], title="out", collections=("res",), aoi=box(90, 10, 91, 11))
    q = s.add_agreement(w.org_ids["quota"], title="quota", collections=("res",), quota_bytes=1)
    inst.access.audit.append("setup", "download", "res/in/data", nbytes=1, quota=q, ts=now)  # used up
    for role in STAFF:
        w.keys[role] = keys.issue(s, role, None)[0]
    for org in ("in", "thumb", "out", "quota"):
        w.keys[f"partner_{org}"] = keys.issue(s, "partner", w.org_ids[org])[0]
    for state, (c, i, bounds) in {"open": ("open", "o1", b_open), "res_in": ("res", "in", b_in),
                                  "missing": ("res", "nope", b_in)}.items():  # fmt: skip
        lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        x, y = _tile(lon, lat, 12)
        w.values[state] = {
            "c": c, "i": i, "z": "12", "x": str(x), "y": str(y), "lon": f"{lon:.4f}",
            "lat": f"{lat:.4f}", "bbox": ",".join(f"{v:.3f}" for v in bounds),
            "geom": '{"type":"Polygon","coordinates":[[[%s,%s],[%s,%s],[%s,%s],[%s,%s]]]}' % (
                bounds[0], bounds[1], bounds[2], bounds[1], bounds[2], bounds[3], bounds[0], bounds[1]),
        }  # fmt: skip
    return w


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()
