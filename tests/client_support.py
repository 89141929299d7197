"""Helpers shared by the real-client tests (no tests here): the real imagery of
../shared/data ingested into a private data directory and served over HTTP, and the source
file every served asset must reproduce (the independent reference for pixel equality)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from test_ingest_support import copy_real_imagery

from sathub.config import Settings

CID = "real"
# An item stored the way ingest wrote items before projection v1.2.0 (projection v2.0.0,
# `proj:code` only): catalogs built then must be served as usable as new ones.
LEGACY = "LT52240631988227CUB02-proj-v2"
PROJ_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"


@dataclass
class Served:
    url: str
    src: Path
    settings: Settings
    items: dict[str, dict[str, Any]]  # as stored (hrefs relative to DATA/assets)

    def source(self, item_id: str, key: str) -> Path:
        """The file an asset was ingested from, worked out from the file names alone."""
        src = self.src
        if item_id.startswith("LT52240631988227CUB02"):
            return src / "landsat5" / f"LT52240631988227CUB02_{key}.TIF"
        if item_id == "LC80130312015295LGN00_toa":
            return src / "landsat8" / f"LC80130312015295LGN00_{key}_toa.tif"
        if item_id == "RGB.byte":
            return src / "RGB.byte.tif"
        return src / "aber" / f"{item_id}.tif"

    def data_assets(self) -> list[tuple[str, str]]:
        """(item id, asset key) of every COG data asset of every item."""
        return sorted(
            (iid, key)
            for iid, item in self.items.items()
            for key, a in item["assets"].items()
            if "data" in a["roles"]
        )


def legacy_form(item: dict[str, Any], new_id: str) -> dict[str, Any]:
    """``item`` as ingest wrote it with projection v2.0.0: no ``proj:epsg`` anywhere."""
    old = copy.deepcopy(item)
    old["id"] = new_id
    old["stac_extensions"] = [
        PROJ_V2 if "/projection/" in e else e for e in old["stac_extensions"]
    ]
    for fields in (old["properties"], *old["assets"].values()):
        fields.pop("proj:epsg", None)
    return old


@contextmanager
def served_archive(base: Path) -> Iterator[Served]:
    """Ingest every real image into ``base/data`` (collection ``real``), add the legacy item,
    and serve it on a free port."""
    from conftest import LiveServer

    from sathub.app import Installation
    from sathub.ingest.pipeline import ingest_paths

    src = copy_real_imagery(base / "in")
    settings = Settings(data=base / "data")
    inst = Installation.create(settings)
    store = inst.catalog
    report = ingest_paths([src], CID, settings, store, inst.objects)
    assert report.ok, [o.message for o in report.failed]
    lt5 = store.get_item(CID, "LT52240631988227CUB02")
    store.create_item(legacy_form(lt5, LEGACY))
    items = {it["id"]: it for it in store.iter_items(CID)}
    inst.close()
    with LiveServer(settings.data) as server:
        yield Served(url=server.url, src=src, settings=settings, items=items)


def read_source(path: Path) -> tuple[np.ndarray, Any, Any, float | None]:
    """(pixels, CRS, transform, nodata) of a source file, read with rasterio."""
    with rasterio.open(path) as ds:
        return ds.read(), ds.crs, ds.transform, ds.nodata
