"""Local filesystem backend: hrefs are paths relative to ``DATA/assets/``.

Every href is resolved with :func:`safe_path`, which refuses anything that would leave the
root (``..``, absolute paths, symlinks pointing outside, NUL bytes, URLs).
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from sathub.errors import NotFound
from sathub.storage.base import ObjectInfo

MEDIA_TYPES = {
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".tiff": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".jp2": "image/jp2",
    ".nc": "application/x-netcdf",
    ".parquet": "application/vnd.apache.parquet",
}


def media_type_for(name: str, declared: str | None = None) -> str:
    """The asset's declared STAC media type, else one guessed from the file suffix."""
    if declared:
        return declared
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def safe_path(root: Path, href: str) -> Path:
    """The file of ``href`` inside ``root``; :class:`NotFound` if it is not a plain relative
    path to a regular file that stays inside ``root`` after resolving symlinks."""
    if not href or "\x00" in href or "://" in href or "\\" in href:
        raise NotFound("asset not found")
    rel = PurePosixPath(href)
    if rel.is_absolute() or ".." in rel.parts:
        raise NotFound("asset not found")
    root_real = Path(os.path.realpath(root))
    path = Path(os.path.realpath(root_real / Path(*rel.parts)))
    if root_real not in path.parents or not path.is_file():
        raise NotFound("asset not found")
    return path


class LocalStore:
    """Assets under one directory (``settings.layout.assets``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, href: str) -> Path:
        return safe_path(self.root, href)

    def stat(self, href: str, media_type: str | None = None) -> ObjectInfo:
        path = self.path(href)
        st = path.stat()
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"'
        return ObjectInfo(
            key=href,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            etag=etag,
            media_type=media_type_for(path.name, media_type),
            local_path=str(path),
        )

    def open_range(
        self, href: str, start: int, end: int, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        path = self.path(href)
        return _read_range(path, start, end, chunk_size)

    def gdal_path(self, href: str) -> str:
        return str(self.path(href))


def _read_range(path: Path, start: int, end: int, chunk_size: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = fh.read(min(chunk_size, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
