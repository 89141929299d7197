"""The sathub sidecar: ``<raster>.sathub.json`` beside a raster (or ``--sidecar FILE``).

It supplies what a bare GeoTIFF/JPEG2000 cannot say about itself. All keys are optional
except that a datetime must come from somewhere. See docs/ingest.md for the full list::

    {"datetime": "2024-09-14T04:05:12Z", "platform": "sentinel-2b", "instrument": "msi",
     "bands": [{"name": "B04", "common_name": "red", "center_wavelength": 0.665}, ...],
     "cloud_cover": 12.5, "processing_level": "L2A", "scale": 0.0001, "offset": 0}
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sathub import timeutil
from sathub.errors import IngestError, InvalidDatetime
from sathub.ingest.readers.base import BandInfo

SIDECAR_SUFFIX = ".sathub.json"

_BAND_KEYS = {
    "name",
    "common_name",
    "center_wavelength",
    "full_width_half_max",
    "description",
    "scale",
    "offset",
    "unit",
    "nodata",
    "file",
}


@dataclass
class Sidecar:
    path: Path
    id: str | None = None
    datetime: dt.datetime | None = None
    start_datetime: dt.datetime | None = None
    end_datetime: dt.datetime | None = None
    bands: list[BandInfo] | None = None
    band_files: list[Path] | None = None  # one file per band, resolved against the sidecar
    scale: float | None = None
    offset: float | None = None
    nodata: float | None = None
    subdatasets: list[str] | None = None  # NetCDF/HDF variables to ingest, in this order
    properties: dict[str, Any] = field(default_factory=dict)


def sidecar_for(raster: Path) -> Path | None:
    """``<raster>.sathub.json`` beside ``raster`` if it exists."""
    cand = raster.with_name(raster.name + SIDECAR_SUFFIX)
    return cand if cand.is_file() else None


def parse_datetime(value: Any, where: str) -> datetime:
    """The sidecar's ``datetime`` (:func:`sathub.timeutil.parse_datetime`: UTC when no zone is
    given, a date alone is its first instant)."""
    if not isinstance(value, str):
        raise IngestError(f"{where}: datetime must be an ISO 8601 string, got {value!r}")
    try:
        return timeutil.parse_datetime(value, field="datetime")
    except InvalidDatetime as exc:
        raise IngestError(f"{where}: cannot parse datetime {value!r}") from exc


def _num(doc: dict[str, Any], key: str, where: str) -> float | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise IngestError(f"{where}: {key!r} must be a number, got {v!r}")
    return float(v)


def load_sidecar(path: Path) -> Sidecar:
    """Parse and check a sidecar; raises IngestError naming the file and the problem."""
    where = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"{where}: unreadable sidecar ({exc})") from exc
    if not isinstance(doc, dict):
        raise IngestError(f"{where}: a sidecar must be a JSON object")
    sc = Sidecar(path=path)
    sc.id = doc.get("id")
    for key in ("datetime", "start_datetime", "end_datetime"):
        if doc.get(key) is not None:
            setattr(sc, key, parse_datetime(doc[key], f"{where}: {key}"))
    sc.scale = _num(doc, "scale", where)
    sc.offset = _num(doc, "offset", where)
    sc.nodata = _num(doc, "nodata", where)
    subs = doc.get("subdatasets")
    if subs is not None:
        if not isinstance(subs, list) or not subs or not all(isinstance(x, str) for x in subs):
            raise IngestError(f"{where}: 'subdatasets' must be a non-empty list of names")
        sc.subdatasets = list(subs)
    props: dict[str, Any] = dict(doc.get("properties") or {})
    if doc.get("platform"):
        props["platform"] = str(doc["platform"])
    if doc.get("constellation"):
        props["constellation"] = str(doc["constellation"])
    instruments = doc.get("instruments") or ([doc["instrument"]] if doc.get("instrument") else None)
    if instruments:
        props["instruments"] = [str(i) for i in instruments]
    cc = _num(doc, "cloud_cover", where)
    if cc is not None:
        if not 0 <= cc <= 100:
            raise IngestError(f"{where}: cloud_cover must be 0..100, got {cc}")
        props["eo:cloud_cover"] = cc
    if doc.get("processing_level"):
        props["processing:level"] = str(doc["processing_level"])
    sc.properties = props
    bands = doc.get("bands")
    if bands is not None:
        if not isinstance(bands, list) or not all(isinstance(b, dict) for b in bands):
            raise IngestError(f"{where}: 'bands' must be a list of objects")
        sc.bands = []
        files: list[Path] = []
        for i, b in enumerate(bands):
            unknown = set(b) - _BAND_KEYS
            if unknown:
                raise IngestError(f"{where}: bands[{i}] has unknown keys {sorted(unknown)}")
            if "name" not in b:
                raise IngestError(f"{where}: bands[{i}] has no 'name'")
            sc.bands.append(
                BandInfo(
                    name=str(b["name"]),
                    common_name=b.get("common_name"),
                    center_wavelength=_num(b, "center_wavelength", where),
                    full_width_half_max=_num(b, "full_width_half_max", where),
                    description=b.get("description"),
                    scale=_num(b, "scale", where),
                    offset=_num(b, "offset", where),
                    unit=b.get("unit"),
                    nodata=_num(b, "nodata", where),
                )
            )
            if "file" in b:
                files.append((path.parent / str(b["file"])).resolve())
        if files:
            if len(files) != len(bands):
                raise IngestError(f"{where}: either every band names a 'file' or none does")
            sc.band_files = files
    return sc
