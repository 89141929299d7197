"""Helpers shared by the ingest tests (no tests here): real data, offline STAC validation,
independent references (pixels, valid-pixel polygons)."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
from pyproj import Transformer
from shapely.geometry import shape

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
IMAGERY = SHARED / "imagery"
SCHEMAS = SHARED / "stac-schemas"


def need_imagery() -> None:
    if not IMAGERY.is_dir():
        pytest.skip("../shared/data/imagery is not beside the repository")


def copy_real_imagery(dst: Path) -> Path:
    """Every ingestable real image, copied; sidecars added where the file says too little."""
    need_imagery()
    shutil.copytree(IMAGERY / "landsat5_tm_RStoolbox", dst / "landsat5")
    shutil.copytree(IMAGERY / "sentinel2_sref_aberystwyth_rsgislib", dst / "aber")
    shutil.copytree(IMAGERY / "landsat8_toa_rio-cloudmask", dst / "landsat8")
    shutil.copy(IMAGERY / "landsat7_rgb_rasterio" / "RGB.byte.tif", dst / "RGB.byte.tif")
    (dst / "RGB.byte.tif.sathub.json").write_text(
        json.dumps(
            {
                "datetime": "2001-01-01T15:30:00Z",
                "platform": "landsat-7",
                "instrument": "etm+",
                "bands": [
                    {"name": "B3", "common_name": "red", "center_wavelength": 0.66},
                    {"name": "B2", "common_name": "green", "center_wavelength": 0.56},
                    {"name": "B1", "common_name": "blue", "center_wavelength": 0.485},
                ],
            }
        )
    )
    # Landsat 8 TOA: one file per band, grouped by a standalone sidecar
    (dst / "landsat8" / "LC80130312015295LGN00_toa.sathub.json").write_text(
        json.dumps(
            {
                "id": "LC80130312015295LGN00_toa",
                "datetime": "2015-10-22T15:35:00Z",
                "platform": "landsat-8",
                "instrument": "oli",
                "processing_level": "TOA",
                "bands": [
                    {
                        "name": f"B{n}",
                        "common_name": c,
                        "file": f"LC80130312015295LGN00_B{n}_toa.tif",
                    }
                    for n, c in ((2, "blue"), (3, "green"), (4, "red"), (5, "nir08"))
                ],
            }
        )
    )
    return dst


@lru_cache(maxsize=1)
def _registry() -> Any:
    from referencing import Registry, Resource

    index = json.loads((SCHEMAS / "index.json").read_text())

    def retrieve(uri: str) -> Resource:
        entry = index.get(uri) or index.get(uri.rstrip("#"))
        if entry is None:
            raise LookupError(f"schema {uri} is not in the offline bundle")
        return Resource.from_contents(json.loads((SCHEMAS / entry["file"]).read_text()))

    return Registry(retrieve=retrieve)


def validate_stac(doc: dict[str, Any], kind: str = "item") -> None:
    """Validate against the core schema and every listed extension, offline."""
    from jsonschema import Draft7Validator
    from jsonschema.validators import validator_for

    if not SCHEMAS.is_dir():
        pytest.skip("offline STAC schemas not available")
    reg = _registry()
    doc = dict(doc)
    if kind == "item" and not any(link.get("rel") == "collection" for link in doc["links"]):
        # the store keeps no generated links; the API adds these on every response
        doc["links"] = [
            *doc["links"],
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ]
    v = doc["stac_version"]
    core = {
        "item": f"https://schemas.stacspec.org/v{v}/item-spec/json-schema/item.json",
        "collection": f"https://schemas.stacspec.org/v{v}/collection-spec/json-schema/"
        "collection.json",
    }[kind]
    for uri in [core, *doc.get("stac_extensions", [])]:
        schema = reg.get_or_retrieve(uri).value.contents
        cls = validator_for(schema, default=Draft7Validator)
        errors = sorted(cls(schema, registry=reg).iter_errors(doc), key=lambda e: e.path)
        assert not errors, f"{uri}: {[e.message for e in errors[:5]]}"


def valid_polygon_wgs84(path: Path) -> shapely.Geometry:
    """Reference footprint: every valid pixel of the source polygonised at full resolution."""
    with rasterio.open(path) as src:
        mask = src.dataset_mask() > 0
        geoms = [
            shape(g)
            for g, v in rasterio.features.shapes(
                mask.astype(np.uint8), mask=mask, transform=src.transform
            )
            if v
        ]
        tr = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
    poly = shapely.segmentize(shapely.union_all(geoms), 50 * abs(src.transform.a))
    return shapely.transform(poly, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def iou(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return float(a.intersection(b).area / a.union(b).area)
