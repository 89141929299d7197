"""Sentinel-2 L1C / L2A SAFE products: ``*.SAFE/MTD_MSIL1C.xml`` or ``MTD_MSIL2A.xml`` and the
JPEG2000 bands under ``GRANULE/*/IMG_DATA``.

Each band becomes one asset at its native resolution (L2A: 10 m B02/B03/B04/B08, 20 m
B05/B06/B07/B8A/B11/B12 and SCL, 60 m B01/B09). The processing baseline is recorded as
``s2:processing_baseline``; from baseline 04.00 ESA adds an offset to every DN
(``BOA_ADD_OFFSET`` for L2A, ``RADIO_ADD_OFFSET`` for L1C, usually -1000), so
reflectance = (DN + offset) / quantification. Both are recorded per band as
``raster:bands`` ``scale`` = 1/quantification and ``offset`` = offset/quantification, and
the raw DN offsets as ``s2:dn_offsets``; pixels are never changed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from sathub.errors import IngestError
from sathub.ingest.readers.bands import SENTINEL2_MSI, band_from_table
from sathub.ingest.readers.base import BandInfo, Scene, SceneFile, safe_id
from sathub.ingest.readers.gdal import check_raster
from sathub.ingest.readers.sidecar import parse_datetime

BAND_ORDER = [
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
]
NATIVE_M = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B10": 60,
    "B11": 20,
    "B12": 20,
    "SCL": 20,
}
_FILE_RE = re.compile(r"_(B\d[\dA]|SCL)(?:_(\d+)m)?$")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> ET.Element | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el
    return None


def _text(root: ET.Element, name: str) -> str | None:
    el = _find(root, name)
    return el.text.strip() if el is not None and el.text else None


def _mtd(path: Path) -> Path | None:
    if path.is_dir():
        for name in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
            if (path / name).is_file():
                return path / name
        return None
    if path.name in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
        return path
    for parent in path.parents:  # a band file inside a SAFE
        if parent.name.endswith(".SAFE"):
            return _mtd(parent)
    return None


class Sentinel2Reader:
    name = "sentinel2"

    def identify(self, path: Path) -> Path | None:
        return _mtd(path)

    def read(self, root: Path, sidecar: Path | None = None) -> Scene:
        mtd = _mtd(root) or root
        try:
            doc = ET.parse(mtd).getroot()
        except (OSError, ET.ParseError) as exc:
            raise IngestError(f"{mtd}: unreadable Sentinel-2 metadata ({exc})") from exc
        safe = mtd.parent
        level = "L2A" if "L2A" in mtd.name else "L1C"
        baseline = _text(doc, "PROCESSING_BASELINE") or ""
        quant = float(
            _text(doc, "BOA_QUANTIFICATION_VALUE") or _text(doc, "QUANTIFICATION_VALUE") or 10000
        )
        offsets: dict[str, float] = {}
        for el in doc.iter():
            if _local(el.tag) in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET") and el.text:
                idx = int(el.get("band_id", "-1"))
                if 0 <= idx < len(BAND_ORDER):
                    offsets[BAND_ORDER[idx]] = float(el.text)
        nodata = None
        for el in doc.iter():
            if _local(el.tag) == "Special_Values" and _text(el, "SPECIAL_VALUE_TEXT") == "NODATA":
                nodata = float(_text(el, "SPECIAL_VALUE_INDEX") or 0)
        files = self._band_files(doc, safe, mtd)
        scene_files: list[SceneFile] = []
        for band_name, path in files:
            count, _ = check_raster(path)
            if count != 1:
                raise IngestError(f"{path}: a Sentinel-2 band file must have one band")
            if band_name == "SCL":
                band = BandInfo(name="SCL", description="scene classification")
                scene_files.append(
                    SceneFile(
                        path=path,
                        asset_key="SCL",
                        bands=[band],
                        title=path.name,
                        roles=["data", "classification"],
                    )
                )
                continue
            band = band_from_table(SENTINEL2_MSI, band_name)
            band.nodata = nodata
            band.scale = 1.0 / quant
            band.offset = offsets.get(band_name, 0.0) / quant
            scene_files.append(
                SceneFile(
                    path=path,
                    asset_key=band_name,
                    bands=[band],
                    title=path.name,
                    roles=["data", "reflectance"],
                )
            )
        if not scene_files:
            raise IngestError(f"{mtd}: the product lists no band file that exists")
        start = _text(doc, "PRODUCT_START_TIME") or _text(doc, "DATATAKE_SENSING_START")
        stop = _text(doc, "PRODUCT_STOP_TIME")
        if not start:
            raise IngestError(f"{mtd}: no PRODUCT_START_TIME")
        dt = parse_datetime(start, str(mtd))
        spacecraft = (_text(doc, "SPACECRAFT_NAME") or "").lower()
        uri = _text(doc, "PRODUCT_URI") or safe.name
        cloud = _text(doc, "Cloud_Coverage_Assessment")
        tile = re.search(r"_T(\d{2}[A-Z]{3})_", uri)
        props: dict[str, Any] = {
            "platform": spacecraft or None,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "processing:level": level,
            "processing:software": {"ESA Sentinel-2 ground segment": baseline}
            if baseline
            else None,
            "eo:cloud_cover": float(cloud) if cloud else None,
            "sat:orbit_state": (_text(doc, "SENSING_ORBIT_DIRECTION") or "").lower() or None,
            "sat:relative_orbit": int(_text(doc, "SENSING_ORBIT_NUMBER") or 0) or None,
            "s2:processing_baseline": baseline or None,
            "s2:product_uri": uri,
            "s2:product_type": _text(doc, "PRODUCT_TYPE"),
            "s2:mgrs_tile": tile.group(1) if tile else None,
            "s2:dn_offsets": offsets or None,
            "s2:quantification_value": quant,
        }
        return Scene(
            id=safe_id(uri.removesuffix(".SAFE")),
            files=scene_files,
            datetime=dt,
            start_datetime=dt if stop else None,
            end_datetime=parse_datetime(stop, str(mtd)) if stop else None,
            properties={k: v for k, v in props.items() if v is not None},
            metadata_files={"product_metadata": mtd},
            reader=self.name,
        )

    def _band_files(self, doc: ET.Element, safe: Path, mtd: Path) -> list[tuple[str, Path]]:
        """(band, file) at each band's native resolution, in band order."""
        found: dict[str, tuple[int, Path]] = {}
        for el in doc.iter():
            if _local(el.tag) != "IMAGE_FILE" or not el.text:
                continue
            rel = el.text.strip()
            m = _FILE_RE.search(rel)
            if not m:
                continue
            band, res = m.group(1), int(m.group(2) or NATIVE_M.get(m.group(1), 0))
            path = safe / f"{rel}.jp2"
            if not path.exists():
                continue
            native = NATIVE_M.get(band, res)
            best = found.get(band)
            # prefer the native resolution; otherwise the finest available
            if best is None or (res == native) or (best[0] != native and res < best[0]):
                found[band] = (res, path)
        order = BAND_ORDER + ["SCL"]
        return [(b, found[b][1]) for b in order if b in found]
