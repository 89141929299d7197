"""Landsat Collection 1 and 2 scenes: ``*_MTL.txt`` (ODL) or ``*_MTL.json`` beside the band
files. One asset per band file, with the MTL kept as a metadata asset."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sathub.errors import IngestError
from sathub.ingest.readers.bands import LANDSAT_MSS, LANDSAT_OLI_TIRS, LANDSAT_TM, band_from_table
from sathub.ingest.readers.base import Scene, SceneFile, safe_id
from sathub.ingest.readers.gdal import check_raster

_MTL_SUFFIXES = ("_MTL.txt", "_MTL.json")
_LINE = re.compile(r"^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$")


def parse_mtl_text(text: str) -> dict[str, str]:
    """Flatten an ODL MTL file into KEY → value (quotes removed; groups dropped)."""
    out: dict[str, str] = {}
    for line in text.replace("\x00", "").splitlines():
        m = _LINE.match(line)
        if not m or m.group(1) in ("GROUP", "END_GROUP"):
            continue
        out[m.group(1)] = m.group(2).strip('"')
    return out


def _flatten(doc: Any, out: dict[str, str]) -> None:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, (dict, list)):
                _flatten(v, out)
            else:
                out[k] = str(v)
    elif isinstance(doc, list):
        for v in doc:
            _flatten(v, out)


def read_mtl(path: Path) -> dict[str, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read MTL ({exc})") from exc
    text = raw.replace(b"\x00", b"").decode("utf-8", errors="replace")
    if path.name.endswith(".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{path}: MTL.json is not valid JSON ({exc})") from exc
        out: dict[str, str] = {}
        _flatten(doc, out)
        return out
    mtl = parse_mtl_text(text)
    if "SPACECRAFT_ID" not in mtl:
        raise IngestError(f"{path}: not a Landsat MTL file (no SPACECRAFT_ID)")
    return mtl


def _band_table(spacecraft: str, sensor: str) -> dict[str, tuple[str | None, float, float]]:
    if sensor.startswith("OLI") or spacecraft in ("LANDSAT_8", "LANDSAT_9"):
        return LANDSAT_OLI_TIRS
    if sensor == "MSS":
        return LANDSAT_MSS
    return LANDSAT_TM


def _float(mtl: dict[str, str], key: str) -> float | None:
    try:
        return float(mtl[key])
    except (KeyError, ValueError):
        return None


class LandsatReader:
    name = "landsat"

    def identify(self, path: Path) -> Path | None:
        if path.name.endswith(_MTL_SUFFIXES):
            return path
        if not path.is_file():
            return None
        for suffix in _MTL_SUFFIXES:
            for mtl in path.parent.glob(f"*{suffix}"):
                prefix = mtl.name[: -len(suffix)]
                if path.name.startswith(prefix + "_"):
                    return mtl
        return None

    def read(self, root: Path, sidecar: Path | None = None) -> Scene:
        mtl = read_mtl(root)
        spacecraft = mtl.get("SPACECRAFT_ID", "")
        sensor = mtl.get("SENSOR_ID", "")
        table = _band_table(spacecraft, sensor)
        scene_id = mtl.get("LANDSAT_PRODUCT_ID") or mtl.get("LANDSAT_SCENE_ID")
        if not scene_id:
            scene_id = root.name.split("_MTL")[0]
        files: list[SceneFile] = []
        for key, fname in sorted(mtl.items(), key=lambda kv: _band_sort(kv[0])):
            m = re.fullmatch(r"FILE_NAME_BAND_(\d+|VCID_\d)", key)
            if not m:
                continue
            path = root.parent / fname
            if not path.exists():
                continue  # subsets often ship a few bands only
            num = m.group(1)
            name = f"B{num.replace('VCID_', '6_VCID')}" if "VCID" in num else f"B{num}"
            count, _ = check_raster(path)
            if count != 1:
                raise IngestError(f"{path}: a Landsat band file must have one band, has {count}")
            band = band_from_table(table, name if "VCID" not in name else "B6")
            band.name = name
            scale = _float(mtl, f"REFLECTANCE_MULT_BAND_{num}")
            offset = _float(mtl, f"REFLECTANCE_ADD_BAND_{num}")
            if scale is None:
                scale = _float(mtl, f"TEMPERATURE_MULT_BAND_ST_B{num}") or _float(
                    mtl, f"RADIANCE_MULT_BAND_{num}"
                )
                offset = _float(mtl, f"TEMPERATURE_ADD_BAND_ST_B{num}") or _float(
                    mtl, f"RADIANCE_ADD_BAND_{num}"
                )
                band.unit = (
                    "kelvin"
                    if f"TEMPERATURE_MULT_BAND_ST_B{num}" in mtl
                    else "W/(m^2 sr um)"
                    if scale is not None
                    else None
                )
            band.scale, band.offset = scale, offset
            files.append(SceneFile(path=path, asset_key=name, bands=[band], title=path.name))
        if not files:
            raise IngestError(f"{root}: none of the band files it lists is present")
        date = mtl.get("DATE_ACQUIRED")
        time = mtl.get("SCENE_CENTER_TIME", "00:00:00Z").rstrip("Z")[:15]
        try:
            dt = datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=UTC)
        except (TypeError, ValueError) as exc:
            raise IngestError(f"{root}: bad DATE_ACQUIRED/SCENE_CENTER_TIME ({exc})") from exc
        props: dict[str, Any] = {
            "platform": spacecraft.lower().replace("_", "-"),
            "instruments": [s.lower() for s in sensor.split("_")] if sensor else [],
            "constellation": "landsat",
            "landsat:scene_id": mtl.get("LANDSAT_SCENE_ID"),
            "landsat:wrs_path": mtl.get("WRS_PATH"),
            "landsat:wrs_row": mtl.get("WRS_ROW"),
            "processing:level": mtl.get("PROCESSING_LEVEL") or mtl.get("DATA_TYPE"),
            "processing:software": {"LPGS": mtl["PROCESSING_SOFTWARE_VERSION"]}
            if "PROCESSING_SOFTWARE_VERSION" in mtl
            else None,
            "eo:cloud_cover": _float(mtl, "CLOUD_COVER"),
            "view:sun_azimuth": _float(mtl, "SUN_AZIMUTH"),
            "view:sun_elevation": _float(mtl, "SUN_ELEVATION"),
            "landsat:collection_category": mtl.get("COLLECTION_CATEGORY"),
        }
        props = {k: v for k, v in props.items() if v not in (None, "", [])}
        if props.get("eo:cloud_cover") is not None and props["eo:cloud_cover"] < 0:
            del props["eo:cloud_cover"]  # USGS writes -1 when unknown
        return Scene(
            id=safe_id(scene_id),
            files=files,
            datetime=dt,
            properties=props,
            metadata_files={"mtl": root},
            reader=self.name,
        )


def _band_sort(key: str) -> tuple[int, str]:
    m = re.search(r"(\d+)", key)
    return (int(m.group(1)) if m else 0, key)
