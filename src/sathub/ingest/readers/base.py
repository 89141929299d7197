"""The one contract every input format implements: a path in, a :class:`Scene` out.

A reader only *describes* a scene (which files, which bands, when, what platform); it never
writes anything. Pixel work (COG conversion, statistics, footprint) happens later, the same
way for every format. A new format is one new module with one class implementing
:class:`SceneReader`, registered in ``readers/__init__.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass
class BandInfo:
    """One band. Wavelengths in micrometres; ``scale``/``offset`` map DN to physical values."""

    name: str
    common_name: str | None = None
    center_wavelength: float | None = None  # µm
    full_width_half_max: float | None = None  # µm
    description: str | None = None
    scale: float | None = None
    offset: float | None = None
    unit: str | None = None
    nodata: float | None = None  # written as the COG's nodata value (pixels untouched)
    extra: dict[str, Any] = field(default_factory=dict)  # more raster:bands fields


@dataclass
class SceneFile:
    """One source raster that becomes one COG asset (all its bands, in file order)."""

    path: Path
    asset_key: str
    bands: list[BandInfo]
    title: str | None = None
    roles: list[str] = field(default_factory=lambda: ["data"])


@dataclass
class Scene:
    """Everything a reader knows about one scene, before any pixel is touched.

    ``properties`` holds STAC item properties the reader knows (``platform``,
    ``instruments``, ``eo:cloud_cover``, ``view:*``, ``sat:*``, ``processing:*``, format
    specific fields such as ``s2:processing_baseline``). ``metadata_files`` are kept as
    extra assets (the original MTL / MTD / sidecar), copied verbatim.
    """

    id: str
    files: list[SceneFile]
    datetime: dt.datetime | None
    start_datetime: dt.datetime | None = None
    end_datetime: dt.datetime | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    metadata_files: dict[str, Path] = field(default_factory=dict)
    reader: str = ""

    @property
    def source_paths(self) -> list[Path]:
        return [f.path for f in self.files] + list(self.metadata_files.values())


@runtime_checkable
class SceneReader(Protocol):
    """Recognise and describe one input format."""

    name: str

    def identify(self, path: Path) -> Path | None:
        """The scene root for ``path`` (e.g. the MTL of a Landsat band file) or None."""
        ...

    def read(self, root: Path, sidecar: Path | None = None) -> Scene:
        """Describe the scene at ``root``; raises :class:`sathub.errors.IngestError`."""
        ...


_ID_OK = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(text: str) -> str:
    """A STAC id safe in URLs and file names."""
    out = _ID_OK.sub("-", text).strip("-.")
    if not out:
        raise ValueError(f"cannot make an id from {text!r}")
    return out
