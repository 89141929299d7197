"""The ObjectStore contract: what ingest, verify/repair, downloads, tiles and analytics need from
an asset backend.

Objects are named by *keys*: the relative hrefs ingest writes into items
(``<collection>/<item>/<version>/<file>``), checked by the one path-safety rule in
:mod:`sathub.storage.keys`. Only ``sathub.storage`` opens the files (or objects) behind keys;
everything else goes through a store that :class:`sathub.app.Installation` built.
``tests/contracts/object_store.py`` is the suite every implementation passes (today the local
disk; an S3-compatible store next).

Errors: :class:`~sathub.errors.NotFound` for a missing object and for every key the rule
refuses (same answer); :class:`OSError` when the medium fails (nothing is half-written).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of one stored object."""

    key: str  # its key, normalised (``a//b`` → ``a/b``)
    size: int  # bytes
    mtime_ns: int
    etag: str  # strong validator, quoted; changes whenever the content may have changed
    media_type: str


class ObjectStore(Protocol):
    """Assets by key. Implementations are picklable (Dask workers receive them)."""

    def put(self, key: str, source: Path | BinaryIO, *, media_type: str | None = None) -> ObjectInfo:
        """Store ``source`` (a staged file, which the store may move and the caller must not
        use afterwards, or a binary stream read to its end) under ``key``, atomically: readers
        see no object or the previous one until the new one is complete, never a part of it.
        An existing object is replaced."""

    def stat(self, key: str, media_type: str | None = None) -> ObjectInfo:
        """The object's metadata (``media_type``: the declared one, else guessed from the
        key's suffix). NotFound if missing or refused."""

    def open_range(
        self, key: str, start: int, end: int, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        """Bytes ``start`` … ``end`` (inclusive) of the object, streamed in chunks."""

    def list(self, prefix: str = "") -> Iterator[str]:
        """The keys of every object whose key starts with ``prefix``, sorted; objects a failed
        or interrupted ``put`` left behind included (``verify`` finds them as orphans)."""

    def delete(self, key: str) -> None:
        """Remove the object if it exists (no error if it does not)."""

    def gdal_path(self, key: str) -> str:
        """A path or URL GDAL (rasterio, rio-tiler) opens for the object: a file path, a
        ``/vsis3/`` URL… NotFound if missing or refused."""

    def location(self, key: str) -> str:
        """Where the object lives, for messages and reports (never opened from this)."""


def gdal_href(objects: ObjectStore, href: str) -> str:
    """What GDAL opens for an asset href: the store's path for a key; ``/vsicurl/`` for an
    http(s) URL; another URL or an absolute path (items loaded from elsewhere) as it is.
    NotFound for a relative href that is not a safe key (``../x``)."""
    from sathub.errors import NotFound
    from sathub.storage.keys import is_key

    if is_key(href):
        return objects.gdal_path(href)
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    if "://" in href or href.startswith("/"):
        return href
    raise NotFound(f"asset href {href[:200]!r} is not a key of the archive, a URL or an absolute path")
