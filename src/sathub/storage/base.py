"""The ObjectStore contract: what the download and tile routes need from an asset backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of one stored object."""

    key: str  # the href as stored in the item (relative to the store root)
    size: int  # bytes
    mtime_ns: int
    etag: str  # strong validator, quoted
    media_type: str
    local_path: str | None = None  # a filesystem path GDAL can open directly (None: remote)


class ObjectStore(Protocol):
    """Read access to archived assets, by the href an item stores."""

    def stat(self, href: str, media_type: str | None = None) -> ObjectInfo: ...  # raises NotFound

    def open_range(
        self, href: str, start: int, end: int, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]: ...  # bytes start..end inclusive, streamed

    def gdal_path(self, href: str) -> str: ...  # a path/URL rasterio can open
