"""Landsat scenes (pre-collection, Collection 1 and 2): ``*_MTL.txt`` (ODL) or ``*_MTL.json``
beside the band files. One asset per band file (plus ``qa_pixel`` for a Collection 2
``QA_PIXEL`` file), with the MTL kept as a metadata asset.

Level-1 bands record TOA reflectance (reflective bands) or radiance with brightness-temperature
constants (thermal bands) as ``raster:bands`` scale/offset (see :mod:`.toa`); Level-2 surface
reflectance bands record the product's own ``LEVEL2_SURFACE_REFLECTANCE_PARAMETERS``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sathub.errors import IngestError
from sathub.ingest.readers.bands import LANDSAT_MSS, LANDSAT_OLI_TIRS, LANDSAT_TM, band_from_table
from sathub.ingest.readers.base import BandInfo, Scene, SceneFile, safe_id
from sathub.ingest.readers.gdal import check_raster
from sathub.ingest.readers.toa import REFLECTANCE_UNIT, band_scaling

_MTL_SUFFIXES = ("_MTL.txt", "_MTL.json")
_LINE = re.compile(r"^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$")


def parse_mtl_text(text: str) -> dict[str, str]:
    """Flatten an ODL MTL file into KEY → value (quotes removed). Each key is also kept as
    ``GROUP/KEY`` (its innermost group), since Level-2 MTLs repeat names such as
    ``REFLECTANCE_MULT_BAND_1`` in a Level-1 and a Level-2 group."""
    out: dict[str, str] = {}
    groups: list[str] = []
    for line in text.replace("\x00", "").splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2).strip('"')
        if key == "GROUP":
            groups.append(value)
        elif key == "END_GROUP":
            if groups:
                groups.pop()
        else:
            out[key] = value
            if groups:
                out[f"{groups[-1]}/{key}"] = value
    return out


def _flatten(doc: Any, out: dict[str, str], group: str = "") -> None:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, (dict, list)):
                _flatten(v, out, k)
            else:
                out[k] = str(v)
                if group:
                    out[f"{group}/{k}"] = str(v)
    elif isinstance(doc, list):
        for v in doc:
            _flatten(v, out, group)


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
        date = mtl.get("DATE_ACQUIRED")
        time = mtl.get("SCENE_CENTER_TIME", "00:00:00Z").rstrip("Z")[:15]
        try:
            dt = datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=UTC)
        except (TypeError, ValueError) as exc:
            raise IngestError(f"{root}: bad DATE_ACQUIRED/SCENE_CENTER_TIME ({exc})") from exc
        level = mtl.get("PROCESSING_LEVEL") or mtl.get("DATA_TYPE") or ""
        files: list[SceneFile] = []
        for key, fname in sorted(mtl.items(), key=lambda kv: _band_sort(kv[0])):
            m = re.fullmatch(r"FILE_NAME_BAND_(\d+(?:_VCID_\d)?)", key)
            if not m:
                continue
            path = root.parent / fname
            if not path.exists():
                continue  # subsets often ship a few bands only
            num = m.group(1)
            name = f"B{num}"  # B3, or B6_VCID_1 (ETM+ thermal, low and high gain)
            count, _ = check_raster(path)
            if count != 1:
                raise IngestError(f"{path}: a Landsat band file must have one band, has {count}")
            band = band_from_table(table, name.split("_")[0])
            band.name = name
            thermal = (band.common_name or "").startswith("lwir")
            if level.startswith("L2"):
                sc = _level2_scaling(mtl, num)
            else:
                sc = band_scaling(mtl, num, name, spacecraft, dt, thermal)
            band.scale, band.offset, band.unit = sc.get("scale"), sc.get("offset"), sc.get("unit")
            if "brightness_temperature" in sc:
                band.extra["sathub:brightness_temperature"] = sc["brightness_temperature"]
            roles = ["data", "reflectance"] if band.unit == REFLECTANCE_UNIT else ["data"]
            if thermal:
                roles = ["data", "temperature"]
            files.append(
                SceneFile(path=path, asset_key=name, bands=[band], title=path.name, roles=roles)
            )
        qa = mtl.get("FILE_NAME_QUALITY_L1_PIXEL")
        if qa and (root.parent / qa).exists():  # Collection 2: the cloud/shadow bit mask
            qa_path = root.parent / qa
            check_raster(qa_path)
            files.append(SceneFile(
                path=qa_path, asset_key="qa_pixel", title=qa_path.name,
                bands=[BandInfo(name="QA_PIXEL", description="Collection 2 pixel quality bits")],
                roles=["cloud", "cloud-shadow", "data-mask"]))  # fmt: skip
        if not files:
            raise IngestError(f"{root}: none of the band files it lists is present")
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


def _level2_scaling(mtl: dict[str, str], num: str) -> dict[str, Any]:
    """Surface reflectance / temperature factors of a Collection 2 Level-2 band (no Sun
    correction: the product is already reflectance)."""
    group = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
    m, a = _float(mtl, f"{group}/REFLECTANCE_MULT_BAND_{num}"), _float(
        mtl, f"{group}/REFLECTANCE_ADD_BAND_{num}"
    )
    if m is not None and a is not None:
        return {"scale": m, "offset": a, "unit": REFLECTANCE_UNIT}
    m, a = _float(mtl, f"TEMPERATURE_MULT_BAND_ST_B{num}"), _float(
        mtl, f"TEMPERATURE_ADD_BAND_ST_B{num}"
    )
    if m is not None and a is not None:
        return {"scale": m, "offset": a, "unit": "K"}
    return {}


def _band_sort(key: str) -> tuple[int, str]:
    m = re.search(r"(\d+)", key)
    return (int(m.group(1)) if m else 0, key)
